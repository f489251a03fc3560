"""Placeholder: filled by its owner."""

from __future__ import annotations

from tvilling.cli.output import fail


def nab() -> None:
    """Not implemented yet."""
    fail("not implemented yet")
