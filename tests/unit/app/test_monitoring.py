"""The live monitor: synthetic telemetry in, insights out (TwinMonitor alone, then the service on a real store)."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from tests.support import dtdl_samples
from tvilling.app.monitoring import MonitoringService, list_insights
from tvilling.app.monitoring_config import HealthSpec, MonitoringConfig, MonitorSpec, load_config, parse_config
from tvilling.app.monitoring_twin import LIVE_ARTIME_CATEGORIES, TwinMonitor, iso
from tvilling.bootstrap import build_platform
from tvilling.core.context import Context
from tvilling.core.errors import ValidationError
from tvilling.core.events import Event
from tvilling.core.roles import Role
from tvilling.settings import Settings

T0 = datetime(2026, 5, 4, tzinfo=UTC).timestamp()
STEP_S = 600.0
SPEC = MonitorSpec(model=dtdl_samples.ROOM, signals=("temperature",), warmup=100, threshold=0.99, open_after=3,
                   quiet_hours=12.0, smooth=5,
                   health=HealthSpec(signals=("temperature",), failure_threshold=8.0, window_hours=24.0))


def changes(i: int, value: float | None, name: str = "temperature", quality: str = "good") -> dict[str, Any]:
    return {name: {"new": value, "old": None, "quality": quality, "reason": "", "source_time": iso(T0 + i * STEP_S)}}


def healthy(rng: random.Random) -> float:
    return 0.04 * rng.lognormvariate(0.0, 0.08)


def degrading(i: int, onset: int, rng: random.Random) -> float:
    """A defect line growing 2 %/reading out of a 0.04 noise floor from reading ``onset``."""
    line = 0.004 * math.exp(0.02 * (i - onset)) if i >= onset else 0.0
    return math.hypot(0.04, line) * rng.lognormvariate(0.0, 0.08)


def run(monitor: TwinMonitor, values: list[float | None]) -> list[tuple[int, Any]]:
    out: list[tuple[int, Any]] = []
    for i, v in enumerate(values):
        out.extend((i, ins) for ins in monitor.update(changes(i, v)))
    return out


def test_degrading_signal_raises_an_alert_then_rul_with_rising_failure_probability() -> None:
    rng = random.Random(5)
    onset = 300
    insights = run(TwinMonitor(SPEC), [degrading(i, onset, rng) for i in range(600)])
    anomalies = [(i, ins) for i, ins in insights if ins.kind == "insight.anomaly"]
    assert len(anomalies) == 1
    at, alert = anomalies[0]
    assert onset < at < 500  # after the onset, well before the line reaches 8.0 (~ reading 680)
    assert alert.data["signals"] == ["temperature"] and alert.data["since"] <= alert.data["detected_at"]
    assert alert.data["contributions"][0]["signal"] == "temperature"
    ruls = [ins.data for _i, ins in insights if ins.kind == "insight.rul"]
    assert len(ruls) >= 3
    assert all(r["rul_hours"]["lower"] <= r["rul_hours"]["mean"] <= r["rul_hours"]["upper"] for r in ruls)
    # closer to the threshold, higher P(failure within 72 h) and shorter RUL
    assert ruls[-1]["p_failure"] > ruls[0]["p_failure"]
    assert ruls[-1]["rul_hours"]["mean"] < ruls[0]["rul_hours"]["mean"]
    # true time left at the last estimate: the line reaches ~8 at ln(2000)/0.02 readings after onset
    true_left_h = (onset + math.log(8.0 / 0.004) / 0.02 - 599) * STEP_S / 3600.0
    assert ruls[-1]["rul_hours"]["lower"] < true_left_h * 1.5 and ruls[-1]["rul_hours"]["upper"] > true_left_h / 1.5


def test_steady_signal_with_spikes_and_dropouts_raises_no_alert() -> None:
    rng = random.Random(6)
    values: list[float | None] = [healthy(rng) for _ in range(3000)]
    for i in range(150, 3000, 97):
        values[i] = 5.0  # a transmitter spike: one reading far off
    for i in range(120, 3000, 131):
        values[i] = None  # NaN on the wire -> quality bad
    monitor = TwinMonitor(SPEC)
    assert run(monitor, values) == []
    assert monitor.warmed_up and monitor.stats.skipped > 0


def test_alert_closes_after_quiet_period_and_late_data_is_ignored() -> None:
    rng = random.Random(7)
    monitor = TwinMonitor(SPEC)
    values: list[float | None] = [*(healthy(rng) for _ in range(200)), *[1.0] * 10,
                                  *(healthy(rng) for _ in range(200))]
    insights = run(monitor, values)
    assert [ins.kind for _i, ins in insights] == ["insight.anomaly", "insight.cleared"]
    late = monitor.update(changes(5, 100.0))  # far in the past: not scored
    assert late == [] and monitor.stats.late == 1


def test_monitors_are_isolated_per_twin() -> None:
    rng = random.Random(8)
    a, b = TwinMonitor(SPEC), TwinMonitor(SPEC)
    out_a: list[Any] = []
    out_b: list[Any] = []
    for i in range(400):
        out_a += a.update(changes(i, degrading(i, 150, rng)))
        out_b += b.update(changes(i, healthy(rng)))
    assert any(x.kind == "insight.anomaly" for x in out_a)
    assert out_b == []


def test_config_document_problems_are_reported_together(tmp_path: Path) -> None:
    with pytest.raises(ValidationError) as info:
        parse_config({"monitors": [{"model": "nope", "signals": [], "detector": "magic", "threshold": 1.5,
                                    "health": {"signals": ["x"]}}]})
    text = str(info.value)
    for fragment in ("DTMI", "telemetry names", "detector", "threshold", "failure_threshold"):
        assert fragment in text
    f = tmp_path / "monitoring.yaml"
    f.write_text("monitors:\n  - {model: 'dtmi:x:Y;1', signals: [a, b], detector: multivariate}\n")
    cfg = load_config(f)
    assert cfg.monitors[0].signals == ("a", "b") and cfg.monitors[0].health is None
    with pytest.raises(ValidationError):
        load_config(tmp_path / "missing.yaml")


# -- the service on a real store and bus ------------------------------------------------------------------------
@pytest.fixture
def platform(tmp_path: Path) -> Any:
    p = build_platform(Settings(db=SecretStr(f"sqlite:///{tmp_path / 't.db'}")), announce=lambda _t: None)
    svc = p.services
    for tenant in ("acme", "globex"):
        svc.tokens.create(tenant, Role.ADMIN, "t")
        svc.models.upload(tenant, dtdl_samples.models(), Context.new())
        svc.twins.put(tenant, "office-1", dtdl_samples.room(model=dtdl_samples.OFFICE), Context.new())
        svc.twins.put(tenant, "room-1", dtdl_samples.room(), Context.new())
    yield p
    p.close()


def telemetry(tenant: str, twin: str, i: int, value: float) -> Event:
    ctx = Context.new(actor="ingest")
    return Event(kind="twin.telemetry", tenant=tenant, subject=twin, time=datetime.now(UTC), context_id=ctx.id,
                 actor="ingest", data={"changes": changes(i, value)})


def test_service_attaches_by_model_inheritance_and_links_causality(platform: Any) -> None:
    # Spec on the base model (Room); office-1 is an Office, which extends Room.
    service = MonitoringService(platform.services, MonitoringConfig((SPEC,)))
    published: list[Event] = []
    platform.services.bus.listen(published.append)
    rng = random.Random(9)
    events = [telemetry("acme", "office-1", i, degrading(i, 150, rng)) for i in range(400)]
    events += [telemetry("globex", "office-1", i, healthy(rng)) for i in range(400)]
    events += [telemetry("acme", "no-such-twin", i, 1.0) for i in range(5)]
    out = service.process(events)
    kinds = [e.kind for e in out]
    assert kinds.count("insight.anomaly") == 1 and "insight.rul" in kinds
    assert {e.tenant for e in out} == {"acme"} and {e.subject for e in out} == {"office-1"}
    parents = {e.context_id for e in events}
    assert all(e.parent_id in parents and e.actor == "monitoring" for e in out)
    # published after commit (the registry's ml.model.* events of the fitted baseline are published too)
    assert [e.kind for e in published if e.kind.startswith("insight.")] == kinds
    stored = list_insights(platform.services, "acme", twin="office-1", kind="anomaly")
    assert len(stored) == 1 and stored[0]["data"]["model"] == dtdl_samples.OFFICE
    assert stored[0]["context"]["parent_id"] in parents
    assert list_insights(platform.services, "globex") == []
    snap = service.snapshot("acme", "office-1")
    assert snap is not None and snap["alert"] is not None
    with pytest.raises(ValidationError):
        list_insights(platform.services, "acme", kind="bogus")


def test_service_ignores_unmonitored_models_and_bounds_its_state(platform: Any) -> None:
    spec = MonitorSpec(model=dtdl_samples.OFFICE, signals=("temperature",), warmup=10)
    service = MonitoringService(platform.services, MonitoringConfig((spec,)), max_twins=1)
    service.process([telemetry("acme", "room-1", i, 20.0) for i in range(20)])  # Room is not an Office
    assert service.monitors == {}
    service.process([telemetry(t, "office-1", 0, 20.0) for t in ("acme", "globex")])
    assert len(service.monitors) == 1
    gone = Event(kind="twin.deleted", tenant="globex", subject="office-1", time=datetime.now(UTC), context_id="c")
    service.process([gone])
    assert service.monitors == {}


def test_demo_matching_gives_each_anomaly_to_one_fault_most_specific_first() -> None:
    from tvilling.app.demo_summary import detections_against_truth

    faults: list[dict[str, Any]] = [
        {"asset": "pump-1", "kind": "cavitation", "onset": "2026-05-15T20:45:00Z", "failure_at": None,
         "end": "2026-05-16T02:45:00Z"},
        {"asset": "pump-1-bearing", "kind": "bearing_wear", "onset": "2026-05-18T00:55:00Z",
         "failure_at": "2026-07-13T01:40:00Z"}]
    one = [{"asset": "pump-1-bearing", "detected_at": "2026-05-27T20:30:00Z"}]
    detections, false_alarms = detections_against_truth(one, faults)
    assert [d["kind"] for d in detections] == ["bearing_wear"] and false_alarms == 0
    assert detections[0]["lead_hours"] == pytest.approx(1109.1667, abs=1e-3)
    # an alert on the pump long after the cavitation episode ended explains nothing
    late = [{"asset": "pump-1", "detected_at": "2026-06-01T00:00:00Z"}]
    assert detections_against_truth(late, faults) == ([], 1)


def test_other_detector_kinds_run_from_config() -> None:
    rng = random.Random(10)
    multi = TwinMonitor(MonitorSpec(model="dtmi:x:Y;1", signals=("flow", "power"), detector="multivariate",
                                    warmup=150, open_after=2))
    out: list[Any] = []
    for i in range(300):
        a = rng.gauss(0.0, 1.0)
        power = 2 * a + rng.gauss(0.0, 0.1) if i < 250 else -2 * a + rng.gauss(0.0, 0.1) + 6.0
        t = iso(T0 + i * STEP_S)
        out += multi.update({"flow": {"new": a, "source_time": t}, "power": {"new": power, "source_time": t}})
    assert [x.kind for x in out][:1] == ["insight.anomaly"]
    uni = TwinMonitor(MonitorSpec(model="dtmi:x:Y;1", signals=("v",), detector="univariate", warmup=50))
    for i in range(120):
        uni.update(changes(i, rng.gauss(0.0, 1.0), name="v"))
    assert uni.warmed_up and 0.0 <= uni.last_score <= 1.0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_artime_detector_runs_live_from_config(seed: int) -> None:
    # NAB's strongest univariate detector (causal form: range learned over the warm-up), with its own defaults:
    # it scores in steps, so one anomalous point opens an episode, at the threshold NAB's protocol chose for it.
    spec = parse_config({"monitors": [{"model": "dtmi:x:Y;1", "signals": ["v"], "detector": "artime",
                                       "warmup": 300}]}).monitors[0]
    assert (spec.threshold, spec.open_after) == (0.175, 1)
    rng = random.Random(seed)
    mon = TwinMonitor(spec)
    out: list[tuple[int, Any]] = []
    for i in range(1400):
        v = math.sin(i / 8.0) + rng.gauss(0.0, 0.05) + (3.0 if 1000 <= i < 1100 else 0.0)  # a level jump
        out += [(i, x) for x in mon.update(changes(i, v, name="v"))]
    alerts = [(i, x.data) for i, x in out if x.kind == "insight.anomaly"]
    assert len(alerts) == 1 and 1000 <= alerts[0][0] < 1010  # at the jump (after the 5-point median filter)
    assert alerts[0][1]["signals"] == ["v"] and alerts[0][1]["detector"] == "artime"
    assert mon.detector.max_categories == LIVE_ARTIME_CATEGORIES  # a months-long stream cannot grow it unbounded
    with pytest.raises(ValidationError, match="artime detector takes exactly one signal"):
        parse_config({"monitors": [{"model": "dtmi:x:Y;1", "signals": ["a", "b"], "detector": "artime"}]})
    explicit = parse_config({"monitors": [{"model": "dtmi:x:Y;1", "signals": ["v"], "detector": "artime",
                                           "threshold": 0.3, "open_after": 2}]}).monitors[0]
    assert (explicit.threshold, explicit.open_after) == (0.3, 2)


def test_artime_monitor_publishes_through_the_service_and_registers_nothing(platform: Any) -> None:
    spec = parse_config({"monitors": [{"model": dtdl_samples.ROOM, "signals": ["temperature"],
                                       "detector": "artime", "warmup": 300}]}).monitors[0]
    service = MonitoringService(platform.services, MonitoringConfig((spec,)))
    rng = random.Random(3)
    service.process([telemetry("acme", "room-1", i, math.sin(i / 8.0) + rng.gauss(0.0, 0.05)
                               + (3.0 if i >= 1000 else 0.0)) for i in range(1100)])
    stored = list_insights(platform.services, "acme", twin="room-1", kind="anomaly")
    assert len(stored) == 1 and stored[0]["data"]["detector"] == "artime"
    assert stored[0]["data"]["signals"] == ["temperature"]
    assert service.registry is not None and service.registry.production("acme", "room-1:anomaly") is None


PUMP = "dtmi:test:Pump;1"


def test_insights_become_twin_state_only_where_the_model_declares_them(platform: Any) -> None:
    svc = platform.services
    svc.models.upload("acme", [{"@context": "dtmi:dtdl:context;3", "@id": PUMP, "@type": "Interface",
                                "contents": [{"@type": "Property", "name": "temperature", "schema": "double"},
                                             {"@type": "Property", "name": "rulHours", "schema": "double"},
                                             {"@type": "Property", "name": "failure72h", "schema": "double"}]}],
                      Context.new())
    svc.twins.put("acme", "pump-1", {"$metadata": {"$model": PUMP}, "temperature": 0.0}, Context.new())
    spec = MonitorSpec(model=PUMP, signals=SPEC.signals, warmup=100, quiet_hours=12.0, health=SPEC.health,
                       state={"rulHours": "rul_hours", "failure72h": "p_failure"})
    room_spec = MonitorSpec(model=dtdl_samples.ROOM, signals=SPEC.signals, warmup=100, state={"name": "score"})
    service = MonitoringService(svc, MonitoringConfig((spec, room_spec)))
    rng = random.Random(11)
    out = service.process([telemetry("acme", "pump-1", i, degrading(i, 150, rng)) for i in range(400)])
    last_rul = [e for e in out if e.kind == "insight.rul"][-1]
    twin = svc.twins.get("acme", "pump-1")
    assert twin["rulHours"] == last_rul.data["rul_hours"]["mean"]
    assert twin["failure72h"] == last_rul.data["p_failure"]
    # Room's "name" is a string: a score would not validate, so the insight stays an event and the twin is intact
    out = service.process([telemetry("acme", "room-1", i, degrading(i, 150, rng)) for i in range(400)])
    assert any(e.kind == "insight.anomaly" for e in out)
    assert svc.twins.get("acme", "room-1")["name"] == "r"
