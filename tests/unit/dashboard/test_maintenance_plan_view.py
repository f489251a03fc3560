"""The Maintenance plan page's pure parts: summary, rows, timeline and crew chart from a live plan's answer."""

from __future__ import annotations

import copy
from typing import Any

from tvilling.dashboard.pages import maintenance_plan_view as view
from tvilling.optimize.maintenance import solve, windows
from tvilling.optimize.planning_document import problem_from_dict

# Day 0 is Friday 2026-12-04; Saturdays are cheap, Sundays have no crew, Tuesday 2026-12-08 is a shutdown.
CALENDAR = {"downtime_cost_per_hour": {"default": 2400, "saturday": 900, "sunday": 0},
            "crew_hours_per_day": {"default": 16, "sunday": 0}, "shutdowns": ["2026-12-08"]}
DOCUMENT = {"version": 1, "horizon_days": 10, "risk_limit": 0.2, "calendar": CALENDAR, "tasks": []}


def calendar(doc: dict[str, Any], start: str, days: int) -> list[dict[str, Any]]:
    """The per-day calendar a plan carries, for a document's calendar."""
    cal = problem_from_dict({**doc, "start": start, "horizon_days": days, "tasks": [
        {"id": "c", "duration_hours": 1, "failure": {"none": True}}]}).calendar
    return [{"day": d, "date": cal.date(d).isoformat(), "lostPerHour": cal.downtime_cost[d],
             "crewHours": cal.crew_hours[d]} for d in range(days)]


def task(tid: str, asset: str, title: str, day: int | None, **more: Any) -> dict[str, Any]:
    return {"task": tid, "asset": asset, "title": title, "line": "line-1", "day": day,
            "date": None if day is None else f"2026-12-{4 + day:02d}", "pFailureBefore": 0.0016, "overRisk": False,
            "riskCost": 158.77, "preventiveCost": 1797.1, "durationHours": 4.0, "crewHours": 8.0,
            "sharedStopWith": [], "windows": [], "workOrder": None, **more}


RESULT: dict[str, Any] = {
    "configured": True, "file": "site/planning.yaml",
    "notPlanned": [{"task": "replace-bearing/fan-9", "asset": "fan-9", "reason": "no RUL estimate for this twin yet"}],
    "estimates": {"pump-1-bearing": {"at": "2026-12-04T05:30:00+00:00", "rulHours": {}, "pFailure": 0.1,
                                     "horizonHours": 72}},
    "plan": {
        "start": "2026-12-04T06:00:00+00:00", "days": 10, "riskLimit": 0.2, "method": "cp-sat",
        "status": "optimal", "solveSeconds": 0.097,
        "expectedCost": {"total": 17921.83, "risk": 1145.91, "preventive": 5975.91, "plannedStops": 10800.0},
        "bound": 17921.82,
        "tasks": [
            task("replace-bearing/pump-1-bearing", "pump-1-bearing", "Replace the bearing <b>", 1,
                 sharedStopWith=["replace-bearing/fan-1"], pFailureBefore=0.25, overRisk=True,
                 windows=[{"day": 4, "date": "2026-12-08", "expectedCost": 18579.2, "extra": 657.38,
                           "pFailureBefore": 0.0102}],
                 workOrder={"id": "wo-1", "state": "open", "title": "Replace it"}, failureSource="rul"),
            task("replace-bearing/fan-1", "fan-1", "Replace the fan", 1, sharedStopWith=[
                "replace-bearing/pump-1-bearing"]),
            task("clean", "chiller-1", "", 5, line=None),
            task("descale", "tank-1", "Descale the tank", None, line="line-2")],
        "stops": [{"line": "line-1", "day": 1, "date": "2026-12-05", "hours": 4.0, "cost": 3600.0,
                   "tasks": ["replace-bearing/fan-1", "replace-bearing/pump-1-bearing"]}],
        "crew": [{"day": 1, "date": "2026-12-05", "used": 16.0, "available": 16.0},
                 {"day": 5, "date": "2026-12-09", "used": 8.0, "available": 16.0}],
        "violations": [], "calendar": calendar(DOCUMENT, "2026-12-04T06:00:00+00:00", 10)}}


def test_numbers_read_as_an_operations_manager_expects() -> None:
    assert view.money(17921.83) == "€17,922" and view.money(None) == "–"
    assert view.extra(657.38) == "+€657" and view.extra(-12.4) == "−€12"
    assert view.pct(0.0016) == "0.16%" and view.pct(0.25) == "25.0%" and view.pct(None) == "–"
    assert view.weekday("2026-12-05") == "Sat"


