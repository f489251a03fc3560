"""App-level errors not covered by the core hierarchy."""

from __future__ import annotations

from tvilling.core.errors import TvillingError


class NotImplementedYetError(TvillingError):
    """A feature is wired but its engine is not installed in this build (HTTP 501)."""


class RateLimitedError(TvillingError):
    """The caller exceeded its request rate (HTTP 429); ``extra["retry_after"]`` is the wait in seconds."""
