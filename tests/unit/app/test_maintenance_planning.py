"""planning.yaml checks and the conversion of a live RUL insight to a failure curve (no database)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tvilling.app.maintenance_planning import config_from_dict, curve_from_rul, load_planning, plan_digest
from tvilling.core.errors import ValidationError
from tvilling.optimize.failure import LogNormalCurve, QuantileCurve, SurvivedCurve

EXAMPLE = Path(__file__).parents[3] / "examples" / "bottling-plant" / "planning.yaml"
RULE = {"id": "service", "model": "dtmi:ex:Pump;1", "title": "Service {twin}", "line": "L", "duration_hours": 2}


def test_the_example_site_file_loads() -> None:
    config = load_planning(EXAMPLE)
    assert config.configured and [r["id"] for r in config.rules] == ["replace-bearing"]
    assert [t["asset"] for t in config.document["tasks"]] == ["chiller-1"]
    assert config.file == str(EXAMPLE)


def test_every_problem_of_a_site_file_at_once_in_file_order() -> None:
    doc = {"horizon_days": 0, "tasks": [{**RULE, "model": "Pump"}, {"asset": "x", "duration_hours": 1},
                                        {**RULE, "id": None}, {**RULE, "asset": "y"}]}
    with pytest.raises(ValidationError) as info:
        config_from_dict(doc, "site/planning.yaml")
    found = [(p.where, p.file) for p in info.value.problems]
    assert ("tasks[0].model", "site/planning.yaml") in found
    assert ("tasks[1].failure", "site/planning.yaml") in found  # a fixed task needs its own curve
    assert ("tasks[2].id", "site/planning.yaml") in found and ("tasks[3]", "site/planning.yaml") in found
    assert ("horizon_days", "site/planning.yaml") in found
    assert info.value.message.startswith(f"{len(found)} problem(s) in site/planning.yaml")


def test_a_rule_without_its_own_curve_is_fine_at_start() -> None:
    config = config_from_dict({"tasks": [RULE]})
    assert config.rules == (RULE,) and config.document["tasks"] == []


def test_an_estimate_ages_by_the_time_since_it_was_made() -> None:
    rul = {"rul_hours": {"mean": 100.0, "lower": 60.0, "upper": 150.0, "level": 0.9,
                         "quantiles": [50.0, 100.0, 8760.0], "censored_at": 8760.0}}
    curve = curve_from_rul(rul, elapsed_hours=20.0)
    assert curve == QuantileCurve((30.0, 80.0, 8740.0), censored_at=8740.0)
    without = {"rul_hours": {"mean": 100.0, "lower": 60.0, "upper": 150.0, "level": 0.9}}
    aged = curve_from_rul(without, 20.0)
    base = LogNormalCurve(60.0, 150.0, 0.9)
    assert aged == SurvivedCurve(base, 20.0) and curve_from_rul(without, 0.0) == base
    # conditional on having run 20 h: (F(20 + t) - F(20)) / (1 - F(20))
    assert aged is not None and aged.cdf(50.0) == pytest.approx(
        (base.cdf(70.0) - base.cdf(20.0)) / (1.0 - base.cdf(20.0)))
    overdue = curve_from_rul(without, 2000.0)  # far past its upper end: failure is due
    assert overdue is not None and overdue.cdf(1.0) == 1.0
    behind = curve_from_rul(rul, 9000.0)  # every quantile behind it
    assert behind == QuantileCurve((0.0,)) and behind.cdf(0.5) == 1.0
    survivors = curve_from_rul(rul, 60.0)  # one of three draws is behind: the other two, shifted
    assert survivors == QuantileCurve((40.0, 8700.0), censored_at=8700.0)
    assert curve_from_rul({}, 0.0) is None


def test_the_digest_for_the_demo_summary() -> None:
    assert plan_digest({"configured": False, "plan": None}) == {"configured": False, "tasks": [], "not_planned": 0}
    body = {"configured": True, "notPlanned": [{"task": "a"}], "plan": {
        "start": "s", "status": "optimal", "expectedCost": {"total": 12.5},
        "tasks": [{"task": "t", "date": "2026-12-01", "pFailureBefore": 0.1, "overRisk": False, "x": 1}]}}
    assert plan_digest(body) == {"configured": True, "start": "s", "status": "optimal", "expected_cost": 12.5,
                                 "not_planned": 1, "tasks": [{"task": "t", "date": "2026-12-01",
                                                              "p_failure_before": 0.1, "over_risk": False}]}


def test_line_impact_is_checked_at_start_with_a_stand_in_line() -> None:
    fixed = {"asset": "x", "line": "impact", "duration_hours": 1, "failure": {"none": True}}
    config = config_from_dict({"tasks": [{**RULE, "line": "impact"}, fixed]})
    assert config.uses_impact and not config_from_dict({"tasks": [RULE]}).uses_impact
    assert config.rules[0]["line"] == "impact" and config.document["tasks"][0]["line"] == "impact"  # probe's only
    assert load_planning(EXAMPLE).uses_impact
    with pytest.raises(ValidationError) as info:  # the delay is impact.yaml's to give
        config_from_dict({"tasks": [{**RULE, "line": "impact", "line_delay_hours": 0.2},
                                    {**fixed, "line_delay_hours": 1}]}, "p.yaml")
    assert [p.where for p in info.value.problems] == ["tasks[0].line_delay_hours", "tasks[1].line_delay_hours"]
