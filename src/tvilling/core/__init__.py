"""Pure domain types: twins, relationships, readings, quality, causality context and errors.

Only the standard library is imported here; nothing in ``core`` performs I/O or reads a clock.
"""
