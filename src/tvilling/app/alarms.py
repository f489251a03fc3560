"""A minimal alarm source: alarms raised from property quality, acknowledged by operators.

This is deliberately small (the dashboard needed something to list and acknowledge before a full alarm engine
exists). Active alarms live in memory; every transition (raised, acknowledged, cleared) is appended to the event
log in its own transaction and published on the bus after the commit, so the audit trail is durable even though
the live list is rebuilt from quality events after a restart.

Rules: a property whose quality turns ``bad`` (e.g. stale) raises one alarm per (twin, property), severity
"major"; one outside its engineering range (``uncertain``) raises a "minor" one; returning to ``good`` clears it.
An anomaly episode of the predictive layer (``insight.anomaly``) raises a "major" alarm; ``insight.cleared``
clears it. Other services raise their own with :meth:`AlarmService.raise_alarm`.
"""

from __future__ import annotations

import builtins
import itertools
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from tvilling.core.context import Context
from tvilling.core.errors import NotFoundError, PermissionDeniedError, ValidationError
from tvilling.core.events import Event
from tvilling.core.roles import Role
from tvilling.ports.clock import Clock
from tvilling.ports.store import Store

SEVERITIES = ("critical", "major", "minor", "warning")
QUALITY_KINDS = ("twin.telemetry", "twin.quality")
ENGINEERING_RANGE = "engineering_units_exceeded"  # Reason.OUTSIDE_ENGINEERING_RANGE
MAX_KEPT = 5000  # cleared alarms beyond this are forgotten (oldest first); the event log keeps them


@dataclass(frozen=True)
class Alarm:
    id: str
    tenant: str
    twin_id: str
    source: str  # the property (or detector) that raised it
    severity: str
    message: str
    raised_at: datetime
    state: str = "active"  # active | acknowledged | cleared
    origin: str = "external"  # quality | anomaly | external: rules clear only the alarms they raised
    acked_by: str | None = None
    acked_at: datetime | None = None
    cleared_at: datetime | None = None

    @property
    def open(self) -> bool:
        return self.state != "cleared"

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "twinId": self.twin_id, "source": self.source, "severity": self.severity,
                "message": self.message, "raisedAt": self.raised_at.isoformat(), "state": self.state,
                "origin": self.origin, "ackedBy": self.acked_by,
                "ackedAt": self.acked_at.isoformat() if self.acked_at else None,
                "clearedAt": self.cleared_at.isoformat() if self.cleared_at else None}


