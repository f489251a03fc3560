"""One root exception with structured subclasses.

Every boundary (HTTP, CLI, MCP) translates these into its own form through a single table, so a new error type
needs one mapping, not a scattered set of ``try`` blocks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input: what, where (an id or a JSON path) and how to fix it."""

    message: str
    where: str = ""
    hint: str = ""
    file: str = ""

    def as_dict(self) -> dict[str, str]:
        return {k: v for k, v in {"message": self.message, "where": self.where, "hint": self.hint,
                                  "file": self.file}.items() if v}


@dataclass
class TvillingError(Exception):
    """Root of every error Tvilling raises on purpose."""

    message: str
    where: str = ""
    hint: str = ""
    problems: list[Problem] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def __str__(self) -> str:
        text = self.message
        if self.where:
            text += f" (at {self.where})"
        if self.hint:
            text += f"; {self.hint}"
        return text


class ValidationError(TvillingError):
    """Input does not conform to its model or schema."""


class NotFoundError(TvillingError):
    """The object does not exist — or belongs to another tenant, which looks the same from outside."""


class ConflictError(TvillingError):
    """The request conflicts with current state (already exists, still referenced, ...)."""


class PreconditionFailedError(TvillingError):
    """An If-Match ETag did not match the current version."""


class AuthenticationError(TvillingError):
    """No valid credentials were presented."""


class PermissionDeniedError(TvillingError):
    """The caller is authenticated but its role does not allow the operation."""


class QuerySyntaxError(TvillingError):
    """A query could not be parsed; ``where`` names the position."""


class UnavailableError(TvillingError):
    """A dependency (database, broker) is down or overloaded; the caller may retry later."""


class StorageFullError(UnavailableError):
    """The store refused a write because it ran out of space."""


class ConfigurationError(TvillingError):
    """Settings are inconsistent or unsafe (for example a durable profile with weak fsync settings)."""


class SimulationError(TvillingError):
    """A physics model (an FMU or a native model) failed while it was set up or stepped: the input was valid as
    far as the platform can tell, but the model refused it or broke (for example an FMU returning fmi2Error)."""
