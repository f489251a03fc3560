"""k-of-n redundancy (``need``) and several failures at once in the cascade: a twin fed by spare sources stops only
when too few of them still run — at the arrival of the stop that tips it, with the path through that source and the
others it stopped ``together`` with; a ``need`` above the sources the graph gives is read as "needs all" and says
so; only stops are counted; rules without ``need`` behave as before; cycles still end."""

from __future__ import annotations

import pytest

from tvilling.app.impact import parse_config
from tvilling.core.errors import ValidationError
from tvilling.simulation.cascade import Edge, Effect, Rule, cascade, cost_per_hour

PUMPS = [Edge("pump-1", "feeds", "filler"), Edge("pump-2", "feeds", "filler"), Edge("pump-3", "feeds", "filler"),
         Edge("motor-2", "drives", "pump-2"), Edge("line", "contains", "filler")]


def _rules(need: int | None) -> list[Rule]:
    return [Rule("feeds", "forward", after_min=20, need=need), Rule("drives", "forward", after_min=5),
            Rule("contains", "backward")]


def _walk(failed: str | list[str], need: int | None, edges: list[Edge] = PUMPS) -> dict[str, Effect]:
    return {e.twin: e for e in cascade(edges, _rules(need), failed)}


def test_one_of_two_one_pump_stopping_stops_nothing_both_stop_the_filler_at_the_later_arrival() -> None:
    two = [e for e in PUMPS if "pump-3" not in (e.source, e.target)]
    assert _walk("pump-1", 1, two) == {}
    assert set(_walk("motor-2", 1, two)) == {"pump-2"}  # the motor stops its pump; the other pump still feeds
    got = _walk(["pump-1", "motor-2"], 1, two)  # pump-2 stops 5 min after its motor; the filler 20 min later
    filler = got["filler"]
    assert (filler.effect, filler.after_min, filler.hops) == ("stops", 25.0, 2)
    assert filler.path == ("motor-2 drives pump-2", "pump-2 feeds filler") and filler.together == ("pump-1",)
    assert filler.warning == ""
    line = got["line"]  # a chain through the gate: the line stops with its filler, along a plain rule
    assert (line.after_min, line.path[-1], line.together) == (25.0, "line contains filler", None)


def test_two_of_three_stop_when_the_second_source_stops() -> None:
    assert _walk("pump-1", 2) == {}
    got = _walk(["pump-3", "motor-2"], 2)
    assert (got["filler"].after_min, got["filler"].together) == (25.0, ("pump-3",))
    everything = _walk(["pump-1", "pump-2", "pump-3"], 2)  # all at 0: the second in (time, hops, name) order tips
    assert everything["filler"].path == ("pump-2 feeds filler",) and everything["filler"].together == ("pump-1",)


def test_need_above_the_sources_the_twin_has_is_read_as_needs_all_and_warns() -> None:
    got = _walk("pump-1", 4)
    assert got["filler"].after_min == 20.0 and got["filler"].together == ()
    assert got["filler"].warning == "filler needs 4 feeds sources but has 3: it stops when any one of them stops"
    assert _walk("pump-1", 3)["filler"].warning == ""  # 3 of 3: needs all, as the file says; no warning


def test_without_need_any_source_stopping_propagates_as_before() -> None:
    got = _walk("pump-1", None)
    assert (got["filler"].after_min, got["filler"].path, got["filler"].together) == (20.0, ("pump-1 feeds filler",),
                                                                                      None)
    assert cascade(PUMPS, _rules(None), "motor-2") == cascade(PUMPS, _rules(None), ["motor-2"])


