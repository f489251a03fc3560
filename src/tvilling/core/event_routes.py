"""Event routes: where a tenant's events are pushed (an outside receiver's URL), which ones, and how delivery
stands; and the delivery log entry of one event on one route."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

FILTER_KEYS = ("kinds", "twins", "models")
# pending: being retried; delivered; dead: dead-lettered after the last attempt; queued: a dead letter sent again
DELIVERY_STATES = ("pending", "delivered", "dead", "queued")


def iso(t: datetime | None) -> str | None:
    return t.isoformat().replace("+00:00", "Z") if t is not None else None  # as the rest of the API


@dataclass(frozen=True)
class EventRoute:
    tenant: str
    id: str
    name: str
    url: str
    filter: dict[str, list[str] | None]  # FILTER_KEYS -> values; None = no restriction
    enabled: bool
    secret_version: int
    cursor_seq: int  # the last event delivered or dead-lettered (events.seq)
    created_by: str
    created_at: datetime
    updated_by: str
    updated_at: datetime
    paused_reason: str | None = None
    consecutive_failures: int = 0
    last_success_at: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None

    @property
    def state(self) -> str:
        """paused (by a person or a 410 from the receiver), failing (the last attempt failed) or active."""
        if not self.enabled:
            return "paused"
        return "failing" if self.consecutive_failures else "active"

    def fingerprint(self) -> tuple[Any, ...]:
        """What a running delivery depends on: a change restarts it."""
        return (self.url, tuple((k, tuple(v) if v is not None else None) for k, v in self.filter.items()),
                self.enabled, self.secret_version)

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "url": self.url, "filter": dict(self.filter),
                "enabled": self.enabled, "state": self.state, "pausedReason": self.paused_reason,
                "secretVersion": self.secret_version, "createdBy": self.created_by,
                "createdAt": iso(self.created_at), "updatedBy": self.updated_by, "updatedAt": iso(self.updated_at),
                "status": {"cursor": self.cursor_seq, "lastSuccessAt": iso(self.last_success_at),
                           "lastError": self.last_error, "lastErrorAt": iso(self.last_error_at),
                           "consecutiveFailures": self.consecutive_failures}}


@dataclass(frozen=True)
class Delivery:
    id: int
    tenant: str
    route_id: str
    event_seq: int
    event_id: str
    kind: str
    subject: str
    status: str
    attempts: int
    status_code: int | None = None
    error: str | None = None
    first_attempt_at: datetime | None = None
    last_attempt_at: datetime | None = None
    next_attempt_at: datetime | None = None
    delivered_at: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "routeId": self.route_id, "eventSeq": self.event_seq, "eventId": self.event_id,
                "kind": self.kind, "subject": self.subject, "status": self.status, "attempts": self.attempts,
                "statusCode": self.status_code, "error": self.error, "firstAttemptAt": iso(self.first_attempt_at),
                "lastAttemptAt": iso(self.last_attempt_at), "nextAttemptAt": iso(self.next_attempt_at),
                "deliveredAt": iso(self.delivered_at)}
