"""The minimal alarm source (src/tvilling/app/alarms.py) the dashboard lists and acknowledges."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from tvilling.adapters.sql.engine import make_engine
from tvilling.adapters.sql.migrate import check_version
from tvilling.adapters.sql.store import SqlStore
from tvilling.app.alarms import AlarmService
from tvilling.app.events import EventBus
from tvilling.core.errors import PermissionDeniedError
from tvilling.core.events import Event
from tvilling.core.roles import Role
from tvilling.ports.clock import SystemClock


@pytest.fixture
def service(tmp_path: Path) -> tuple[AlarmService, EventBus, list[Event]]:
    engine = make_engine(f"sqlite:///{tmp_path / 'a.db'}", profile="durable")
    check_version(engine, auto_migrate=True)
    bus = EventBus()
    seen: list[Event] = []
    bus.listen(seen.append)
    svc = AlarmService(SqlStore(engine), bus, SystemClock())
    svc.start()
    return svc, bus, seen


def quality_event(prop: str, quality: str, reason: str = "") -> Event:
    return Event(kind="twin.quality", tenant="t", subject="pump-1", time=datetime.now(UTC), context_id="c",
                 data={"changes": {prop: {"quality": quality, "reason": reason}}})


def test_bad_quality_raises_once_and_good_clears(service: tuple[AlarmService, EventBus, list[Event]]) -> None:
    svc, bus, seen = service
    bus.publish([quality_event("flow", "bad", "stale")])
    bus.publish([quality_event("flow", "bad", "stale")])
    [alarm] = svc.list("t")
    assert (alarm.twin_id, alarm.source, alarm.severity, alarm.state) == ("pump-1", "flow", "major", "active")
    assert "stale" in alarm.message
    assert svc.list("other") == []
    bus.publish([quality_event("flow", "good")])
    assert svc.list("t") == []
    assert [a.state for a in svc.list("t", include_cleared=True)] == ["cleared"]
    assert [e.kind for e in seen if e.kind.startswith("alarm.")] == ["alarm.raised", "alarm.cleared"]


def test_engineering_range_raises_a_minor_alarm(service: tuple[AlarmService, EventBus, list[Event]]) -> None:
    svc, bus, _ = service
    bus.publish([quality_event("temp", "uncertain", "engineering_units_exceeded")])
    bus.publish([quality_event("flow", "uncertain", "spike")])
    assert [(a.source, a.severity) for a in svc.list("t")] == [("temp", "minor")]


def test_operator_acknowledges_viewer_cannot(service: tuple[AlarmService, EventBus, list[Event]]) -> None:
    svc, _, seen = service
    alarm = svc.raise_alarm("t", "pump-1", "detector", "critical", "bearing fault")
    with pytest.raises(PermissionDeniedError):
        svc.acknowledge("t", alarm.id, role=Role.VIEWER, actor="token:v")
    assert svc.get("t", alarm.id).state == "active"
    acked = svc.acknowledge("t", alarm.id, role=Role.OPERATOR, actor="token:o")
    assert (acked.state, acked.acked_by) == ("acknowledged", "token:o")
    assert svc.acknowledge("t", alarm.id, role=Role.OPERATOR, actor="token:x").acked_by == "token:o"
    assert [e.kind for e in seen] == ["alarm.raised", "alarm.acknowledged"]
    with svc._store.read() as tx:  # the audit trail is durable even though the live list is in memory
        stored = tx.events.list("t")
    assert [(s.event.kind, s.event.actor) for s in stored] == [("alarm.raised", "alarms"),
                                                                ("alarm.acknowledged", "token:o")]


def test_anomaly_episode_raises_and_clears_an_alarm(service: tuple[AlarmService, EventBus, list[Event]]) -> None:
    svc, bus, _ = service
    now = datetime.now(UTC)
    bus.publish([Event(kind="insight.anomaly", tenant="t", subject="pump-1-bearing", time=now, context_id="c",
                       data={"score": 0.999, "signals": ["envelopeBpfo"]})])
    [alarm] = svc.list("t")
    assert (alarm.source, alarm.severity, alarm.message) == ("anomaly", "major", "anomaly detected in envelopeBpfo")
    bus.publish([Event(kind="insight.cleared", tenant="t", subject="pump-1-bearing", time=now, context_id="c")])
    assert svc.list("t") == []


def test_quality_rule_does_not_clear_alarms_it_did_not_raise(
        service: tuple[AlarmService, EventBus, list[Event]]) -> None:
    svc, bus, _ = service
    svc.raise_alarm("t", "pump-1", "flow", "critical", "flow switch tripped")
    bus.publish([quality_event("flow", "good")])
    assert [a.message for a in svc.list("t")] == ["flow switch tripped"]
