"""The live monitor and the model registry: what it trains is registered; a new monitor starts from the
production version; a roll-back by an engineer is picked up; a drift re-fit is a new version with metrics."""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Any

from tests.unit.app.test_monitoring import platform, telemetry  # noqa: F401  (fixture)
from tests.unit.app.test_monitoring_drift import CHANGE_AT, POLICY, SPEC, value
from tvilling.app.monitoring import MonitoringService, model_name
from tvilling.app.monitoring_config import MonitoringConfig
from tvilling.app.registry import registry_for
from tvilling.core.context import Context

NAME = model_name("office-1")


def feed(service: MonitoringService, start: int, stop: int, seed: int = 7) -> list[Any]:
    rng = random.Random(seed)
    values = [value(i, rng) for i in range(stop)]
    return service.process([telemetry("acme", "office-1", i, values[i]) for i in range(start, stop)])


def test_drift_recalibration_is_registered_and_a_new_monitor_starts_from_production(platform: Any) -> None:  # noqa: F811
    spec = replace(SPEC, drift=POLICY)
    service = MonitoringService(platform.services, MonitoringConfig((spec,)))
    out = feed(service, 0, CHANGE_AT + 300)
    kinds = [e.kind for e in out]
    assert kinds.count("insight.drift") == 1 and kinds.count("insight.recalibrated") == 1
    recal = next(e for e in out if e.kind == "insight.recalibrated")
    registry = registry_for(platform.services)
    versions = registry.versions("acme", NAME)
    assert [(v.version, v.stage, v.lineage["reason"]) for v in versions] == [
        (1, "archived", "warmup"), (2, "production", "recalibrate")]
    v2 = versions[1]
    assert recal.data["version"] == 2 and v2.lineage["parent_version"] == 1
    assert v2.metrics["before"]["residual_mae"] > 5 * v2.metrics["after"]["residual_mae"]
    assert v2.training["twins"] == ["office-1"] and v2.training["points"] == POLICY.window
    assert v2.parameters["drift"]["action"] == "recalibrate" and v2.created_by == "monitoring"
    assert registry.list_models("globex") == []

    # A restart: the new service's monitor starts from v2 (no warm-up) and the new regime is normal to it.
    fresh = MonitoringService(platform.services, MonitoringConfig((spec,)))
    after = feed(fresh, CHANGE_AT + 300, CHANGE_AT + 320)
    monitor = fresh.monitors[("acme", "office-1")]
    assert monitor.version == 2 and monitor.warmed_up and monitor.stats.scored == 20
    assert not [e for e in after if e.kind == "insight.anomaly"] and monitor.last_score < 0.99

    # An engineer rolls back to v1 (the pre-drift baseline): the monitor is rebuilt from it on the next event.
    registry.rollback("acme", NAME, Context.new(actor="token:eng"))
    with platform.services.store.read() as tx:
        promoted = [e for e in tx.events.list("acme", subject=NAME, limit=50) if e.event.kind == "ml.model.rolled_back"]
    assert len(promoted) == 1
    fresh.process([promoted[0].event])
    feed(fresh, CHANGE_AT + 320, CHANGE_AT + 330)
    monitor = fresh.monitors[("acme", "office-1")]
    assert monitor.version == 1 and monitor.last_score >= 0.99  # the old baseline calls the new regime anomalous


def test_register_false_keeps_the_registry_out(platform: Any) -> None:  # noqa: F811
    service = MonitoringService(platform.services, MonitoringConfig((replace(SPEC, register=False),)))
    feed(service, 0, SPEC.warmup + 10)
    assert service.monitors[("acme", "office-1")].warmed_up
    assert registry_for(platform.services).list_models("acme") == []
