"""The ``tvilling`` command line (Typer + Rich)."""
