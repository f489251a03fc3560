"""The alarm service: declarative rules evaluated on committed samples, persisted instances, ISA-18.2 lifecycle.

Inputs come from the event bus only (published after commit, so a rolled-back sample never raises an alarm):

- ``twin.telemetry`` / ``twin.quality``: each changed property is a sample for the rules of ``alarms.yaml`` that
  target the twin (by id, or by its model or a model it extends) — see :mod:`tvilling.alarms`. Built-in quality
  alarms stay on as before: a ``bad`` property raises a "major" alarm, one outside its engineering range a
  "minor" one, ``good`` clears them.
- ``insight.anomaly`` / ``insight.cleared`` (the predictive layer): an anomaly episode is a "major" alarm.
- ``setpoint.suspended`` / ``setpoint.enabled`` (app/setpoint_loops.py): a loop whose autonomy turned itself off
  (stale inputs, a refusal, failed commands, a restart) is a "major" alarm on its twin until autonomy is enabled
  again (a person disabling it raises none: that was deliberate).

Every transition (raised, acknowledged, cleared) updates the ``alarms`` row, appends an ``alarm_transitions`` row
and an ``alarm.*`` event in ONE transaction, and is published on the bus after the commit. The event's context
parent is the triggering reading's event (or the acknowledging caller's context). Open alarms are kept in memory
(the dashboard asks for them on every change) and reloaded from the store on start, rule conditions with them.

Threading: with :meth:`attach` (the server), bus events go through a :class:`WorkerQueue` and are evaluated in a
worker thread, so ingestion never waits for alarm writes (a full queue drops and counts); without it (tests,
tools) they are evaluated in the publisher's thread. One lock serialises evaluation and operator actions.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tvilling.adapters.sql.alarms import SqlAlarmRepo
from tvilling.alarms import lifecycle
from tvilling.alarms.engine import RuleState, Sample, evaluate
from tvilling.alarms.lifecycle import STATES, Alarm
from tvilling.alarms.rules import SEVERITIES, RuleSet, load_rules
from tvilling.app.alarm_targets import RuleTargets
from tvilling.app.events import run_attached
from tvilling.app.monitoring_twin import parse_iso
from tvilling.app.site import site_file
from tvilling.app.worker_queue import QueuedBusConsumer, WorkerQueue
from tvilling.core.context import new_id
from tvilling.core.errors import NotFoundError, PermissionDeniedError, ValidationError
from tvilling.core.events import Event
from tvilling.core.roles import Role
from tvilling.ports.clock import Clock
from tvilling.ports.store import Store

log = logging.getLogger(__name__)

__all__ = ["SEVERITIES", "STATES", "Alarm", "AlarmService", "run_alarms"]

ACTOR = "alarms"
QUALITY_KINDS = ("twin.telemetry", "twin.quality")
ENGINEERING_RANGE = "engineering_units_exceeded"  # Reason.OUTSIDE_ENGINEERING_RANGE
Key = tuple[str, str, str, str]  # (tenant, twin, source, rule id or "")

@dataclass
class _Change:
    alarm: Alarm
    new: bool
    kind: str  # raised | acknowledged | cleared
    actor: str = ACTOR
    parent_id: str | None = None
    comment: str | None = None
    context_id: str = field(default_factory=new_id)


@dataclass
class AlarmStats:
    evaluated: int = 0
    transitions: int = 0


class AlarmService(QueuedBusConsumer):
    def __init__(self, store: Store, bus: Any, clock: Clock, rules: RuleSet | None = None,
                 services: Any = None, queue_size: int = 50_000) -> None:
        self._store = store
        self._bus = bus
        self._clock = clock
        self.targets = RuleTargets(rules, services)  # which rules apply to which twin
        self._lock = threading.RLock()
        self._loaded = False
        self._open: dict[str, Alarm] = {}
        self._by_key: dict[Key, str] = {}
        self._states: dict[tuple[str, str, str], RuleState] = {}  # (tenant, twin, rule id)
        self._batch: list[_Change] = []  # transitions of the evaluation in progress (under the lock)
        self._undo: dict[tuple[str, str, str], RuleState | None] = {}  # rule states before this evaluation
        self._remove: Callable[[], None] | None = None
        self.worker = WorkerQueue(self.process, size=queue_size, name="alarms")
        self.stats = AlarmStats()

    # -- wiring ---------------------------------------------------------------------------------------------
    def configure(self, rules: RuleSet, services: Any) -> None:
        with self._lock:
            self.targets.configure(rules, services)

    def _on_event(self, event: Event) -> None:  # publisher's thread: keep it cheap
        if event.kind.startswith(("twin.", "insight.", "model.", "setpoint.")) and not self.worker.offer(event):
            self.process([event])  # not attached (tests, tools): evaluate right here

    # -- evaluation -----------------------------------------------------------------------------------------
    def process(self, events: Sequence[Event]) -> None:
        with self._lock:
            self._ensure_loaded()
            self._batch, self._undo = [], {}
            try:
                self._evaluate(events)
                self._commit_batch()
            except Exception:
                # Nothing was recorded: put the rule states back, so the condition is seen again next time
                # instead of being taken as already raised.
                for key, old in self._undo.items():
                    if old is None:
                        self._states.pop(key, None)
                    else:
                        self._states[key] = old
                self._batch = []
                raise

    def _evaluate(self, events: Sequence[Event]) -> None:
        for event in events:
            if event.kind in QUALITY_KINDS:
                self._on_samples(event)
            elif event.kind == "insight.anomaly":
                signals = event.data.get("signals") or []
                text = ", ".join(str(s) for s in signals[:3]) if isinstance(signals, list) else ""
                self._raise(event.tenant, event.subject, "anomaly", "major",
                            f"anomaly detected{' in ' + text if text else ''}", origin="anomaly",
                            parent_id=event.context_id)
            elif event.kind == "insight.cleared":
                self._clear(event.tenant, event.subject, "anomaly", "anomaly", event.context_id)
            elif event.kind == "setpoint.suspended":  # autonomy turned itself off (C-04, C-10): people must know
                loop = str(event.data.get("loop", ""))
                self._raise(event.tenant, event.subject, f"setpoint:{loop}", "major",
                            f"setpoint loop {loop}: autonomy suspended ({event.data.get('reason') or 'no reason'})",
                            origin="setpoint", parent_id=event.context_id)
            elif event.kind == "setpoint.enabled":
                self._clear(event.tenant, event.subject, f"setpoint:{event.data.get('loop', '')}", "setpoint",
                            event.context_id)
            elif event.kind.startswith(("twin.", "model.")):
                self.targets.forget(event)

    def _on_samples(self, event: Event) -> None:
        changes = event.data.get("changes") if isinstance(event.data, dict) else None
        if not isinstance(changes, dict):
            return
        rules = self.targets.rules_for(event.tenant, event.subject)
        event_s = event.time.timestamp()
        for name, ch in changes.items():
            if not isinstance(ch, dict):
                continue
            quality, reason = str(ch.get("quality") or "good"), str(ch.get("reason") or "")
            self._builtin_quality(event, name, quality, reason)
            # A stale mark carries the last sample's source time; the silence is measured up to the mark itself.
            t = event_s if event.kind == "twin.quality" else parse_iso(ch.get("source_time"))
            sample = Sample(ch.get("new"), quality, reason, t if t is not None else event_s)
            for rule in rules:
                if rule.property != name:
                    continue
                self.stats.evaluated += 1
                skey = (event.tenant, event.subject, rule.id)
                old = self._states.get(skey)
                self._undo.setdefault(skey, old)
                state, transitions = evaluate(rule, old or RuleState(), sample)
                self._states[skey] = state
                for tr in transitions:
                    if tr.kind == "raise":
                        self._raise(event.tenant, event.subject, name, rule.severity, tr.message, origin="rule",
                                    rule_id=rule.id, value=tr.value, parent_id=event.context_id)
                    else:
                        self._clear(event.tenant, event.subject, name, "rule", event.context_id, rule_id=rule.id)

    def _builtin_quality(self, event: Event, name: str, quality: str, reason: str) -> None:
        if quality == "bad":
            self._raise(event.tenant, event.subject, name, "major", f"{name} is bad ({reason or 'bad quality'})",
                               origin="quality", parent_id=event.context_id)
        elif quality == "uncertain" and reason == ENGINEERING_RANGE:
            self._raise(event.tenant, event.subject, name, "minor", f"{name} is outside its engineering range",
                               origin="quality", parent_id=event.context_id)
        elif quality == "good":
            self._clear(event.tenant, event.subject, name, "quality", event.context_id)

    # -- transitions (under the lock) -----------------------------------------------------------------------
    def _ensure_loaded(self) -> None:
        if self._loaded:
            return
        with self._store.read() as tx:
            alarms = SqlAlarmRepo(tx.conn).open_alarms()  # type: ignore[attr-defined]
        for a in alarms:
            self._remember(a)
            if a.rule_id is not None and a.active:  # the rule's condition was active when the server stopped
                self._states[(a.tenant, a.twin_id, a.rule_id)] = RuleState(active=True, level="restored")
        self._loaded = True

    def _remember(self, alarm: Alarm) -> None:
        key = (alarm.tenant, alarm.twin_id, alarm.source, alarm.rule_id or "")
        if alarm.open:
            self._open[alarm.id] = alarm
            self._by_key[key] = alarm.id
        else:
            self._open.pop(alarm.id, None)
            if self._by_key.get(key) == alarm.id:
                del self._by_key[key]

    def _pending(self, key: Key) -> Alarm | None:
        """The open alarm of ``key``, including one raised earlier in the same batch."""
        for ch in reversed(self._batch):
            a = ch.alarm
            if (a.tenant, a.twin_id, a.source, a.rule_id or "") == key:
                return a if a.open else None
        alarm_id = self._by_key.get(key)
        return self._open.get(alarm_id) if alarm_id else None

    def _raise(self, tenant: str, twin_id: str, source: str, severity: str, message: str, *, origin: str,
               rule_id: str | None = None, value: Any = None, parent_id: str | None = None) -> None:
        now = self._clock.now()
        current = self._pending((tenant, twin_id, source, rule_id or ""))
        if current is not None:
            again = lifecycle.reactivate(current, now, value, message)
            if again is not None:
                self._batch.append(_Change(again, False, "raised", parent_id=parent_id))
            return
        alarm = Alarm(id=new_id(), tenant=tenant, twin_id=twin_id, source=source, severity=severity,
                      message=message, raised_at=now, origin=origin, rule_id=rule_id, value=value, updated_at=now)
        self._batch.append(_Change(alarm, True, "raised", parent_id=parent_id))

    def _clear(self, tenant: str, twin_id: str, source: str, origin: str | None, parent_id: str | None, *,
               rule_id: str | None = None) -> None:
        current = self._pending((tenant, twin_id, source, rule_id or ""))
        if current is None or (origin is not None and current.origin != origin):
            return
        done = lifecycle.clear(current, self._clock.now())
        if done is not None:
            self._batch.append(_Change(done, False, "cleared", parent_id=parent_id))

    def _commit_batch(self) -> list[_Change]:
        changes, self._batch = self._batch, []
        if not changes:
            return changes
        # Several transitions of one alarm in a batch: the row is inserted once, then updated.
        inserted: set[str] = set()
        events: list[Event] = []
        with self._store.write() as tx:
            repo = SqlAlarmRepo(tx.conn)  # type: ignore[attr-defined]
            for ch in changes:
                a = ch.alarm
                repo.save(a, new=ch.new and a.id not in inserted)
                inserted.add(a.id)
                when = a.updated_at or self._clock.now()
                repo.add_transition(a, ch.kind, when, ch.actor, ch.context_id, ch.parent_id, ch.comment)
                events.append(Event(kind=f"alarm.{ch.kind}", tenant=a.tenant, subject=a.twin_id, time=when,
                                    context_id=ch.context_id, parent_id=ch.parent_id, actor=ch.actor,
                                    data={"alarm": a.as_dict(), **({"comment": ch.comment} if ch.comment else {})}))
            tx.events.append(events)
        for ch in changes:
            self._remember(ch.alarm)
        self.stats.transitions += len(changes)
        self._bus.publish(events)  # after commit (bus contract)
        return changes

    # -- use cases ------------------------------------------------------------------------------------------
    def list(self, tenant: str, *, include_cleared: bool = False) -> builtins.list[Alarm]:
        """Open alarms (from memory; the dashboard calls this on every change), most severe first."""
        with self._lock:
            self._ensure_loaded()
            items = [a for a in self._open.values() if a.tenant == tenant]
        if include_cleared:
            seen = {a.id for a in items}
            items += [a for a in self.query(tenant, states=("cleared",), limit=500) if a.id not in seen]
        return sorted(items, key=lambda a: (SEVERITIES.index(a.severity) if a.severity in SEVERITIES else 9,
                                            a.raised_at))

    def query(self, tenant: str, *, states: Sequence[str] | None = None, twin: str | None = None,
              severity: str | None = None, limit: int = 100) -> builtins.list[Alarm]:
        """Alarms from the store (closed ones included), newest first."""
        for s in states or ():
            if s not in STATES:
                raise ValidationError(f"unknown alarm state {s!r}", where="state", hint="one of " + ", ".join(STATES))
        if severity is not None and severity not in SEVERITIES:
            raise ValidationError(f"unknown severity {severity!r}", where="severity",
                                  hint="one of " + ", ".join(SEVERITIES))
        with self._store.read() as tx:
            return SqlAlarmRepo(tx.conn).list(tenant, states=states, twin=twin,  # type: ignore[attr-defined]
                                              severity=severity, limit=limit)

    def get(self, tenant: str, alarm_id: str) -> Alarm:
        with self._lock:
            self._ensure_loaded()
            alarm = self._open.get(alarm_id)
        if alarm is None:
            with self._store.read() as tx:
                alarm = SqlAlarmRepo(tx.conn).get(tenant, alarm_id)  # type: ignore[attr-defined]
        if alarm is None or alarm.tenant != tenant:
            raise NotFoundError(f"alarm {alarm_id} not found", where=alarm_id)
        return alarm

    def transitions(self, tenant: str, alarm_id: str) -> builtins.list[dict[str, Any]]:
        self.get(tenant, alarm_id)
        with self._store.read() as tx:
            return SqlAlarmRepo(tx.conn).transitions(tenant, alarm_id)  # type: ignore[attr-defined]

    def raise_alarm(self, tenant: str, twin_id: str, source: str, severity: str, message: str, *,
                    dedupe: bool = True, actor: str = ACTOR, origin: str = "external") -> Alarm:
        """Raise an alarm from another service (or re-activate the open one of the same twin and source)."""
        if severity not in SEVERITIES:
            raise ValidationError(f"unknown severity {severity!r}", where="severity",
                                  hint="use one of " + ", ".join(SEVERITIES))
        with self._lock:
            self._ensure_loaded()
            self._batch = []
            current = self._pending((tenant, twin_id, source, ""))
            if current is not None and current.active and dedupe:
                return current
            if current is not None and not dedupe:  # a fresh alarm even though one is open
                now = self._clock.now()
                self._batch.append(_Change(Alarm(id=new_id(), tenant=tenant, twin_id=twin_id, source=source,
                                                 severity=severity, message=message, raised_at=now, origin=origin,
                                                 updated_at=now), True, "raised"))
            else:
                self._raise(tenant, twin_id, source, severity, message, origin=origin)
            for ch in self._batch:
                ch.actor = actor
            return self._commit_batch()[0].alarm

    def acknowledge(self, tenant: str, alarm_id: str, *, role: Role, actor: str, comment: str | None = None,
                    parent_id: str | None = None) -> Alarm:
        """Operators and above acknowledge; a viewer is refused (the dashboard hides the button as well)."""
        if not role.allows(Role.OPERATOR):
            raise PermissionDeniedError(f"the {role.value} role cannot acknowledge alarms; it needs operator")
        with self._lock:
            self._ensure_loaded()
            alarm = self._open.get(alarm_id)
            if alarm is None or alarm.tenant != tenant:
                return self.get(tenant, alarm_id)  # closed: a no-op; unknown or another tenant's: 404
            done = lifecycle.acknowledge(alarm, self._clock.now(), actor, comment)
            if done is None:
                return alarm  # acknowledging twice is a no-op, not an error
            self._batch = [_Change(done, False, "acknowledged", actor=actor, parent_id=parent_id, comment=comment)]
            self._commit_batch()
            return done

    def clear(self, tenant: str, twin_id: str, source: str, *, origin: str | None = None) -> builtins.list[Alarm]:
        """The condition behind the open alarm of (twin, source) is gone; with ``origin``, only if it raised it."""
        with self._lock:
            self._ensure_loaded()
            self._batch = []
            self._clear(tenant, twin_id, source, origin, None)
            return [ch.alarm for ch in self._commit_batch()]


def alarm_service(app_state: Any, services: Any) -> AlarmService:
    """The platform's one alarm service (created on first use, shared by API, dashboard and background task)."""
    svc = getattr(app_state, "alarms", None)
    if not isinstance(svc, AlarmService):
        svc = AlarmService(services.store, services.bus, services.clock, services=services)
        app_state.alarms = svc
    return svc


async def run_alarms(platform: Any) -> None:
    """Background factory for ``bootstrap.BACKGROUND``: load ``alarms.yaml``, follow the bus until cancelled."""
    settings = platform.settings
    path = site_file(settings, "alarms_file", "alarms.yaml")
    rules = load_rules(path) if path else RuleSet()  # every problem at once; a broken file stops the service
    service = alarm_service(platform.app.state, platform.services)
    service.configure(rules, platform.services)
    if rules.rules:
        problems = await asyncio.to_thread(service.targets.check, rules.tenant)
        for p in problems:  # models may be loaded after start (a site package): warn, do not refuse
            log.warning("alarm rule problem: %s (at %s)", p.message, p.where)
        log.info("alarms: %d rule(s) from %s", len(rules.rules), path)
    await run_attached(service)
