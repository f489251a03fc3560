"""Work orders: maintenance raised from predictive insights by rules with guardrails, and made by people.

Input comes from the event bus only (published after commit): ``insight.rul`` and ``insight.anomaly`` from the
live monitors (:mod:`tvilling.app.monitoring`). Each insight on a twin is matched against the rules of
``maintenance.yaml`` for the twin's model (or a model it extends); a matching one goes through the guardrails of
:func:`tvilling.policy.work_orders.decide` and may create a work order — released (``open``) or proposed for
approval. The work order, its first transition and the ``workorder.created`` event commit in ONE transaction;
the event's causality parent is the insight's context, whose parent is the reading that raised it, so an audit
can walk from the work order back to the sensor value. Approve, reject, complete and cancel (operator role and
above) append the next transition and ``workorder.<approved|rejected|completed|cancelled>`` the same way.

The guardrail queries read the store (live work order of the twin and rule, last closure, releases in the last
24 h) under one lock, so a restart loses no guardrail state; a unique partial index (one live work order per
tenant, twin and rule) stops two servers sharing the database from both inserting one for the same insight.
"""

from __future__ import annotations

import builtins
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from tvilling.adapters.sql.audit_repo import SqlAuditRepo
from tvilling.adapters.sql.work_orders import SqlWorkOrderRepo
from tvilling.app.events import run_attached
from tvilling.app.monitoring import list_insights
from tvilling.app.monitoring_twin import parse_iso
from tvilling.app.shared import shared
from tvilling.app.site import site_file
from tvilling.app.worker_queue import QueuedBusConsumer, WorkerQueue
from tvilling.core.audit import AuditEntry
from tvilling.core.context import new_id
from tvilling.core.errors import ConflictError, NotFoundError, PermissionDeniedError, ValidationError
from tvilling.core.events import Event
from tvilling.core.roles import Role
from tvilling.policy.work_order_rules import WorkOrderPolicy, WorkOrderRule, load_policy
from tvilling.policy.work_orders import (
    EVENT_KINDS,
    MODES,
    PRIORITIES,
    STATES,
    Limits,
    TransitionError,
    Trigger,
    WorkOrder,
    apply,
    decide,
    due_by,
    iso,
    stricter,
)

log = logging.getLogger(__name__)

__all__ = ["STATES", "WorkOrder", "WorkOrderService", "run_work_orders", "work_order_service"]

ACTOR = "work-orders"
# The subject of policy events (workorder.mode_changed): a twin id cannot contain "/", so no twin's history has it.
POLICY_SUBJECT = "policy/work-orders"
MAX_COMMENT = 2000
TRIGGER_KINDS = {"insight.rul": "rul", "insight.anomaly": "anomaly"}
DAY = timedelta(hours=24)


@dataclass
class WorkOrderStats:
    triggers: int = 0  # insights that matched a rule
    created: int = 0
    released: int = 0
    proposed: int = 0
    suppressed: int = 0
    last_suppressed: dict[str, str] = field(default_factory=dict)  # "twin/rule" -> why (latest)


@dataclass
class _Change:
    order: WorkOrder
    kind: str  # created | approved | rejected | completed | cancelled
    actor: str
    parent_id: str | None
    comment: str | None = None


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def trigger_of(event: Event) -> Trigger | None:
    """The rule-facing view of an insight event (None for kinds no rule reacts to)."""
    kind = TRIGGER_KINDS.get(event.kind)
    data = event.data if isinstance(event.data, dict) else {}
    if kind is None:
        return None
    at_s = parse_iso(data.get("at") or data.get("detected_at"))
    at = datetime.fromtimestamp(at_s, event.time.tzinfo) if at_s is not None else None
    rul = data.get("rul_hours")
    signals = data.get("signals")
    return Trigger(kind=kind, twin_id=event.subject, at=at, p_failure=_float(data.get("p_failure")),
                   horizon_hours=_float(data.get("horizon_hours")),
                   rul_hours={k: float(v) for k, v in rul.items() if _float(v) is not None}
                   if isinstance(rul, dict) else None,
                   signals=tuple(str(s) for s in signals) if isinstance(signals, list) else (),
                   since=data.get("since") if isinstance(data.get("since"), str) else None, data=dict(data))


def _check_comment(comment: str | None) -> None:
    if comment is not None and len(comment) > MAX_COMMENT:
        raise ValidationError(f"the comment is {len(comment)} characters long", where="comment",
                              hint=f"keep it to {MAX_COMMENT}")


