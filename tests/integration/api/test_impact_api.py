"""GET /api/v1/twins/{id}/impact and /api/v1/impact/risks on the bottling site with its impact.yaml: what a twin's
stop takes with it (and when, along which relationships), and the likely failures ranked by what they would cost;
tenant isolation, errors as problem+json."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.platform import ApiRig, api_rig
from tvilling.app.site import SitePackage, load_site
from tvilling.core.context import Context, new_id
from tvilling.core.events import Event
from tvilling.core.roles import Role

SITE = Path(__file__).resolve().parents[3] / "examples" / "bottling-plant"


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[ApiRig]:
    doc = yaml.safe_load((SITE / "impact.yaml").read_text(encoding="utf-8"))
    path = tmp_path / "impact.yaml"
    path.write_text(yaml.safe_dump({**doc, "tenant": "acme"}), encoding="utf-8")
    with api_rig(f"sqlite:///{tmp_path / 'i.db'}", seed_models=False, impact_file=path) as r:
        load_site(r.platform.services, "acme", SitePackage(SITE), Context.new(actor="test"))
        load_site(r.platform.services, "globex", SitePackage(SITE), Context.new(actor="test"))
        yield r


def _rul(rig: ApiRig, twin: str, p: float, tenant: str = "acme") -> None:
    services = rig.platform.services
    data: dict[str, Any] = {"twin": twin, "at": datetime(2026, 11, 24, tzinfo=UTC).isoformat(), "p_failure": p,
                            "horizon_hours": 72.0, "rul_hours": {"mean": 100.0, "lower": 40.0, "upper": 200.0}}
    with services.store.write() as tx:
        tx.events.append([Event(kind="insight.rul", tenant=tenant, subject=twin, time=services.clock.now(),
                                context_id=new_id(), actor="monitoring", data=data)])


def test_a_seized_pump_bearing_stops_the_pump_the_filler_after_its_buffer_and_the_line(rig: ApiRig) -> None:
    r = rig.call("GET", "/api/v1/twins/pump-1-bearing/impact", role=Role.VIEWER)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["costPerHour"] == 2400 and body["repairHours"] == 36
    got = {a["twinId"]: (a["effect"], a["afterMin"]) for a in body["affected"]}
    assert got == {"pump-1": ("stops", 0), "filler-1": ("stops", 20), "line-1": ("stops", 20)}
    filler = next(a for a in body["affected"] if a["twinId"] == "filler-1")
    assert filler["path"] == ["pump-1 hasPart pump-1-bearing", "pump-1 feeds filler-1"]
    line = next(a for a in body["affected"] if a["twinId"] == "line-1")
    assert line["costPerHour"] == 2400 and line["path"] == [
        "pump-1 hasPart pump-1-bearing", "pump-1 feeds filler-1", "line-1 contains filler-1"]


def test_the_chiller_stops_the_line_after_the_product_warms_and_the_hall_stops_nothing(rig: ApiRig) -> None:
    chiller = rig.call("GET", "/api/v1/twins/chiller-1/impact", role=Role.VIEWER).json()
    assert {a["twinId"]: a["afterMin"] for a in chiller["affected"]} == {"filler-1": 90, "line-1": 90}
    hall = rig.call("GET", "/api/v1/twins/hall/impact", role=Role.VIEWER).json()
    assert hall["affected"] == [] and hall["costPerHour"] == 0


def test_risks_rank_likely_failures_by_expected_cost(rig: ApiRig) -> None:
    _rul(rig, "pump-1-bearing", 0.5)  # 0.5 x 2400 x 36
    _rul(rig, "filler-1-bearing", 0.9)  # 0.9 x 2400 x 36: first
    _rul(rig, "hall", 0.99)  # certain to fail, but stops nothing that costs
    _rul(rig, "conveyor-1-bearing", 0.99, tenant="globex")  # another tenant's: never seen
    _rul(rig, "conveyor-1-motor", float("nan"))  # not a probability: not ranked
    # globex's graph differs from acme's: a relationship only globex has must not reach acme's walk
    r = rig.call("PUT", "/api/v1/twins/pump-1/relationships/extra", tenant="globex",
                 json={"$relationshipName": "hasPart", "$targetId": "conveyor-1-bearing"})
    assert r.status_code in (200, 201), r.text
    body = rig.call("GET", "/api/v1/impact/risks", role=Role.VIEWER).json()
    assert [(v["twinId"], round(v["expectedCost"])) for v in body["value"]] == [
        ("filler-1-bearing", round(0.9 * 2400 * 36)), ("pump-1-bearing", round(0.5 * 2400 * 36)), ("hall", 0)]
    assert body["count"] == 3 and body["value"][0]["stops"] == ["filler-1", "line-1"]
    conveyor = rig.call("GET", "/api/v1/twins/conveyor-1-bearing/impact", role=Role.VIEWER).json()
    assert {a["twinId"] for a in conveyor["affected"]} == {"conveyor-1", "line-1"}  # globex's extra edge is not acme's
    leaked = rig.call("GET", "/api/v1/twins/conveyor-1-bearing/impact", tenant="globex")
    assert leaked.status_code == 404  # and globex has no impact.yaml to ask with
    assert rig.call("GET", "/api/v1/impact/risks", role=Role.VIEWER, params={"limit": 1}).json()["count"] == 3


def test_errors_and_tenants(rig: ApiRig, tmp_path: Path) -> None:
    r = rig.call("GET", "/api/v1/twins/nowhere/impact")
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
    r = rig.call("GET", "/api/v1/twins/pump-1/impact", tenant="globex")  # impact.yaml is acme's
    assert r.status_code == 404 and "no impact.yaml for this tenant" in r.json()["detail"] and "acme" not in r.text
    assert rig.client.get("/api/v1/twins/pump-1/impact").status_code == 401
    assert rig.call("GET", "/api/v1/impact/risks", params={"limit": 0}).status_code == 422
    with api_rig(f"sqlite:///{tmp_path / 'none.db'}", seed_models=False) as bare:
        r = bare.call("GET", "/api/v1/impact/risks")
        assert r.status_code == 404 and "no impact.yaml" in r.json()["detail"] and "docs/impact.md" in r.text
