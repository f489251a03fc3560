"""The virtual plant's own error root.

The plant may not import platform modules (``tvilling.core.errors`` included): it must stay a separate
program that only speaks protocols, so it carries its own small exception hierarchy.
"""

from __future__ import annotations


class VirtualPlantError(Exception):
    """Root of every error the virtual plant raises on purpose."""


class CommandError(VirtualPlantError):
    """A command the plant cannot apply (unknown device/command, value out of range)."""


class ConfigError(VirtualPlantError):
    """An invalid plant or fault configuration."""
