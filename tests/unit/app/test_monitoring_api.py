"""GET /api/v1/insights and /api/v1/twins/{id}/insights: tenant-scoped, viewer role, problem+json errors."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import dtdl_samples
from tests.support.platform import ApiRig, api_rig
from tests.unit.app.test_monitoring import SPEC, degrading, telemetry
from tvilling.app.monitoring import MonitoringService
from tvilling.app.monitoring_config import MonitoringConfig
from tvilling.core.roles import Role


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[ApiRig]:
    with api_rig(f"sqlite:///{tmp_path / 'api.db'}") as r:
        for tenant in ("acme", "globex"):
            resp = r.call("PUT", "/api/v1/twins/office-1", tenant=tenant,
                          json=dtdl_samples.room(model=dtdl_samples.OFFICE))
            assert resp.status_code in (200, 201), resp.text
        yield r


def _alert_acme(rig: ApiRig) -> MonitoringService:
    service = MonitoringService(rig.platform.services, MonitoringConfig((SPEC,)))
    rig.platform.app.state.monitoring = service
    rng = random.Random(3)
    service.process([telemetry("acme", "office-1", i, degrading(i, 150, rng)) for i in range(400)])
    return service


def test_insights_are_tenant_scoped_and_readable_by_viewers(rig: ApiRig) -> None:
    _alert_acme(rig)
    r = rig.call("GET", "/api/v1/insights?kind=anomaly", role=Role.VIEWER)
    assert r.status_code == 200, r.text
    items = r.json()["value"]
    assert len(items) == 1 and items[0]["twin"] == "office-1" and items[0]["kind"] == "insight.anomaly"
    assert items[0]["data"]["signals"] == ["temperature"] and items[0]["context"]["parent_id"]
    assert rig.call("GET", "/api/v1/insights", tenant="globex", role=Role.VIEWER).json()["value"] == []
    r = rig.call("GET", "/api/v1/twins/office-1/insights?kind=rul&limit=2", role=Role.VIEWER)
    body = r.json()
    assert r.status_code == 200 and len(body["value"]) == 2
    assert all(i["kind"] == "insight.rul" for i in body["value"])
    assert body["value"][0]["seq"] > body["value"][1]["seq"]  # newest first
    assert body["monitor"]["alert"]["signals"] == ["temperature"]
    other = rig.call("GET", "/api/v1/twins/office-1/insights", tenant="globex", role=Role.VIEWER).json()
    assert other["value"] == [] and other["monitor"] is None


def test_errors_are_problem_json(rig: ApiRig) -> None:
    r = rig.call("GET", "/api/v1/insights?kind=bogus", role=Role.VIEWER)
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    r = rig.call("GET", "/api/v1/twins/nope/insights", role=Role.VIEWER)
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")
    assert rig.client.get("/api/v1/insights").status_code == 401
