"""Planning documents: per-day figures, shutdowns, and every problem reported at once."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tvilling.core.errors import ValidationError
from tvilling.optimize.failure import LogNormalCurve, WeibullCurve
from tvilling.optimize.planning_document import problem_from_dict

TASK = {"id": "a", "line": "L1", "duration_hours": 4, "crew_hours": 8, "preventive_cost": 100,
        "failure_cost": 1000, "failure_downtime_hours": 12, "failure": {"rul_hours": {"lower": 10, "upper": 90}}}


def test_calendar_by_weekday_date_and_shutdown() -> None:
    doc = {"start": "2026-11-30T06:00:00Z", "horizon_days": 8,  # a Monday
           "calendar": {"downtime_cost_per_hour": {"default": 2000, "saturday": 500, "sunday": 0,
                                                   "2026-12-02": 100},
                        "crew_hours_per_day": {"default": 16, "sunday": 0}, "shutdowns": ["2026-12-03"]},
           "tasks": [TASK]}
    problem = problem_from_dict(doc)
    cal = problem.calendar
    assert cal.start == datetime(2026, 11, 30, 6, tzinfo=UTC)
    assert cal.downtime_cost == (2000, 2000, 100, 0, 2000, 500, 0, 2000)
    assert cal.crew_hours == (16, 16, 16, 16, 16, 16, 0, 16)
    assert problem.tasks[0].failure == LogNormalCurve(10, 90, 0.8)
    assert problem.risk_limit == 1.0


def test_defaults_and_live_failures() -> None:
    start = datetime(2026, 1, 5, tzinfo=UTC)
    curve = WeibullCurve(2.0, 100.0)
    task = {k: v for k, v in TASK.items() if k != "failure"}
    problem = problem_from_dict({"tasks": [task]}, start=start, failures={"a": curve})
    assert problem.calendar.days == 90 and problem.calendar.start == start
    assert problem.calendar.downtime_cost[0] == 0.0 and problem.calendar.crew_hours[0] == 24.0
    assert problem.tasks[0].failure is curve and problem.tasks[0].asset == "a"


def test_every_problem_at_once() -> None:
    doc = {"version": 2, "horizon_days": "long", "colour": "red",
           "calendar": {"downtime_cost_per_hour": {"someday": 1}, "crew_hours_per_day": -3},
           "tasks": [{**TASK, "duration_hours": None}, {**TASK, "id": "b", "failure": {"weibull": {"shape": 1}}},
                     {"id": "c", "duration_hours": 1}, "x"]}
    with pytest.raises(ValidationError) as info:
        problem_from_dict(doc)
    wheres = [p.where for p in info.value.problems]
    assert wheres == ["colour", "version", "horizon_days", "calendar.downtime_cost_per_hour.someday",
                      "calendar.crew_hours_per_day", "tasks[0].duration_hours", "tasks[1].failure.weibull",
                      "tasks[2].failure", "tasks[3]"]
    assert all(p.message for p in info.value.problems)
    assert info.value.message.startswith("9 problem(s) in the planning document")


@pytest.mark.parametrize("doc,where", [
    ({"tasks": []}, "tasks"), ({"tasks": [TASK], "start": "yesterday"}, "start"),
    ({"tasks": [TASK], "calendar": {"shutdowns": ["soon"]}}, "calendar.shutdowns[0]"),
    ({"tasks": [TASK], "risk_limit": 0}, "risk_limit"), ({"tasks": [TASK, TASK]}, "tasks")])
def test_single_problems_name_their_place(doc: dict[str, object], where: str) -> None:
    with pytest.raises(ValidationError) as info:
        problem_from_dict(doc)
    assert info.value.where == where


@pytest.mark.parametrize("change,where", [
    ({"start": "9999-12-31T00:00:00Z"}, "start"),
    ({"calendar": {"crew_hours_per_day": 1e18}}, "calendar.crew_hours_per_day"),
    ({"calendar": {"downtime_cost_per_hour": 1e305}}, "calendar.downtime_cost_per_hour"),
    ({"calendar": {"downtime_cost_per_hour": int("9" * 400)}}, "calendar.downtime_cost_per_hour"),
    ({"tasks": [{**TASK, "failure": {"weibull": {"shape": 200, "scale_hours": 1}}}]}, "tasks[0].failure.weibull"),
    ({"tasks": [{**TASK, "failure": {"weibull": {"shape": 2, "scale_hours": 1, "age_hours": 1e200}}}]},
     "tasks[0].failure.weibull"),
    ({"tasks": [{**TASK, "failure": {"rul_hours": {"lower": 1, "upper": 5, "level": 0.9999999999999999}}}]},
     "tasks[0].failure.rul_hours.level"),
    ({"tasks": [{**TASK, "failure": {"quantiles_hours": list(range(5000))}}]}, "tasks[0].failure.quantiles_hours"),
    ({"tasks": [{**TASK, "earliest_day": 2.7}]}, "tasks[0].earliest_day"),
    ({"tasks": [{**TASK, "preventive_cost": True}]}, "tasks[0].preventive_cost"),
    ({"allow_defer": "false"}, "allow_defer"), ({"horizon_days": 0}, "horizon_days"), ({5: 1}, "5")])
def test_hostile_values_are_problems_not_crashes(change: dict[object, object], where: str) -> None:
    with pytest.raises(ValidationError) as info:
        problem_from_dict({"tasks": [TASK], **change})
    assert where in {info.value.where, *(p.where for p in info.value.problems)}


def test_yaml_dates_are_dates() -> None:
    doc = {"start": datetime(2026, 11, 30, 6, tzinfo=UTC), "horizon_days": 3, "tasks": [TASK],
           "calendar": {"downtime_cost_per_hour": {"default": 10, datetime(2026, 12, 1).date(): 3},
                        "shutdowns": [datetime(2026, 12, 2, 0, 0)]}}
    assert problem_from_dict(doc).calendar.downtime_cost == (10, 3, 0)


def test_a_line_delay_is_read_and_line_impact_is_left_to_the_live_plan() -> None:
    task = problem_from_dict({"tasks": [{**TASK, "line_delay_hours": 0.5}]}).tasks[0]
    assert (task.line, task.line_delay_hours, task.stop_hours, task.failure_stop_hours) == ("L1", 0.5, 3.5, 11.5)
    assert problem_from_dict({"tasks": [TASK]}).tasks[0].line_delay_hours == 0.0
    with pytest.raises(ValidationError) as info:
        problem_from_dict({"tasks": [{**TASK, "line": "impact"}, {**TASK, "id": "b", "line_delay_hours": -1}]})
    assert [p.where for p in info.value.problems] == ["tasks[0].line", "tasks[1].line_delay_hours"]
    assert "live plan" in info.value.problems[0].message and "line: <twin>" in info.value.problems[0].hint
