"""/api/v1/maintenance/plan against a real platform (SQLite and PostgreSQL): the live plan from planning.yaml and
the twins' latest insight.rul events in the store, and what-if documents."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import SecretStr

from tests.support.dtdl_samples import FLOOR, OFFICE, ROOM, room
from tests.support.explain_history import SITE
from tests.support.impact_rig import impact_rig, rul
from tests.support.platform import ApiRig, api_rig
from tvilling.bootstrap import build_platform
from tvilling.core.context import new_id
from tvilling.core.errors import ValidationError
from tvilling.core.events import Event
from tvilling.core.roles import Role
from tvilling.settings import Settings

AT = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)  # a Monday, the plant's (source) time
PLANNING = {
    "version": 1, "horizon_days": 30, "risk_limit": 0.2,
    "calendar": {"downtime_cost_per_hour": {"default": 2000, "saturday": 500, "sunday": 0},
                 "crew_hours_per_day": {"default": 16, "sunday": 8}},
    "tasks": [
        {"id": "service", "model": ROOM, "title": "Service {twin}", "line": "line-1", "duration_hours": 4,
         "crew_hours": 8, "preventive_cost": 1000, "failure_cost": 20000, "failure_downtime_hours": 24},
        {"id": "filters", "asset": "ahu-1", "line": None, "duration_hours": 2, "crew_hours": 2,
         "preventive_cost": 150, "failure_cost": 400, "failure_downtime_hours": 0, "latest_day": 20,
         "failure": {"weibull": {"shape": 2.0, "scale_hours": 3000, "age_hours": 2000}}}]}
QUANTILES = [round(24.0 * (6 + i * 0.5), 1) for i in range(20)]  # fails between day 6 and day 15.5


@pytest.fixture
def planned_rig(db_url: str, tmp_path: Path) -> Iterator[ApiRig]:
    path = tmp_path / "planning.yaml"
    path.write_text(yaml.safe_dump(PLANNING), encoding="utf-8")
    with api_rig(db_url, planning_file=path) as rig:
        for twin, model in (("room-a", ROOM), ("office-b", OFFICE), ("room-c", ROOM)):
            r = rig.call("PUT", f"/api/v1/twins/{twin}", json=room(model=model))
            assert r.status_code in (200, 201), r.text
        r = rig.call("PUT", "/api/v1/twins/ahu-1", json={"$metadata": {"$model": FLOOR}})  # not a Room
        assert r.status_code in (200, 201), r.text
        yield rig


def _rul(rig: ApiRig, twin: str, at: datetime, quantiles: list[float]) -> None:
    _insight(rig, "insight.rul", twin, {
        "at": at.isoformat(), "p_failure": 0.0, "horizon_hours": 72.0,
        "rul_hours": {"mean": quantiles[len(quantiles) // 2], "lower": quantiles[1], "upper": quantiles[-2],
                      "level": 0.9, "quantiles": quantiles, "censored_at": 8760.0}})


def _insight(rig: ApiRig, kind: str, twin: str, data: dict[str, Any]) -> None:
    services = rig.platform.services
    event = Event(kind=kind, tenant="acme", subject=twin, time=services.clock.now(), context_id=new_id(),
                  actor="monitoring", data={"twin": twin, **data})
    with services.store.write() as tx:
        tx.events.append([event])


def test_live_plan_uses_each_twins_latest_estimate(planned_rig: ApiRig) -> None:
    _rul(planned_rig, "room-a", AT - timedelta(days=3), [q + 500.0 for q in QUANTILES])  # older: superseded
    _rul(planned_rig, "room-a", AT - timedelta(hours=24), [q + 24.0 for q in QUANTILES])  # 24 h before: shifted
    _rul(planned_rig, "office-b", AT, [q + 24.0 * 40 for q in QUANTILES])  # an Office is a Room; fails later
    r = planned_rig.call("GET", "/api/v1/maintenance/plan", role=Role.VIEWER)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["configured"] is True
    assert body["notPlanned"] == [{"task": "service/room-c", "asset": "room-c", "reason": body["notPlanned"][0]
                                   ["reason"]}] and "no RUL estimate" in body["notPlanned"][0]["reason"]
    plan = body["plan"]
    assert plan["start"] == AT.isoformat() and plan["status"] == "optimal" and plan["days"] == 30
    rows = {t["task"]: t for t in plan["tasks"]}
    assert set(rows) == {"service/room-a", "service/office-b", "filters"}
    a = rows["service/room-a"]
    assert a["title"] == "Service room-a" and a["asset"] == "room-a"
    # room-a's estimate, 24 h old, fails from day 6 of the plan on: planned before the risk passes 20 %
    # (P reaches 0.2 at about day 7.5), on a cheap day where it can.
    assert 0 <= a["day"] <= 7 and a["pFailureBefore"] <= 0.2
    assert body["estimates"]["room-a"]["at"] == (AT - timedelta(hours=24)).isoformat()
    # office-b fails after the horizon for sure: it waits (risk 0 within the limit).
    assert rows["service/office-b"]["day"] is None
    assert rows["filters"]["day"] is not None and rows["filters"]["day"] <= 20
    assert all(len(t["windows"]) <= 3 for t in plan["tasks"])
    assert a["workOrder"] is None
    # A live work order on the twin is shown beside its task.
    r = planned_rig.call("POST", "/api/v1/work-orders", json={"twinId": "room-a", "title": "Service it"})
    assert r.status_code == 201, r.text
    again = planned_rig.call("GET", "/api/v1/maintenance/plan?alternatives=0").json()["plan"]
    row = next(t for t in again["tasks"] if t["task"] == "service/room-a")
    assert row["workOrder"]["id"] == r.json()["id"] and "windows" not in row


def test_other_tenants_twins_are_not_planned(planned_rig: ApiRig) -> None:
    body = planned_rig.call("GET", "/api/v1/maintenance/plan", tenant="globex").json()
    assert body["plan"] is None  # globex has none of acme's twins, not even the one a task names
    assert body["notPlanned"] == [{"task": "filters", "asset": "ahu-1", "reason": "no twin 'ahu-1' in this tenant"}]


def test_a_cleared_episode_takes_its_estimate_with_it(planned_rig: ApiRig) -> None:
    _rul(planned_rig, "room-a", AT, QUANTILES)
    plan = planned_rig.call("GET", "/api/v1/maintenance/plan").json()["plan"]
    assert "service/room-a" in {t["task"] for t in plan["tasks"]}
    # a physics model's episode clearing says nothing about the ML monitor's estimate
    _insight(planned_rig, "insight.cleared", "room-a", {"cleared_at": AT.isoformat(), "detector": "physics"})
    plan = planned_rig.call("GET", "/api/v1/maintenance/plan").json()["plan"]
    assert "service/room-a" in {t["task"] for t in plan["tasks"]}
    # the monitor's episode clears (the bearing was replaced): the monitor forgot its RUL, so does the plan
    _insight(planned_rig, "insight.cleared", "room-a", {"cleared_at": AT.isoformat()})
    body = planned_rig.call("GET", "/api/v1/maintenance/plan").json()
    assert "room-a" in {n["asset"] for n in body["notPlanned"]} and "room-a" not in body["estimates"]


DOC: dict[str, Any] = {
    "start": "2026-12-07T00:00:00Z", "horizon_days": 14, "risk_limit": 0.3,
    "calendar": {"downtime_cost_per_hour": {"default": 3000, "saturday": 0, "sunday": 0},
                 "crew_hours_per_day": 16},
    "tasks": [{"id": "pump", "line": "L", "duration_hours": 4, "crew_hours": 8, "preventive_cost": 1000,
               "failure_cost": 9000, "failure_downtime_hours": 24,
               "failure": {"rul_hours": {"lower": 200, "upper": 800, "level": 0.8}}},
              {"id": "fan", "line": "L", "duration_hours": 2, "crew_hours": 4, "preventive_cost": 300,
               "failure_cost": 2000, "failure_downtime_hours": 8,
               "failure": {"rul_hours": {"lower": 150, "upper": 1000, "level": 0.8}}}]}


def test_what_if_document(rig: ApiRig) -> None:
    r = rig.call("POST", "/api/v1/maintenance/plan?alternatives=2", role=Role.OPERATOR, json=DOC)
    assert r.status_code == 200, r.text
    plan = r.json()
    rows = {t["task"]: t for t in plan["tasks"]}
    # The weekend costs no production: both go into one weekend stop.
    assert rows["pump"]["date"] == rows["fan"]["date"] and rows["pump"]["date"] in ("2026-12-12", "2026-12-13")
    assert rows["pump"]["sharedStopWith"] == ["fan"]
    assert plan["expectedCost"]["plannedStops"] == 0.0
    assert len(rows["pump"]["windows"]) == 2
    assert plan["expectedCost"]["total"] == pytest.approx(
        sum(t["riskCost"] + t["preventiveCost"] for t in plan["tasks"]), abs=0.05)


@pytest.mark.parametrize("change,where", [
    ({"tasks": [{**DOC["tasks"][0], "failure": {"weibull": {"shape": 2}}}]}, "tasks[0].failure.weibull"),
    ({"calendar": {"crew_hours_per_day": {"someday": 3}}}, "calendar.crew_hours_per_day.someday"),
    ({"calendar": {"crew_hours_per_day": 2}}, "tasks[pump]")])
def test_bad_documents_get_problem_json(rig: ApiRig, change: dict[str, Any], where: str) -> None:
    r = rig.call("POST", "/api/v1/maintenance/plan", json={**DOC, **change})
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert where in (problem.get("where"), *(p.get("where") for p in problem.get("problems", [])))


def test_schema_violations_get_problem_json(rig: ApiRig) -> None:
    r = rig.call("POST", "/api/v1/maintenance/plan", json={**DOC, "horizon_days": 5000})
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")


def test_without_planning_file_the_plan_says_how(rig: ApiRig) -> None:
    body = rig.call("GET", "/api/v1/maintenance/plan").json()
    assert body["configured"] is False and body["plan"] is None and "planning.yaml" in body["hint"]


def test_a_broken_planning_file_stops_the_start(tmp_path: Path) -> None:
    path = tmp_path / "planning.yaml"
    path.write_text(yaml.safe_dump({"tasks": [{"id": "x", "model": "Room", "duration_hours": 1}]}))
    with pytest.raises(ValidationError) as info:
        build_platform(Settings(db=SecretStr(f"sqlite:///{tmp_path / 'x.db'}"), planning_file=path,
                                data_dir=tmp_path), announce=lambda _t: None, dashboard=False)
    assert info.value.problems[0].where == "tasks[0].model" and info.value.problems[0].file == str(path)


def test_the_example_sites_lines_come_from_impact_yaml(tmp_path: Path) -> None:
    # the bottling site's planning.yaml says line: impact for its bearings: the pump's stop reaches line 1 after the
    # filler's 20-minute buffer, the conveyor's at once (docs/maintenance-planning.md)
    with impact_rig(tmp_path, planning_file=SITE / "planning.yaml") as rig:
        rul(rig, "conveyor-1-bearing", 0.1)
        r = rig.call("GET", "/api/v1/maintenance/plan?alternatives=0", role=Role.VIEWER)
        assert r.status_code == 200, r.text
    rows = {t["task"]: t for t in r.json()["plan"]["tasks"]}
    pump, conveyor = rows["replace-bearing/pump-1-bearing"], rows["replace-bearing/conveyor-1-bearing"]
    assert (pump["line"], pump["lineDelayHours"], pump["lineFrom"]) == ("line-1", pytest.approx(1 / 3), "impact")
    assert (conveyor["line"], conveyor["lineDelayHours"], conveyor["lineFrom"]) == ("line-1", 0.0, "impact")
    assert rows["clean-chiller-condenser"]["lineFrom"] == "file"


def test_what_if_documents_give_the_delay_by_hand(rig: ApiRig) -> None:
    pump = {**DOC["tasks"][0], "line_delay_hours": 0.5}
    r = rig.call("POST", "/api/v1/maintenance/plan?alternatives=0", role=Role.OPERATOR, json={**DOC, "tasks": [pump]})
    assert r.status_code == 200, r.text
    assert r.json()["tasks"][0]["lineDelayHours"] == 0.5
    assert all(s["hours"] == 3.5 for s in r.json()["stops"])
    # line: impact needs the site's graph and impact.yaml: the live plan's, not a what-if's
    r = rig.call("POST", "/api/v1/maintenance/plan", role=Role.OPERATOR,
                 json={**DOC, "tasks": [{**DOC["tasks"][0], "line": "impact"}]})
    assert r.status_code == 422 and [p["where"] for p in r.json()["problems"]] == ["tasks[0].line"]
