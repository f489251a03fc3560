"""The alarm service: rules on committed samples, built-in quality/anomaly alarms, persistence and restart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tvilling.adapters.sql.engine import make_engine
from tvilling.adapters.sql.migrate import check_version
from tvilling.adapters.sql.store import SqlStore
from tvilling.alarms.rules import parse_rules
from tvilling.app.alarms import AlarmService
from tvilling.app.events import EventBus
from tvilling.app.services import Services
from tvilling.app.site import SitePackage, load_site
from tvilling.core.context import Context
from tvilling.core.errors import NotFoundError, PermissionDeniedError
from tvilling.core.events import Event
from tvilling.core.roles import Role
from tvilling.ports.clock import SystemClock

SITE = Path(__file__).resolve().parents[3] / "examples" / "bottling-plant"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
RULES = parse_rules({"rules": [
    {"id": "bearing-hot", "model": "dtmi:tvilling:bottling:Bearing;1", "property": "temperature",
     "type": "threshold", "severity": "critical", "high": 85.0, "deadband": 3.0, "on_delay_s": 10},
    {"id": "buffer-low", "twin": "filler-1", "property": "bufferLevel", "type": "threshold", "low": 10.0},
]})


@pytest.fixture
def store(tmp_path: Path) -> SqlStore:
    engine = make_engine(f"sqlite:///{tmp_path / 'a.db'}", profile="durable")
    check_version(engine, auto_migrate=True)
    return SqlStore(engine)


@pytest.fixture
def simple(store: SqlStore) -> tuple[AlarmService, EventBus, list[Event]]:
    bus = EventBus()
    seen: list[Event] = []
    bus.listen(seen.append)
    svc = AlarmService(store, bus, SystemClock())
    svc.start()
    return svc, bus, seen


def quality_event(prop: str, quality: str, reason: str = "", tenant: str = "t") -> Event:
    return Event(kind="twin.quality", tenant=tenant, subject="pump-1", time=datetime.now(UTC), context_id="c",
                 data={"changes": {prop: {"quality": quality, "reason": reason}}})


def telemetry(twin: str, at: datetime, ctx: str = "r1", **values: Any) -> Event:
    return Event(kind="twin.telemetry", tenant="default", subject=twin, time=at, context_id=ctx,
                 data={"changes": {k: {"new": v, "quality": "good", "reason": "", "source_time": at.isoformat()}
                                   for k, v in values.items()}})


def test_bad_quality_raises_once_and_good_returns_it(simple: tuple[AlarmService, EventBus, list[Event]]) -> None:
    svc, bus, seen = simple
    bus.publish([quality_event("flow", "bad", "stale")])
    bus.publish([quality_event("flow", "bad", "stale")])
    [alarm] = svc.list("t")
    assert (alarm.twin_id, alarm.source, alarm.severity, alarm.state) == ("pump-1", "flow", "major", "active")
    assert "stale" in alarm.message and svc.list("other") == []
    bus.publish([quality_event("flow", "good")])
    [returned] = svc.list("t")  # cleared before anyone acknowledged it: still listed, awaiting an ack
    assert returned.state == "returned" and not returned.active
    svc.acknowledge("t", alarm.id, role=Role.OPERATOR, actor="token:o")
    assert svc.list("t") == [] and [a.state for a in svc.list("t", include_cleared=True)] == ["cleared"]
    kinds = [e.kind for e in seen if e.kind.startswith("alarm.")]
    assert kinds == ["alarm.raised", "alarm.cleared", "alarm.acknowledged"]


def test_engineering_range_raises_a_minor_alarm(simple: tuple[AlarmService, EventBus, list[Event]]) -> None:
    svc, bus, _ = simple
    bus.publish([quality_event("temp", "uncertain", "engineering_units_exceeded")])
    bus.publish([quality_event("flow", "uncertain", "spike")])
    assert [(a.source, a.severity) for a in svc.list("t")] == [("temp", "minor")]


def test_operator_acknowledges_viewer_cannot(simple: tuple[AlarmService, EventBus, list[Event]]) -> None:
    svc, _, seen = simple
    alarm = svc.raise_alarm("t", "pump-1", "detector", "critical", "bearing fault")
    with pytest.raises(PermissionDeniedError):
        svc.acknowledge("t", alarm.id, role=Role.VIEWER, actor="token:v")
    assert svc.get("t", alarm.id).state == "active"
    with pytest.raises(NotFoundError):  # another tenant's alarm looks missing
        svc.acknowledge("other", alarm.id, role=Role.ADMIN, actor="token:x")
    acked = svc.acknowledge("t", alarm.id, role=Role.OPERATOR, actor="token:o", comment="checking")
    assert (acked.state, acked.acked_by, acked.ack_comment) == ("acknowledged", "token:o", "checking")
    assert svc.acknowledge("t", alarm.id, role=Role.OPERATOR, actor="token:x").acked_by == "token:o"
    assert [e.kind for e in seen] == ["alarm.raised", "alarm.acknowledged"]
    with svc._store.read() as tx:  # the audit trail: events and transitions
        stored = tx.events.list("t")
    assert [(s.event.kind, s.event.actor) for s in stored] == [("alarm.raised", "alarms"),
                                                                ("alarm.acknowledged", "token:o")]
    assert [(t["kind"], t["comment"]) for t in svc.transitions("t", alarm.id)] == [
        ("raised", None), ("acknowledged", "checking")]


def test_anomaly_episode_raises_and_clears_an_alarm(simple: tuple[AlarmService, EventBus, list[Event]]) -> None:
    svc, bus, _ = simple
    now = datetime.now(UTC)
    bus.publish([Event(kind="insight.anomaly", tenant="t", subject="pump-1-bearing", time=now, context_id="c",
                       data={"score": 0.999, "signals": ["envelopeBpfo"]})])
    [alarm] = svc.list("t")
    assert (alarm.source, alarm.severity, alarm.message) == ("anomaly", "major", "anomaly detected in envelopeBpfo")
    bus.publish([Event(kind="insight.cleared", tenant="t", subject="pump-1-bearing", time=now, context_id="c")])
    assert [a.state for a in svc.list("t")] == ["returned"]


def test_quality_rule_does_not_clear_alarms_it_did_not_raise(
        simple: tuple[AlarmService, EventBus, list[Event]]) -> None:
    svc, bus, _ = simple
    svc.raise_alarm("t", "pump-1", "flow", "critical", "flow switch tripped")
    bus.publish([quality_event("flow", "good")])
    assert [(a.message, a.state) for a in svc.list("t")] == [("flow switch tripped", "active")]


def test_rules_by_model_and_twin_with_restart(store: SqlStore) -> None:
    services = Services.build(store)
    load_site(services, "default", SitePackage(SITE), Context.new(actor="test"))
    seen: list[Event] = []
    services.bus.listen(seen.append)
    svc = AlarmService(store, services.bus, services.clock, RULES, services)
    svc.start()
    bus = services.bus
    # A bearing (model rule) above 85 for 10 s of source time: raised once, with the reading as parent.
    bus.publish([telemetry("pump-1-bearing", T0, temperature=90.0)])
    assert svc.list("default") == []  # on-delay
    bus.publish([telemetry("pump-1-bearing", T0 + timedelta(seconds=10), ctx="r2", temperature=91.0)])
    [alarm] = svc.list("default")
    assert (alarm.rule_id, alarm.severity, alarm.value, alarm.origin) == ("bearing-hot", "critical", 91.0, "rule")
    raised = [e for e in seen if e.kind == "alarm.raised"]
    assert len(raised) == 1 and raised[0].parent_id == "r2"
    # The twin rule applies only to its twin.
    bus.publish([telemetry("filler-1", T0, bufferLevel=5.0), telemetry("pump-1", T0, bufferLevel=5.0)])
    assert {a.twin_id for a in svc.list("default")} == {"pump-1-bearing", "filler-1"}
    svc.acknowledge("default", alarm.id, role=Role.OPERATOR, actor="token:o")
    svc.stop()

    # Restart: a new service on the same store knows the open alarms and that the condition is active.
    again = AlarmService(store, services.bus, services.clock, RULES, services)
    again.start()
    assert {a.id for a in again.list("default")} == {a.id for a in svc.list("default")}
    bus.publish([telemetry("pump-1-bearing", T0 + timedelta(seconds=20), temperature=88.0)])  # inside deadband
    assert again.get("default", alarm.id).state == "acknowledged"
    bus.publish([telemetry("pump-1-bearing", T0 + timedelta(seconds=30), ctx="r3", temperature=80.0)])
    assert again.get("default", alarm.id).state == "cleared"  # acked, then cleared: closed
    cleared = [e for e in seen if e.kind == "alarm.cleared"]
    assert cleared[-1].parent_id == "r3" and cleared[-1].data["alarm"]["state"] == "cleared"
    assert again.targets.check("default") == []
    assert again.targets.rule_list("default")[0]["id"] == "bearing-hot" and again.targets.rule_list("other") == []