def test_the_calendar_is_read_day_by_day_from_the_plan() -> None:
    calendar = view.calendar_days(RESULT["plan"])
    assert calendar is not None
    lost, crew = calendar
    assert view.horizon_dates(RESULT["plan"]) == [f"2026-12-{d:02d}" for d in range(4, 14)]
    assert lost[:5] == [2400, 900, 0, 2400, 0]  # Fri, Sat, Sun, Mon, the Tuesday shutdown
    assert crew[:5] == [16, 16, 0, 16, 16]
    assert view.calendar_days({k: v for k, v in RESULT["plan"].items() if k != "calendar"}) is None


def test_summary_and_kpis_name_the_plan_its_status_and_its_cost() -> None:
    lines = {mark: text for _label, text, mark in view.summary(RESULT)}
    assert lines["plan-start"] == "2026-12-04 06:00 UTC"
    assert lines["plan-horizon"] == "10 days, 2026-12-04 → 2026-12-13"
    assert lines["plan-status"] == "optimal · cp-sat · 0.10 s"
    assert lines["plan-cost"] == "€17,922 = risk €1,146 + preventive €5,976 + planned stops €10,800"
    assert lines["plan-risk-limit"].startswith("20%") and lines["plan-file"] == "site/planning.yaml"
    feasible = copy.deepcopy(RESULT)
    feasible["plan"] |= {"status": "feasible", "bound": 17000.0}
    assert "at most €922 cheaper" in {m: t for _l, t, m in view.summary(feasible)}["plan-status"]
    assert view.kpis(RESULT) == {"total": "€17,922", "risk": "€1,146", "preventive": "€5,976", "stops": "€10,800",
                                 "tasks": "3 (+1 later)"}


def test_task_rows_carry_dates_costs_shared_stops_other_days_and_work_orders() -> None:
    rows = {r["task"]: r for r in view.task_rows(RESULT)}
    pump = rows["replace-bearing/pump-1-bearing"]
    assert (pump["date"], pump["weekday"], pump["daySort"]) == ("2026-12-05", "Sat", 1)
    assert pump["p"] == "25.0%" and pump["overRisk"] is True
    assert pump["basis"] == "live RUL, 2026-12-04 05:30"
    assert pump["cost"] == "€1,956" and pump["costHint"] == "risk €159 · preventive €1,797"
    assert pump["shared"] == "Replace the fan" and pump["alternatives"] == ["2026-12-08 (+€657)"]
    assert (pump["woId"], pump["woState"], pump["woTitle"]) == ("wo-1", "open", "Replace it")
    assert rows["replace-bearing/fan-1"]["basis"] == "planning file's curve"  # no estimate
    assert rows["replace-bearing/fan-1"]["woId"] == ""
    assert rows["clean"]["title"] == "clean" and rows["clean"]["line"] == "–"  # no title: the id
    assert pump["line"] == "line-1"
    delayed = view.task_rows({**RESULT, "plan": {**RESULT["plan"], "tasks": [
        task("t", "pump-1-bearing", "", 1, lineDelayHours=1 / 3)]}})
    assert delayed[0]["line"] == "line-1 after 20 min"  # line: impact, behind the filler's buffer
    later = rows["descale"]
    assert later["date"] == "after the horizon" and later["weekday"] == "" and later["daySort"] > 10
    assert view.not_planned_rows(RESULT) == [{"key": "replace-bearing/fan-9", "task": "replace-bearing/fan-9",
                                              "asset": "fan-9", "reason": "no RUL estimate for this twin yet"}]


def test_two_tasks_with_one_title_get_their_ids_in_the_label() -> None:
    names = view.titles([{"task": "a/x", "title": "Grease"}, {"task": "a/y", "title": "Grease"},
                         {"task": "b", "title": ""}])
    assert names == {"a/x": "Grease · a/x", "a/y": "Grease · a/y", "b": "b"}


