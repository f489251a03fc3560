"""Domain events. Every state change carries the old and new values and the causality context."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class Event:
    """An append-only record of something that happened.

    ``kind`` is a dotted name such as ``twin.created``, ``twin.updated``, ``relationship.deleted``,
    ``property.changed`` or ``alarm.raised``; ``subject`` is the id of the object it is about.
    """

    kind: str
    tenant: str
    subject: str
    time: datetime
    context_id: str
    parent_id: str | None = None
    actor: str = "system"
    data: dict[str, Any] = field(default_factory=dict)
