"""Wire formats of industrial protocols (pure codecs, no I/O), shared by devices and the platform alike.

They stand in for third-party protocol libraries: the virtual plant may import them (a real device would use its
vendor's stack) without touching any platform module.
"""