def test_the_timeline_has_a_row_per_task_and_line_stop_and_shades_days_without_crew_or_production() -> None:
    options = view.timeline_options(RESULT["plan"], view.calendar_days(RESULT["plan"]))
    dates = view.horizon_dates(RESULT["plan"])
    assert options["xAxis"]["data"] == [*dates, view.LATER]  # a task waits past the horizon
    assert options["yAxis"][0]["data"] == ["Replace the bearing <b>", "Replace the fan", "clean", "Descale the tank",
                                           "line-1 stops"]
    planned, others, stops, no_crew, no_production = options["series"]
    assert [p["value"][:2] for p in planned["data"]] == [
        ["2026-12-05", "Replace the bearing <b>"], ["2026-12-05", "Replace the fan"], ["2026-12-09", "clean"],
        [view.LATER, "Descale the tank"]]
    assert "&lt;b&gt;" in planned["data"][0]["tip"] and "<b>" not in planned["data"][0]["tip"]  # titles escaped
    assert others["data"][0]["value"] == ["2026-12-08", "Replace the bearing <b>", 0.0102]
    assert "+€657" in others["data"][0]["tip"]
    assert stops["data"][0]["value"] == ["2026-12-05", "line-1 stops", 4.0]
    assert [dates[i] for i, v in enumerate(no_crew["data"]) if v] == ["2026-12-06", "2026-12-13"]  # Sundays
    assert [dates[i] for i, v in enumerate(no_production["data"]) if v] == ["2026-12-08"]  # the shutdown
    assert options["visualMap"]["max"] == 0.2 and options["visualMap"]["seriesIndex"] == 0
    assert view.timeline_height(RESULT["plan"]) == 116 + 34 * 5
    assert options["dataZoom"][0]["endValue"] == len(dates)  # a task after the horizon: all of it, "later" too
    bare = view.timeline_options(RESULT["plan"], None)  # calendar unknown: no shading
    assert [s["name"] for s in bare["series"]] == ["Planned", "Other days", "Line stops"]


def test_the_crew_chart_covers_the_horizon_when_the_calendar_is_known() -> None:
    calendar = view.calendar_days(RESULT["plan"])
    options = view.crew_options(RESULT["plan"], calendar)
    available, used = options["series"]
    assert options["xAxis"]["data"] == view.horizon_dates(RESULT["plan"])
    assert available["data"][2] == 0 and used["data"][1] == 16.0 and used["data"][5] == 8.0 and sum(used["data"]) == 24
    only_used = view.crew_options(RESULT["plan"], None)
    assert only_used["xAxis"]["data"] == ["2026-12-05", "2026-12-09"]
    assert only_used["series"][0]["data"] == [16.0, 16.0]


def test_a_plan_from_the_engine_has_the_shape_the_page_reads() -> None:
    doc = {**DOCUMENT, "start": "2026-12-04T06:00:00Z", "tasks": [
        {"id": f"bearing/{a}", "asset": a, "title": f"Replace the bearing of {a}", "line": "line-1",
         "duration_hours": 4, "crew_hours": 8, "preventive_cost": 1800, "failure_cost": 12000,
         "failure_downtime_hours": 36, "failure": {"rul_hours": {"lower": 100, "upper": 400, "level": 0.8}}}
        for a in ("pump-1", "fan-1")]}
    plan = solve(problem_from_dict(doc))
    result: dict[str, Any] = {"configured": True, "file": "planning.yaml", "notPlanned": [], "estimates": {},
              "plan": plan.as_dict(windows(plan, 3))}
    rows = view.task_rows(result)
    assert sorted(r["task"] for r in rows) == ["bearing/fan-1", "bearing/pump-1"]
    assert all(r["date"] == t["date"] for r, t in zip(rows, result["plan"]["tasks"], strict=True))
    calendar = view.calendar_days(result["plan"])
    options = view.timeline_options(result["plan"], calendar)
    assert len(options["series"][0]["data"]) == 2 and view.summary(result) and view.kpis(result)
    assert len(view.crew_options(result["plan"], calendar)["xAxis"]["data"]) == 10


def test_the_timeline_opens_on_the_days_with_something_on_them() -> None:
    plan = copy.deepcopy(RESULT["plan"]) | {"days": 60}
    plan["tasks"] = plan["tasks"][:3]  # none after the horizon
    assert view.zoom_end(plan, view.horizon_dates(plan)) == 13  # last: day 5 (+7), two weeks at least
    plan["tasks"][2] |= {"day": 40, "date": "2027-01-13"}
    assert view.zoom_end(plan, view.horizon_dates(plan)) == 47
    plan["tasks"][2] |= {"day": 58, "date": "2027-01-31"}
    assert view.zoom_end(plan, view.horizon_dates(plan)) == 59  # never past the horizon