class WorkOrderService(QueuedBusConsumer):
    def __init__(self, services: Any, policy: WorkOrderPolicy | None = None, queue_size: int = 10_000) -> None:
        self._services = services
        self._store = services.store
        self._bus = services.bus
        self._clock = services.clock
        self.policy = policy or WorkOrderPolicy()
        self._lock = threading.RLock()
        self._remove: Callable[[], None] | None = None
        self.worker = WorkerQueue(self.process, size=queue_size, name="work-orders")
        self._stats: dict[str, WorkOrderStats] = {}  # per tenant: the policy view shows a tenant its own only

    def stats(self, tenant: str) -> WorkOrderStats:
        return self._stats.setdefault(tenant, WorkOrderStats())

    # -- wiring ---------------------------------------------------------------------------------------------
    def configure(self, policy: WorkOrderPolicy) -> None:
        with self._lock:
            self.policy = policy

    def _on_event(self, event: Event) -> None:  # publisher's thread: keep it cheap
        if event.kind in TRIGGER_KINDS and self.policy.rules and not self.worker.offer(event):
            self.process([event])  # not attached (tests, tools): decide right here

    # -- rules on insights ----------------------------------------------------------------------------------
    def process(self, events: Sequence[Event]) -> builtins.list[WorkOrder]:
        created: list[WorkOrder] = []
        for event in events:
            trigger = trigger_of(event)
            if trigger is None:
                continue
            for rule in self._rules(event):
                if rule.matches(trigger):
                    order = self._consider(event, rule, trigger)
                    if order is not None:
                        created.append(order)
        return created

    def _rules(self, event: Event) -> builtins.list[WorkOrderRule]:
        model_id = str(event.data.get("model", "")) if isinstance(event.data, dict) else ""
        if not model_id or not self.policy.rules:
            return []
        ms = self._services.models.model_set(event.tenant)
        return self.policy.for_model(model_id, lambda dtmi, base: bool(dtmi in ms and ms.is_subtype(dtmi, base)))

    def _limits(self, repo: SqlWorkOrderRepo, tenant: str) -> Limits:
        """The file's limits with the tenant's cap on the mode (read each time: another server may have set it)."""
        setting = repo.mode_setting(tenant)
        if setting is None:
            return self.policy.limits
        return replace(self.policy.limits, mode=stricter(self.policy.limits.mode, setting["mode"]))

    def _evidence(self, event: Event, trigger: Trigger) -> dict[str, Any]:
        evidence: dict[str, Any] = {"trigger": trigger.kind, "insight": {
            "kind": event.kind, "context_id": event.context_id, "time": iso(event.time), **trigger.data}}
        if trigger.kind == "rul":  # which signals, since when: the twin's anomaly episode, if one is still open
            opened = list_insights(self._services, event.tenant, twin=event.subject, kind="anomaly", limit=1)
            closed = list_insights(self._services, event.tenant, twin=event.subject, kind="cleared", limit=1)
            if opened and (not closed or closed[0]["seq"] < opened[0]["seq"]):
                data = opened[0]["data"]
                evidence["anomaly"] = {k: data.get(k) for k in ("detected_at", "since", "signals", "score")
                                       if k in data}
        return evidence

    def _consider(self, event: Event, rule: WorkOrderRule, trigger: Trigger) -> WorkOrder | None:
        with self._lock:  # the only writer of work orders in this process: the decision holds until the insert
            stats = self.stats(event.tenant)
            stats.triggers += 1
            now = self._clock.now()
            with self._store.read() as tx:
                repo = SqlWorkOrderRepo(tx.conn)
                limits = self._limits(repo, event.tenant)
                decision = decide(rule.mode, limits,
                                  live=repo.live(event.tenant, event.subject, rule.id),
                                  last_closed=repo.last_closed_at(event.tenant, event.subject, rule.id),
                                  cooldown=rule.cooldown, now=now,
                                  released_last_day=repo.released_since(event.tenant, now - DAY))
            if not decision.create:
                stats.suppressed += 1
                stats.last_suppressed[f"{event.subject}/{rule.id}"] = decision.reason
                return None
            order = WorkOrder(id=new_id(), tenant=event.tenant, twin_id=event.subject,
                              title=rule.render(rule.title, trigger)[:500], created_at=now,
                              created_by=f"policy:{rule.id}", state=decision.state, priority=rule.priority,
                              mode=decision.mode, rule_id=rule.id, reason=decision.reason,
                              description=rule.render(rule.description, trigger), due_by=due_by(trigger, now),
                              evidence=self._evidence(event, trigger), updated_at=now)
            try:
                with self._store.write() as tx:
                    published = self._write(tx, [_Change(order, "created", ACTOR, event.context_id)])
            except ConflictError:  # another server sharing the database inserted the live one first
                stats.suppressed += 1
                stats.last_suppressed[f"{event.subject}/{rule.id}"] = "another server created it at the same time"
                return None
            stats.created += 1
            if order.state == "open":
                stats.released += 1
            else:
                stats.proposed += 1
        self._bus.publish(published)  # after commit (bus contract)
        return order

    def _write(self, tx: Any, changes: Sequence[_Change], *, saved: bool = False) -> builtins.list[Event]:
        repo = SqlWorkOrderRepo(tx.conn)
        events: list[Event] = []
        for ch in changes:
            o = ch.order
            if not saved:
                repo.save(o, new=ch.kind == "created")
            context_id = new_id()
            when = o.updated_at or o.created_at
            repo.add_transition(o, ch.kind, when, ch.actor, context_id, ch.parent_id, ch.comment)
            events.append(Event(kind=f"workorder.{ch.kind}", tenant=o.tenant, subject=o.twin_id, time=when,
                                context_id=context_id, parent_id=ch.parent_id, actor=ch.actor,
                                data={"work_order": o.as_dict(), **({"comment": ch.comment} if ch.comment else {})}))
        tx.events.append(events)
        # The decision trail (G12): each change is also a record of the tenant's hash-chained audit, in this
        # transaction; parentId links an automatic order to the insight that caused it.
        for ch in changes:
            o = ch.order
            SqlAuditRepo(tx.conn).append(o.tenant, [AuditEntry(
                "workorder", f"workorder.{ch.kind}", o.id, ch.actor, o.updated_at or o.created_at,
                {"twinId": o.twin_id, "title": o.title, "state": o.state, "parentId": ch.parent_id,
                 **({"comment": ch.comment} if ch.comment else {})})])
        return events

    # -- use cases (API, CLI, dashboard) --------------------------------------------------------------------
    def list(self, tenant: str, *, states: Sequence[str] | None = None, twin: str | None = None,
             limit: int = 100) -> builtins.list[WorkOrder]:
        for s in states or ():
            if s not in STATES:
                raise ValidationError(f"unknown work-order state {s!r}", where="state",
                                      hint="one of " + ", ".join(STATES) + ", or live")
        with self._store.read() as tx:
            return SqlWorkOrderRepo(tx.conn).list(tenant, states=states, twin=twin,
                                                  limit=limit)

    def get(self, tenant: str, order_id: str) -> WorkOrder:
        with self._store.read() as tx:
            order = SqlWorkOrderRepo(tx.conn).get(tenant, order_id)
        if order is None:
            raise NotFoundError(f"work order {order_id} not found", where=order_id,
                                hint="list them with GET /api/v1/work-orders")
        return order

    def transitions(self, tenant: str, order_id: str) -> builtins.list[dict[str, Any]]:
        self.get(tenant, order_id)
        with self._store.read() as tx:
            return SqlWorkOrderRepo(tx.conn).transitions(tenant, order_id)

    @staticmethod
    def _check_role(role: Role, what: str) -> None:
        if not role.allows(Role.OPERATOR):
            raise PermissionDeniedError(f"the {role.value} role cannot {what} work orders; it needs operator")

    def create(self, tenant: str, twin_id: str, title: str, *, role: Role, actor: str, priority: str = "medium",
               description: str = "", due: datetime | None = None, parent_id: str | None = None) -> WorkOrder:
        """A work order made by a person: released at once (a person is the approval)."""
        self._check_role(role, "create")
        if priority not in PRIORITIES:
            raise ValidationError(f"unknown priority {priority!r}", where="priority",
                                  hint="one of " + ", ".join(PRIORITIES))
        if due is not None and due.tzinfo is None:
            raise ValidationError("the due time has no time zone", where="dueBy",
                                  hint="give it with a zone, e.g. 2026-12-01T08:00:00Z")
        if not title.strip():
            raise ValidationError("a work order needs a title", where="title", hint="say what is to be done")
        try:
            self._services.twins.get(tenant, twin_id)
        except NotFoundError:
            raise ValidationError(f"twin {twin_id!r} does not exist", where="twinId",
                                  hint="create the twin first, or check its id (GET /api/v1/twins)") from None
        now = self._clock.now()
        order = WorkOrder(id=new_id(), tenant=tenant, twin_id=twin_id, title=title.strip()[:500], created_at=now,
                          created_by=actor, state="open", priority=priority, mode="manual",
                          reason=f"created by {actor}", description=description, due_by=due, updated_at=now)
        with self._lock, self._store.write() as tx:
            events = self._write(tx, [_Change(order, "created", actor, parent_id)])
        self._bus.publish(events)
        return order

    def act(self, tenant: str, order_id: str, action: str, *, role: Role, actor: str, comment: str | None = None,
            parent_id: str | None = None) -> WorkOrder:
        """approve | reject | complete | cancel (operator and above)."""
        self._check_role(role, action)
        _check_comment(comment)
        with self._lock, self._store.write() as tx:
            repo = SqlWorkOrderRepo(tx.conn)
            order = repo.get(tenant, order_id)
            if order is None:
                raise NotFoundError(f"work order {order_id} not found", where=order_id,
                                    hint="list them with GET /api/v1/work-orders")
            try:
                after = apply(order, action, self._clock.now(), actor, comment)
            except TransitionError as exc:
                raise ConflictError(str(exc), where="state", hint=exc.hint) from None
            # Another server on the same database may have moved it since the read: only from the state we saw.
            if not repo.save(after, new=False, expected_state=order.state):
                raise ConflictError(f"work order {order_id} changed meanwhile", where="state",
                                    hint="read it again (GET /api/v1/work-orders/{id}) and retry")
            events = self._write(tx, [_Change(after, EVENT_KINDS[action], actor, parent_id, comment)], saved=True)
        self._bus.publish(events)
        return after

    def set_mode(self, tenant: str, mode: str, *, role: Role, actor: str, comment: str | None = None) -> dict[str, Any]:
        """The tenant's cap on the policy mode, at run time: ``off`` is the kill switch. Lowering automation needs
        the operator role (anyone on shift can stop it); raising it needs engineer."""
        if mode not in MODES:
            raise ValidationError(f"unknown mode {mode!r}", where="mode", hint="one of " + ", ".join(MODES))
        _check_comment(comment)
        self._check_role(role, "change the mode of")
        with self._lock, self._store.write() as tx:
            repo = SqlWorkOrderRepo(tx.conn)
            current = repo.mode_setting(tenant)
            previous = current["mode"] if current else "auto"
            if MODES.index(mode) > MODES.index(previous) and not role.allows(Role.ENGINEER):
                raise PermissionDeniedError(f"the {role.value} role can lower the work-order mode but not raise it "
                                            f"({previous} -> {mode}); it needs engineer")
            now = self._clock.now()
            repo.set_mode(tenant, mode, now, actor, comment)
            event = Event(kind="workorder.mode_changed", tenant=tenant, subject=POLICY_SUBJECT, time=now,
                          context_id=new_id(), actor=actor,
                          data={"mode": mode, "previous": previous, "comment": comment,
                                "effective": stricter(self.policy.limits.mode, mode)})
            tx.events.append([event])
            SqlAuditRepo(tx.conn).append(tenant, [AuditEntry("workorder", "workorder.mode_changed", POLICY_SUBJECT,
                                                             actor, now, {"mode": mode, "previous": previous,
                                                                          "comment": comment})])
        self._bus.publish([event])
        return self.policy_view(tenant)

    def policy_view(self, tenant: str) -> dict[str, Any]:
        with self._store.read() as tx:
            repo = SqlWorkOrderRepo(tx.conn)
            released = repo.released_since(tenant, self._clock.now() - DAY)
            setting = repo.mode_setting(tenant)
            limits = self._limits(repo, tenant)
        s = self.stats(tenant)
        return {"file": self.policy.file or None, "mode": limits.mode, "fileMode": self.policy.limits.mode,
                "tenantMode": setting["mode"] if setting else None,
                "modeChangedBy": setting["updated_by"] if setting else None,
                "modeChangedAt": iso(setting["updated_at"]) if setting else None,
                "modeComment": setting["comment"] if setting else None,
                "maxAutoPerDay": limits.max_auto_per_day, "autoReleasedLast24h": released,
                "rules": [r.as_dict() for r in self.policy.rules],
                "stats": {"triggers": s.triggers, "created": s.created, "released": s.released,
                          "proposed": s.proposed, "suppressed": s.suppressed,
                          "lastSuppressed": dict(s.last_suppressed)}}


def work_order_service(app_state: Any, services: Any) -> WorkOrderService:
    """The platform's one work-order service (created on first use, shared by API, dashboard and background task)."""
    return shared(app_state, "work_orders", WorkOrderService, lambda: WorkOrderService(services))


async def run_work_orders(platform: Any) -> None:
    """Background factory for ``bootstrap.BACKGROUND``: load ``maintenance.yaml``, follow the bus until cancelled."""
    settings = platform.settings
    path = site_file(settings, "maintenance_file", "maintenance.yaml")
    policy = load_policy(path) if path else WorkOrderPolicy()  # every problem at once; a broken file stops it
    service = work_order_service(platform.app.state, platform.services)
    service.configure(policy)
    if policy.rules:
        log.info("work orders: %d rule(s) from %s, mode %s", len(policy.rules), path, policy.limits.mode)
    await run_attached(service)
