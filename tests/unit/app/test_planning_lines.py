"""``line: impact`` on the bottling site, on SQLite: each bearing's line, and how long its stop takes to reach it,
come from impact.yaml's cascade rules (the graph read once per plan); a stop reaching no costed twin stops nothing,
one reaching two is refused naming them, and a site or tenant without impact.yaml is told to add one."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import pytest

from tests.support.explain_history import SITE
from tests.support.impact_rig import impact_rig, rul
from tests.support.platform import ApiRig
from tvilling.app.impact import ImpactService
from tvilling.app.maintenance_planning import (
    MaintenancePlanner,
    build_planner,
    config_from_dict,
    load_planning,
    maintenance_planner,
)
from tvilling.core.errors import ValidationError

EXAMPLE = SITE / "planning.yaml"
PUMP, CONVEYOR = "replace-bearing/pump-1-bearing", "replace-bearing/conveyor-1-bearing"


@pytest.fixture
def rig(tmp_path: Any) -> Iterator[ApiRig]:
    with impact_rig(tmp_path, planning_file=EXAMPLE) as r:
        rul(r, "conveyor-1-bearing", 0.1)  # wearing again since its episode was cleared
        yield r


def impact_of(rig: ApiRig) -> ImpactService:
    service: ImpactService = rig.platform.app.state.impact
    return service


def test_the_pumps_bearing_stops_line_1_after_the_buffer_and_the_conveyors_at_once(
        rig: ApiRig, monkeypatch: pytest.MonkeyPatch) -> None:
    impact = impact_of(rig)
    reads = []
    graph = impact._graph

    def counted(*args: Any) -> Any:
        reads.append(args)
        return graph(*args)

    monkeypatch.setattr(impact, "_graph", counted)
    planner = maintenance_planner(rig.platform.app.state, rig.platform.services)
    assert planner.impact is impact  # the composition root's one service
    plan = planner.live_plan("acme")["plan"]
    assert len(reads) == 1  # one read of the graph for the three bearings
    rows = {t["task"]: t for t in plan["tasks"]}
    pump, conveyor = rows[PUMP], rows[CONVEYOR]
    assert (pump["line"], pump["lineDelayHours"], pump["lineFrom"]) == ("line-1", pytest.approx(1 / 3), "impact")
    assert pump["lineReason"] == "the stop of pump-1-bearing reaches line-1 after 20 min (impact.yaml)"
    assert (conveyor["line"], conveyor["lineDelayHours"], conveyor["lineFrom"]) == ("line-1", 0.0, "impact")
    assert conveyor["lineReason"].endswith("reaches line-1 at once (impact.yaml)")
    chiller = rows["clean-chiller-condenser"]
    assert (chiller["line"], chiller["lineFrom"], chiller["lineDelayHours"]) == (None, "file", 0.0)
    assert "lineReason" not in chiller
    for stop in plan["stops"]:  # each stop lasts its longest task's stop: its duration less its delay
        assert stop["line"] == "line-1" and stop["hours"] == pytest.approx(
            max(rows[t]["durationHours"] - rows[t]["lineDelayHours"] for t in stop["tasks"]), abs=1e-4)  # rounded
    # the same plan by hand (line: line-1, the pump's delay given) costs the same: the delay is all it changed
    doc, *_ = planner.live_document("acme")
    for task in doc["tasks"]:
        if task["id"] in rows and rows[task["id"]]["line"]:
            task |= {"line": "line-1", "line_delay_hours": rows[task["id"]]["lineDelayHours"]}
    by_hand = MaintenancePlanner(rig.platform.services).plan_document(doc, alternatives=0)
    assert by_hand["expectedCost"] == plan["expectedCost"]


def test_a_stop_that_reaches_no_costed_twin_stops_nothing_and_says_so(rig: ApiRig) -> None:
    config = config_from_dict({"horizon_days": 30, "calendar": {"downtime_cost_per_hour": 2400}, "tasks": [
        {"id": "hall-filters", "asset": "hall", "line": "impact", "duration_hours": 2, "crew_hours": 2,
         "preventive_cost": 100, "failure_cost": 500, "failure_downtime_hours": 8,
         "failure": {"weibull": {"shape": 2.0, "scale_hours": 2000, "age_hours": 1500}}}]})
    plan = MaintenancePlanner(rig.platform.services, config, impact=impact_of(rig)).live_plan("acme")["plan"]
    row = plan["tasks"][0]
    assert (row["line"], row["lineFrom"], row["sharedStopWith"]) == (None, "impact", [])
    assert row["lineReason"] == ("the stop of hall reaches no twin with a cost_per_hour in impact.yaml: "
                                 "nothing stops")
    assert plan["stops"] == [] and plan["expectedCost"]["plannedStops"] == 0.0


def test_a_stop_reaching_two_costed_twins_is_refused_naming_them(rig: ApiRig) -> None:
    impact = impact_of(rig)
    assert impact.config is not None
    two = ImpactService(rig.platform.services, replace(impact.config, costs={"line-1": 2400, "filler-1": 300}))
    planner = MaintenancePlanner(rig.platform.services, load_planning(EXAMPLE), impact=two)
    with pytest.raises(ValidationError) as info:
        planner.live_plan("acme")
    problems = {p.where: p for p in info.value.problems}
    # the pump's and the filler's bearings stop both; the conveyor's only the line
    assert set(problems) == {f"tasks[{PUMP}].line", "tasks[replace-bearing/filler-1-bearing].line"}
    pump = problems[f"tasks[{PUMP}].line"]
    assert "(filler-1, line-1)" in pump.message and pump.hint == "name the line by hand (line: <twin>)"
    assert pump.file == str(EXAMPLE) and info.value.message.startswith(f"2 problem(s) in {EXAMPLE}")


def test_line_impact_without_impact_yaml_says_to_add_one(rig: ApiRig) -> None:
    bare = MaintenancePlanner(rig.platform.services, load_planning(EXAMPLE))  # no impact service
    config = impact_of(rig).config
    assert config is not None
    other = ImpactService(rig.platform.services, replace(config, tenant="globex"))  # another tenant's file
    for planner in (bare, MaintenancePlanner(rig.platform.services, load_planning(EXAMPLE), impact=other)):
        with pytest.raises(ValidationError) as info:
            planner.live_plan("acme")
        assert {p.where for p in info.value.problems} >= {f"tasks[{PUMP}].line", f"tasks[{CONVEYOR}].line"}
        assert "no impact.yaml" in info.value.message and "docs/impact.md" in info.value.hint
    # a site whose planning.yaml asks for it without any impact.yaml does not start
    with pytest.raises(ValidationError) as info:
        build_planner(SimpleNamespace(planning_file=EXAMPLE), rig.platform.services)
    assert "line: impact" in info.value.message and "docs/impact.md" in info.value.hint
    assert info.value.problems[0].file == str(EXAMPLE)