def test_several_failures_at_once_take_the_earliest_path_and_are_not_reported_as_affected() -> None:
    edges = [Edge("a", "slow", "c"), Edge("b", "fast", "c"), Edge("a", "fast", "b"), Edge("c", "fast", "d")]
    rules = [Rule("slow", "forward", after_min=60), Rule("fast", "forward", after_min=10)]
    got = {e.twin: (e.after_min, e.path) for e in cascade(edges, rules, ["a", "b"])}
    assert got == {"c": (10.0, ("b fast c",)), "d": (20.0, ("b fast c", "c fast d"))}  # b is failed, not affected
    assert cost_per_hour(cascade(edges, rules, ["a", "b"]), ["a", "b"], {"a": 1.0, "b": 2.0, "d": 4.0}, {}) == 7.0
    assert [e.twin for e in cascade(edges, rules, ["a", "a"])] == ["b", "c", "d"]  # a twin named twice fails once


def test_only_stops_are_counted_a_slowed_source_still_runs_and_an_untipped_stop_passes_nothing() -> None:
    edges = [*PUMPS[:2], Edge("chiller", "cools", "pump-1"), Edge("chiller-1", "chills", "filler"),
             Edge("chiller-2", "chills", "filler")]
    rules = [Rule("feeds", "forward", need=1), Rule("cools", "forward", "slows"),
             Rule("chills", "forward", "slows", after_min=30, need=1)]
    assert {e.twin: e.effect for e in cascade(edges, rules, ["chiller", "pump-2"])} == {"pump-1": "slows"}
    assert cascade(edges, rules, "pump-2") == []  # not even a slow-down: the other pump carries it
    assert cascade(edges, rules, "chiller-1") == []
    both = {e.twin: (e.effect, e.after_min, e.together) for e in cascade(edges, rules, ["chiller-1", "chiller-2"])}
    assert both == {"filler": ("slows", 30.0, ("chiller-1",))}


def test_sources_are_counted_from_the_graph_once_each_and_through_the_rules_filters() -> None:
    edges = [Edge("pump-1", "feeds", "filler"), Edge("pump-1", "feeds", "filler"), Edge("tank", "feeds", "filler"),
             Edge("pump-2", "feeds", "filler")]
    models = {"pump-1": "Pump", "pump-2": "Pump", "tank": "Tank"}
    rules = [Rule("feeds", "forward", need=1, from_models=("Pump",))]
    assert cascade(edges, rules, "pump-1", models) == []  # n = 2 pumps: the tank is no source of this rule
    assert [e.together for e in cascade(edges, rules, ["pump-1", "pump-2"], models)] == [("pump-1",)]
    plain_too = [Rule("feeds", "forward"), *rules]  # a plain rule beside a gate on one relationship: it stops first
    assert [(e.twin, e.together) for e in cascade(edges, plain_too, "pump-1", models)] == [("filler", None)]


def test_cycles_through_a_gate_end() -> None:
    edges = [Edge("a", "feeds", "b"), Edge("b", "feeds", "c"), Edge("c", "feeds", "a"), Edge("d", "feeds", "b"),
             Edge("b", "feeds", "b")]
    rules = [Rule("feeds", "forward", after_min=1, need=1)]
    assert cascade(edges, rules, "a") == []  # b still has d
    got = {e.twin: (e.after_min, e.together) for e in cascade(edges, rules, ["a", "d"])}
    assert got == {"b": (1.0, ("a",)), "c": (2.0, ())}  # c's one source: need 1 of 1; a is failed already
    with pytest.raises(ValueError, match="need"):
        cascade(edges, [Rule("feeds", "forward", need=0)], "a")


def test_need_in_the_document_is_an_integer_of_at_least_one() -> None:
    cfg = parse_config({"rules": [{"relationship": "feeds", "direction": "forward", "need": 2}]})
    assert cfg.rules == (Rule("feeds", "forward", need=2),)
    for bad in (0, -1, "2", 1.5, 2.0, True):
        with pytest.raises(ValidationError) as err:
            parse_config({"rules": [{"relationship": "feeds", "direction": "forward", "need": bad}]})
        assert err.value.where == "impact.rules.0.need", bad
