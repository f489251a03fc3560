"""Cascade impact on small graphs: stops travel along "stops" rules in their direction, slow-downs never turn into
stops, a twin reached both ways stops, the earliest path wins, cycles end, and the cost per hour adds up."""

from __future__ import annotations

import pytest

from tvilling.app.impact import parse_config
from tvilling.core.errors import ValidationError
from tvilling.simulation.cascade import Edge, Rule, cascade, cost_per_hour

EDGES = [Edge("motor", "drives", "pump"), Edge("pump", "hasPart", "bearing"), Edge("pump", "feeds", "filler"),
         Edge("line", "contains", "pump"), Edge("line", "contains", "filler"), Edge("chiller", "cools", "filler"),
         Edge("line", "locatedIn", "hall"), Edge("pump", "feeds", "pump")]  # a self-loop must not hang the walk
RULES = [Rule("drives", "forward"), Rule("hasPart", "backward"), Rule("feeds", "forward", after_min=20),
         Rule("contains", "backward"), Rule("cools", "forward", "slows", after_min=10)]


def _by_twin(failed: str) -> dict[str, tuple[str, float, int]]:
    return {e.twin: (e.effect, e.after_min, e.hops) for e in cascade(EDGES, RULES, failed)}


def test_a_seized_bearing_stops_its_pump_the_filler_it_feeds_and_the_line() -> None:
    got = _by_twin("bearing")
    assert got == {"pump": ("stops", 0.0, 1), "line": ("stops", 0.0, 2), "filler": ("stops", 20.0, 2)}
    (filler,) = [e for e in cascade(EDGES, RULES, "bearing") if e.twin == "filler"]
    assert filler.path == ("pump hasPart bearing", "pump feeds filler")
    assert "motor" not in got and "hall" not in got  # drives travels forward only; locatedIn has no rule


def test_a_slow_down_never_becomes_a_stop_and_a_stop_wins_over_a_slow_down() -> None:
    assert _by_twin("chiller") == {"filler": ("slows", 10.0, 1), "line": ("slows", 10.0, 2)}
    both = [Rule("cools", "forward", "slows"), Rule("contains", "backward"), Rule("feeds", "forward")]
    edges = [Edge("chiller", "cools", "filler"), Edge("line", "contains", "filler"), Edge("chiller", "feeds", "line")]
    assert {e.twin: e.effect for e in cascade(edges, both, "chiller")} == {"line": "stops", "filler": "slows"}


def test_the_earliest_path_wins() -> None:
    edges = [Edge("a", "slow", "c"), Edge("a", "fast", "b"), Edge("b", "fast", "c")]
    rules = [Rule("slow", "forward", after_min=60), Rule("fast", "forward", after_min=5)]
    (c,) = [e for e in cascade(edges, rules, "a") if e.twin == "c"]
    assert (c.after_min, c.path) == (10.0, ("a fast b", "b fast c"))


def test_cost_per_hour_adds_stopped_and_slowed_twins() -> None:
    effects = cascade(EDGES, RULES, "chiller")
    assert cost_per_hour(effects, "chiller", {"line": 2400.0, "chiller": 50.0}, {"line": 0.25}) == 50.0 + 600.0
    stops = cascade(EDGES, RULES, "motor")
    assert cost_per_hour(stops, "motor", {"line": 2400.0}, {}) == 2400.0
    assert cascade(EDGES, RULES, "nowhere") == []


def test_the_document_is_checked_with_every_problem_named() -> None:
    with pytest.raises(ValidationError) as err:
        parse_config({"rules": [{"relationship": "feeds", "direction": "sideways"}], "bogus": 1})
    assert {p.where for p in err.value.problems} >= {"impact.rules.0.direction", "impact.bogus"}
    with pytest.raises(ValidationError, match=r"slow_factor: line=1\.5"):
        parse_config({"rules": [{"relationship": "feeds", "direction": "forward"}], "slow_factor": {"line": 1.5}})
    with pytest.raises(ValidationError, match="rules"):
        parse_config({"rules": []})
    cfg = parse_config({"rules": [{"relationship": "feeds", "direction": "forward", "after_min": 20}],
                        "repair_hours": {"default": 6, "pump": 36}})
    assert cfg.rules == (Rule("feeds", "forward", "stops", 20.0),) and cfg.repair("pump") == 36 and cfg.repair("x") == 6


def test_only_limits_which_twins_a_rule_affects() -> None:
    edges = [Edge("site", "contains", "line"), Edge("line", "contains", "filler")]
    rules = [Rule("contains", "backward", only=("Line",))]
    assert [e.twin for e in cascade(edges, rules, "filler", {"line": "Line", "site": "Site"})] == ["line"]
    assert [e.twin for e in cascade(edges, [Rule("contains", "backward")], "filler")] == ["line", "site"]


def test_cycles_with_delays_end_and_a_stopped_twin_slows_others_from_its_stop_time() -> None:
    edges = [Edge("a", "feeds", "b"), Edge("b", "feeds", "a"), Edge("b", "cools", "c")]
    rules = [Rule("feeds", "forward", after_min=5), Rule("cools", "forward", "slows", after_min=3)]
    got = {e.twin: (e.effect, e.after_min) for e in cascade(edges, rules, "a")}
    assert got == {"b": ("stops", 5.0), "c": ("slows", 8.0)}  # b stops at 5; its slow-down reaches c 3 min later


def test_two_rules_on_one_relationship_and_from_models() -> None:
    edges = [Edge("site", "contains", "line"), Edge("line", "contains", "filler"), Edge("line", "contains", "pump")]
    models = {"site": "Site", "line": "Line", "filler": "Filler", "pump": "Pump"}
    rules = [Rule("contains", "backward", only=("Line",), from_models=("Filler",)),
             Rule("contains", "backward", "slows", only=("Site",))]
    assert {e.twin: e.effect for e in cascade(edges, rules, "filler", models)} == {"line": "stops", "site": "slows"}
    assert cascade(edges, rules, "pump", models) == []  # the pump is not a Filler: the line runs on
    with pytest.raises(ValueError, match="after_min"):
        cascade(edges, [Rule("contains", "backward", after_min=-1)], "filler")
