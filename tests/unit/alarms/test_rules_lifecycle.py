"""Rule documents (validated as a whole) and the ISA-18.2-style lifecycle."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tvilling.alarms import lifecycle
from tvilling.alarms.lifecycle import Alarm
from tvilling.alarms.rules import AlarmRuleError, check_rules, load_rules, parse_rules

SITE = Path(__file__).resolve().parents[3] / "examples" / "bottling-plant"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_every_problem_is_reported_at_once() -> None:
    doc = {"version": 1, "rules": [
        {"id": "a", "model": "dtmi:x:M;1", "property": "t", "type": "threshold", "high": 2},
        {"id": "a", "model": "dtmi:x:M;1", "property": "t", "type": "threshold", "high": 1},  # duplicate id
        {"id": "b", "twin": "t1", "model": "dtmi:x:M;1", "property": "t", "type": "rate", "max_rate": 1},
        {"id": "c", "model": "x", "property": "t", "type": "quality", "when": "sometimes"},
        {"id": "d", "model": "dtmi:x:M;1", "property": "t", "type": "threshold", "high": 1, "low": 2},
        {"id": "e", "model": "dtmi:x:M;1", "property": "t", "type": "rate", "max_rate": -1, "colour": "red"},
        {"id": "f", "model": "dtmi:x:M;1", "property": "t", "type": "siren"},
        {"id": "g", "model": "dtmi:x:M;1", "property": "t", "type": "threshold"},  # no limit
    ]}
    with pytest.raises(AlarmRuleError) as info:
        parse_rules(doc, file="alarms.yaml")
    wheres = [p.where for p in info.value.problems]
    assert len(info.value.problems) >= 8, info.value.problems
    for expected in ("rules[7]", "rules[1].id", "rules[2]", "rules[3].model", "rules[3].when", "rules[4]",
                     "rules[5]", "rules[5].max_rate", "rules[6].type"):
        assert expected in wheres, (expected, wheres)
    assert all(p.file == "alarms.yaml" for p in info.value.problems)


def test_reference_checks_against_the_model_set() -> None:
    rules = parse_rules({"rules": [
        {"id": "ok", "model": "dtmi:x:Base;1", "property": "t", "type": "threshold", "high": 1},
        {"id": "no-model", "model": "dtmi:x:Nope;1", "property": "t", "type": "threshold", "high": 1},
        {"id": "no-prop", "model": "dtmi:x:Base;1", "property": "zz", "type": "threshold", "high": 1},
        {"id": "no-twin", "twin": "ghost", "property": "t", "type": "quality"},
        {"id": "twin-ok", "twin": "t1", "property": "t", "type": "quality"},
    ]})
    models = {"dtmi:x:Base;1": frozenset({"t"}), "dtmi:x:Sub;1": frozenset({"t", "u"})}
    problems = check_rules(rules, models, {"t1": "dtmi:x:Sub;1"})
    assert [p.where.split(" ")[1] for p in problems] == ["(no-model)", "(no-prop)", "(no-twin)"]
    # Inheritance: a rule on the base model applies to twins of models extending it.
    subtype = {("dtmi:x:Sub;1", "dtmi:x:Base;1")}
    applies = rules.for_twin("t9", "dtmi:x:Sub;1", lambda m, b: (m, b) in subtype)
    assert [r.id for r in applies] == ["ok", "no-prop"]


def test_the_example_site_rules_parse() -> None:
    rules = load_rules(SITE / "alarms.yaml")
    assert {r.type for r in rules.rules} == {"threshold", "rate", "quality"}


def _alarm() -> Alarm:
    return Alarm(id="a1", tenant="t", twin_id="x", source="p", severity="major", message="m", raised_at=T0)


def test_ack_before_clear() -> None:
    a = _alarm()
    acked = lifecycle.acknowledge(a, T0 + timedelta(seconds=1), "token:o", "on it")
    assert acked is not None and (acked.state, acked.active, acked.acked) == ("acknowledged", True, True)
    assert lifecycle.acknowledge(acked, T0, "token:x") is None  # twice: no change
    done = lifecycle.clear(acked, T0 + timedelta(seconds=2))
    assert done is not None and done.state == "cleared" and not done.open
    assert lifecycle.clear(done, T0) is None and lifecycle.acknowledge(done, T0, "x") is None


def test_clear_before_ack_stays_visible_until_acked() -> None:
    returned = lifecycle.clear(_alarm(), T0 + timedelta(seconds=1))
    assert returned is not None and (returned.state, returned.open, returned.active) == ("returned", True, False)
    # It comes back before anyone looked: the same alarm is active again.
    again = lifecycle.reactivate(returned, T0 + timedelta(seconds=2), 99, "m2")
    assert again is not None and again.state == "active" and again.cleared_at is None
    assert lifecycle.reactivate(again, T0, 1, "m") is None
    returned = lifecycle.clear(again, T0 + timedelta(seconds=3))
    assert returned is not None
    closed = lifecycle.acknowledge(returned, T0 + timedelta(seconds=4), "token:o")
    assert closed is not None and closed.state == "cleared" and closed.acked_by == "token:o"