class AlarmService:
    def __init__(self, store: Store, bus: Any, clock: Clock) -> None:
        self._store = store
        self._bus = bus
        self._clock = clock
        self._lock = threading.Lock()
        self._alarms: dict[str, Alarm] = {}
        self._seq = itertools.count(1)
        self._remove: Callable[[], None] | None = None

    # -- wiring ---------------------------------------------------------------------------------------------
    def start(self) -> None:
        """Follow property quality on the bus (idempotent)."""
        if self._remove is None:
            self._remove = self._bus.listen(self._on_event)

    def stop(self) -> None:
        if self._remove is not None:
            self._remove()
            self._remove = None

    def _on_event(self, event: Event) -> None:
        if event.kind == "insight.anomaly":  # the predictive layer opened an anomaly episode
            signals = event.data.get("signals") or []
            text = ", ".join(str(s) for s in signals[:3]) if isinstance(signals, list) else ""
            self.raise_alarm(event.tenant, event.subject, "anomaly", "major",
                             f"anomaly detected{' in ' + text if text else ''}", origin="anomaly")
            return
        if event.kind == "insight.cleared":
            self.clear(event.tenant, event.subject, "anomaly", origin="anomaly")
            return
        if event.kind not in QUALITY_KINDS:
            return
        changes = event.data.get("changes") or {}
        for name, change in changes.items():
            quality = change.get("quality") if isinstance(change, dict) else None
            reason = change.get("reason") if isinstance(change, dict) else None
            if quality == "bad":
                self.raise_alarm(event.tenant, event.subject, name, "major",
                                 f"{name} is bad ({reason or 'bad quality'})", origin="quality")
            elif quality == "uncertain" and reason == ENGINEERING_RANGE:
                self.raise_alarm(event.tenant, event.subject, name, "minor",
                                 f"{name} is outside its engineering range", origin="quality")
            elif quality == "good":
                self.clear(event.tenant, event.subject, name, origin="quality")

    # -- use cases ------------------------------------------------------------------------------------------
    def list(self, tenant: str, *, include_cleared: bool = False) -> builtins.list[Alarm]:
        with self._lock:
            items = [a for a in self._alarms.values() if a.tenant == tenant and (include_cleared or a.open)]
        return sorted(items, key=lambda a: (SEVERITIES.index(a.severity), a.raised_at), reverse=False)

    def get(self, tenant: str, alarm_id: str) -> Alarm:
        with self._lock:
            alarm = self._alarms.get(alarm_id)
        if alarm is None or alarm.tenant != tenant:
            raise NotFoundError(f"alarm {alarm_id} not found", where=alarm_id)
        return alarm

    def raise_alarm(self, tenant: str, twin_id: str, source: str, severity: str, message: str, *,
                    dedupe: bool = True, actor: str = "alarms", origin: str = "external") -> Alarm:
        if severity not in SEVERITIES:
            raise ValidationError(f"unknown severity {severity!r}", where="severity",
                                  hint="use one of " + ", ".join(SEVERITIES))
        now = self._clock.now()
        with self._lock:
            if dedupe:
                for a in self._alarms.values():
                    if a.open and (a.tenant, a.twin_id, a.source) == (tenant, twin_id, source):
                        return a
            alarm = Alarm(id=f"A{next(self._seq):06d}", tenant=tenant, twin_id=twin_id, source=source,
                          severity=severity, message=message, raised_at=now, origin=origin)
            self._alarms[alarm.id] = alarm
            self._trim()
        self._record("alarm.raised", alarm, actor)
        return alarm

    def acknowledge(self, tenant: str, alarm_id: str, *, role: Role, actor: str) -> Alarm:
        """Operators and above acknowledge; a viewer is refused (the dashboard hides the button as well)."""
        if not role.allows(Role.OPERATOR):
            raise PermissionDeniedError(f"the {role.value} role cannot acknowledge alarms; it needs operator")
        with self._lock:
            alarm = self._alarms.get(alarm_id)
            if alarm is None or alarm.tenant != tenant:
                raise NotFoundError(f"alarm {alarm_id} not found", where=alarm_id)
            if alarm.state != "active":
                return alarm  # acknowledging twice (or a cleared alarm) is a no-op, not an error
            alarm = replace(alarm, state="acknowledged", acked_by=actor, acked_at=self._clock.now())
            self._alarms[alarm.id] = alarm
        self._record("alarm.acknowledged", alarm, actor)
        return alarm

    def clear(self, tenant: str, twin_id: str, source: str, *, origin: str | None = None) -> builtins.list[Alarm]:
        """Clear the open alarms of (twin, source); with ``origin``, only those that origin raised."""
        now = self._clock.now()
        cleared: builtins.list[Alarm] = []
        with self._lock:
            for a in list(self._alarms.values()):
                if a.open and (a.tenant, a.twin_id, a.source) == (tenant, twin_id, source) \
                        and (origin is None or a.origin == origin):
                    a = replace(a, state="cleared", cleared_at=now)
                    self._alarms[a.id] = a
                    cleared.append(a)
        for a in cleared:
            self._record("alarm.cleared", a, "alarms")
        return cleared

    # -- internals ------------------------------------------------------------------------------------------
    def _trim(self) -> None:
        if len(self._alarms) <= MAX_KEPT:
            return
        closed = sorted((a for a in self._alarms.values() if not a.open), key=lambda a: a.raised_at)
        for a in closed[: len(self._alarms) - MAX_KEPT]:
            del self._alarms[a.id]

    def _record(self, kind: str, alarm: Alarm, actor: str) -> None:
        ctx = Context.new(actor=actor)
        events: Sequence[Event] = [Event(kind=kind, tenant=alarm.tenant, subject=alarm.twin_id, time=self._clock.now(),
                                         context_id=ctx.id, actor=ctx.actor, data={"alarm": alarm.as_dict()})]
        with self._store.write() as tx:
            tx.events.append(events)
        self._bus.publish(events)
