"""A command to a device and its lifecycle: [pending_approval ->] requested -> sent -> acked | failed | expired.

A guarded command (docs/commands.md, "Guards") starts ``pending_approval``: it needs ``approvals_required``
approvals from actors other than its requester, each bound to the command's digest (SHA-256 of twin, command and
payload), so an approval cannot be reused for an edited command. The last approval moves it to ``requested`` with a
fresh deadline (``timeout_s`` from then); no approval by its deadline expires it. ``rejected`` is a refusal by an
approver or by the guard re-checked at dispatch; ``canceled`` is the kill switch.

Pure: the caller passes every time in. Illegal moves raise :class:`IllegalTransition` instead of being ignored,
so a bug that would, say, revive an expired command shows up at once. A device answer that arrives after the
command expired is kept in the history (``late=True``) without changing the state: the operator must see that the
device did act after all, but the command's outcome was already reported as expired and stays so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from tvilling.core.context import Context
from tvilling.core.errors import ConflictError, PermissionDeniedError, ValidationError

COMMAND_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
_ID = re.compile(COMMAND_ID_PATTERN)


class CommandState(StrEnum):
    PENDING_APPROVAL = "pending_approval"
    REQUESTED = "requested"
    SENT = "sent"
    ACKED = "acked"
    FAILED = "failed"
    EXPIRED = "expired"
    REJECTED = "rejected"
    CANCELED = "canceled"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset({CommandState.ACKED, CommandState.FAILED, CommandState.EXPIRED, CommandState.REJECTED,
                      CommandState.CANCELED})
ALLOWED: dict[CommandState, frozenset[CommandState]] = {
    CommandState.PENDING_APPROVAL: frozenset({CommandState.REQUESTED, CommandState.REJECTED, CommandState.EXPIRED,
                                              CommandState.CANCELED}),
    # requested -> failed: the transport could not send it; requested -> expired: it never left before its deadline;
    # requested -> rejected: the guard re-checked at dispatch refused it; -> canceled: the kill switch.
    CommandState.REQUESTED: frozenset({CommandState.SENT, CommandState.FAILED, CommandState.EXPIRED,
                                       CommandState.REJECTED, CommandState.CANCELED}),
    CommandState.SENT: frozenset({CommandState.ACKED, CommandState.FAILED, CommandState.EXPIRED}),
}


# Terminal states a device did not conclude: an answer that still comes is kept in the history as late.
LATE_STATES = frozenset({CommandState.EXPIRED, CommandState.REJECTED, CommandState.CANCELED})
_REASONED = frozenset({CommandState.FAILED, CommandState.EXPIRED, CommandState.REJECTED, CommandState.CANCELED})


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


@dataclass(frozen=True, slots=True)
class Approval:
    actor: str
    at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {"actor": self.actor, "at": self.at.isoformat().replace("+00:00", "Z")}


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
    reason: str = ""  # why it failed / expired / was rejected or canceled
    history: tuple[Transition, ...] = ()
    digest: str = ""  # SHA-256 of (twin, command, payload): what an approval is bound to
    approvals_required: int = 0
    approvals: tuple[Approval, ...] = ()
    timeout_s: float | None = None  # the deadline after approval, counted from the last approval
    # A supervisory lease (reliability C-13): the device keeps the value only while the requester renews it, and
    # falls back to its local value otherwise. None: a plain command, the value stays.
    lease_s: float | None = None

    @classmethod
    def request(cls, *, id: str, tenant: str, twin_id: str, name: str, payload: Any, requested_at: datetime,
                expires_at: datetime, context: Context, transport: str = "", digest: str = "",
                approvals_required: int = 0, timeout_s: float | None = None,
                lease_s: float | None = None) -> Command:
        """A new command; with ``approvals_required`` > 0 it waits for approval until ``expires_at``."""
        check_command_id(id)
        if expires_at <= requested_at:
            raise ValidationError("a command must expire after it is requested", where="timeout",
                                  hint="give a positive timeout")
        state = CommandState.PENDING_APPROVAL if approvals_required > 0 else CommandState.REQUESTED
        return cls(id=id, tenant=tenant, twin_id=twin_id, name=name, payload=payload, requested_at=requested_at,
                   expires_at=expires_at, context=context, transport=transport, state=state,
                   history=(Transition(state, requested_at),), digest=digest,
                   approvals_required=approvals_required, timeout_s=timeout_s, lease_s=lease_s)

    def approve(self, actor: str, digest: str, at: datetime) -> Command:
        """This command with ``actor``'s approval; the last one needed moves it to ``requested``.

        Raises :class:`PermissionDeniedError` for the requester (two-person rule) or a second approval by the same
        actor, :class:`ConflictError` when ``digest`` is not this command's (the approver saw another request) or
        the command no longer waits for approval."""
        if self.state is not CommandState.PENDING_APPROVAL:
            raise ConflictError(f"command {self.id} is {self.state.value}, not waiting for approval", where=self.id)
        if actor == self.context.actor:
            raise PermissionDeniedError("the requester of a command cannot approve it (two-person rule)",
                                        where=self.id, hint="another person's token must approve it")
        if any(a.actor == actor for a in self.approvals):
            raise PermissionDeniedError(f"{actor} has already approved command {self.id}; it needs "
                                        f"{self.approvals_required} distinct approvers", where=self.id)
        if digest != self.digest:
            raise ConflictError(f"the approval is for another request than command {self.id}", where="digest",
                                hint="approve the digest shown with the command (GET /api/v1/commands/{id})")
        approved = replace(self, approvals=(*self.approvals, Approval(actor, at)))
        if len(approved.approvals) < self.approvals_required:
            return approved
        moved = approved.move(CommandState.REQUESTED, at, "approved",
                              {"approvers": [a.actor for a in approved.approvals]})
        return replace(moved, expires_at=at + timedelta(seconds=self.timeout_s or 30.0))

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
        keep_reason = reason if to in _REASONED else self.reason
        return replace(self, state=to, reason=keep_reason, history=(*self.history, step))

    def record_late(self, answer: CommandState, at: datetime, reason: str = "",
                    detail: dict[str, Any] | None = None) -> Command:
        """A device answer (acked/failed) after the command expired, was rejected or canceled: kept in the
        history, state unchanged."""
        if self.state not in LATE_STATES or answer not in (CommandState.ACKED, CommandState.FAILED):
            raise IllegalTransition(f"only an expired, rejected or canceled command records a late answer "
                                    f"(command {self.id} is {self.state.value})", where=self.id)
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
        if self.digest:
            out["digest"] = self.digest
        if self.approvals_required:
            out["approvalsRequired"] = self.approvals_required
            out["approvals"] = [a.as_dict() for a in self.approvals]
        if self.lease_s is not None:
            out["leaseS"] = self.lease_s
        return out
