"""A command to a device and its lifecycle: requested -> sent -> acked | failed | expired.

Pure: the caller passes every time in. Illegal moves raise :class:`IllegalTransition` instead of being ignored,
so a bug that would, say, revive an expired command shows up at once. A device answer that arrives after the
command expired is kept in the history (``late=True``) without changing the state: the operator must see that the
device did act after all, but the command's outcome was already reported as expired and stays so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from tvilling.core.context import Context
from tvilling.core.errors import ConflictError, ValidationError

COMMAND_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
_ID = re.compile(COMMAND_ID_PATTERN)


class CommandState(StrEnum):
    REQUESTED = "requested"
    SENT = "sent"
    ACKED = "acked"
    FAILED = "failed"
    EXPIRED = "expired"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset({CommandState.ACKED, CommandState.FAILED, CommandState.EXPIRED})
ALLOWED: dict[CommandState, frozenset[CommandState]] = {
    # requested -> failed: the transport could not send it; requested -> expired: it never left before its deadline.
    CommandState.REQUESTED: frozenset({CommandState.SENT, CommandState.FAILED, CommandState.EXPIRED}),
    CommandState.SENT: frozenset({CommandState.ACKED, CommandState.FAILED, CommandState.EXPIRED}),
}


class IllegalTransition(ConflictError):
    """A state change the lifecycle does not allow (e.g. expired -> acked)."""


@dataclass(frozen=True, slots=True)
class Transition:
    state: CommandState
    at: datetime
    reason: str = ""
    detail: dict[str, Any] = field(default_factory=dict)
    late: bool = False  # an answer after expiry: recorded, state unchanged

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"state": self.state.value, "at": self.at.isoformat().replace("+00:00", "Z")}
        if self.reason:
            out["reason"] = self.reason
        if self.detail:
            out["detail"] = self.detail
        if self.late:
            out["late"] = True
        return out


def check_command_id(command_id: str) -> str:
    if not _ID.match(command_id):
        raise ValidationError("a command id is 1-128 characters of letters, digits and . _ : -, starting with a "
                              "letter or digit", where="commandId", hint="or leave it out and one is generated")
    return command_id


@dataclass(frozen=True, slots=True)
class Command:
    id: str
    tenant: str
    twin_id: str
    name: str  # the DTDL command name
    payload: Any  # the request value as the caller sent it (platform units); None when the command has no request
    requested_at: datetime
    expires_at: datetime
    context: Context
    transport: str = ""
    state: CommandState = CommandState.REQUESTED
    reason: str = ""  # why it failed / expired
    history: tuple[Transition, ...] = ()

    @classmethod
    def request(cls, *, id: str, tenant: str, twin_id: str, name: str, payload: Any, requested_at: datetime,
                expires_at: datetime, context: Context, transport: str = "") -> Command:
        check_command_id(id)
        if expires_at <= requested_at:
            raise ValidationError("a command must expire after it is requested", where="timeout",
                                  hint="give a positive timeout")
        return cls(id=id, tenant=tenant, twin_id=twin_id, name=name, payload=payload, requested_at=requested_at,
                   expires_at=expires_at, context=context, transport=transport,
                   history=(Transition(CommandState.REQUESTED, requested_at),))

    @property
    def terminal(self) -> bool:
        return self.state.terminal

    def can_move(self, to: CommandState) -> bool:
        return to in ALLOWED.get(self.state, frozenset())

    def move(self, to: CommandState, at: datetime, reason: str = "",
             detail: dict[str, Any] | None = None) -> Command:
        """The command in state ``to``; raises :class:`IllegalTransition` if the lifecycle forbids it."""
        if not self.can_move(to):
            raise IllegalTransition(f"command {self.id} cannot go from {self.state.value} to {to.value}",
                                    where=self.id)
        step = Transition(to, at, reason, dict(detail or {}))
        keep_reason = reason if to in (CommandState.FAILED, CommandState.EXPIRED) else self.reason
        return replace(self, state=to, reason=keep_reason, history=(*self.history, step))

    def record_late(self, answer: CommandState, at: datetime, reason: str = "",
                    detail: dict[str, Any] | None = None) -> Command:
        """A device answer (acked/failed) after the command expired: kept in the history, state unchanged."""
        if self.state is not CommandState.EXPIRED or answer not in (CommandState.ACKED, CommandState.FAILED):
            raise IllegalTransition(f"only an expired command records a late answer (command {self.id} is "
                                    f"{self.state.value})", where=self.id)
        step = Transition(answer, at, reason, dict(detail or {}), late=True)
        return replace(self, history=(*self.history, step))

    def is_due(self, now: datetime) -> bool:
        """Should the expiry sweep expire it now?"""
        return not self.terminal and now >= self.expires_at

    def as_dict(self) -> dict[str, Any]:
        def iso(t: datetime) -> str:
            return t.isoformat().replace("+00:00", "Z")

        out: dict[str, Any] = {
            "commandId": self.id, "twinId": self.twin_id, "command": self.name, "payload": self.payload,
            "state": self.state.value, "transport": self.transport, "requestedAt": iso(self.requested_at),
            "expiresAt": iso(self.expires_at), "updatedAt": iso(self.history[-1].at) if self.history else None,
            "context": self.context.as_dict(), "history": [t.as_dict() for t in self.history],
        }
        if self.reason:
            out["reason"] = self.reason
        return out
