"""The alarm lifecycle (after ISA-18.2), as pure functions on immutable records.

States (``Alarm.state``) and what moves between them::

    (normal) --raise--> active --ack--> acknowledged --clear--> cleared (closed)
                          |                                        ^
                          +--clear--> returned --ack---------------+
                                          |
                                          +--raise--> active (same alarm: it came back before anyone acked it)

``returned`` is ISA-18.2's "returned to normal, unacknowledged": the condition is gone, but an operator has not
seen the alarm yet, so it stays in the open list until acknowledged. ``cleared`` is terminal; a new occurrence of
the condition opens a new alarm. ``active`` (condition present) and ``acked`` are exposed as flags too.
Shelving (suppressing an alarm for a while) is not implemented.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

OPEN_STATES = ("active", "acknowledged", "returned")
STATES = (*OPEN_STATES, "cleared")


@dataclass(frozen=True, slots=True)
class Alarm:
    id: str
    tenant: str
    twin_id: str
    source: str  # the property (or detector) the alarm is about
    severity: str
    message: str
    raised_at: datetime
    state: str = "active"
    origin: str = "external"  # rule | quality | anomaly | external: who raised it (and may clear it)
    rule_id: str | None = None
    value: Any = None  # the value that raised it
    acked_by: str | None = None
    acked_at: datetime | None = None
    ack_comment: str | None = None
    cleared_at: datetime | None = None  # when the condition cleared
    updated_at: datetime | None = None

    @property
    def open(self) -> bool:
        return self.state != "cleared"

    @property
    def active(self) -> bool:
        """The condition is present."""
        return self.state in ("active", "acknowledged")

    @property
    def acked(self) -> bool:
        return self.acked_at is not None

    def as_dict(self) -> dict[str, Any]:
        def iso(t: datetime | None) -> str | None:
            return t.isoformat().replace("+00:00", "Z") if t is not None else None  # as the rest of the API

        return {"id": self.id, "twinId": self.twin_id, "source": self.source, "severity": self.severity,
                "message": self.message, "raisedAt": iso(self.raised_at), "state": self.state,
                "active": self.active, "acked": self.acked, "origin": self.origin, "ruleId": self.rule_id,
                "value": self.value, "ackedBy": self.acked_by, "ackedAt": iso(self.acked_at),
                "ackComment": self.ack_comment, "clearedAt": iso(self.cleared_at),
                "updatedAt": iso(self.updated_at or self.raised_at)}


def reactivate(alarm: Alarm, now: datetime, value: Any, message: str) -> Alarm | None:
    """The condition came back while the alarm is still open and unacknowledged (``returned``): active again.
    Returns None when nothing changes (already active, or acknowledged and still active)."""
    if alarm.state != "returned":
        return None
    return replace(alarm, state="active", cleared_at=None, value=value, message=message, updated_at=now)


def clear(alarm: Alarm, now: datetime) -> Alarm | None:
    """The condition is gone. Acknowledged alarms close; unacknowledged ones wait for an ack (``returned``)."""
    if alarm.state == "active":
        return replace(alarm, state="returned", cleared_at=now, updated_at=now)
    if alarm.state == "acknowledged":
        return replace(alarm, state="cleared", cleared_at=now, updated_at=now)
    return None


def acknowledge(alarm: Alarm, now: datetime, actor: str, comment: str | None = None) -> Alarm | None:
    """An operator has seen it. A returned alarm closes; an active one becomes acknowledged. Acknowledging an
    acknowledged or closed alarm changes nothing (None), so a double click is not an error."""
    if alarm.state == "active":
        return replace(alarm, state="acknowledged", acked_by=actor, acked_at=now, ack_comment=comment,
                       updated_at=now)
    if alarm.state == "returned":
        return replace(alarm, state="cleared", acked_by=actor, acked_at=now, ack_comment=comment, updated_at=now)
    return None
