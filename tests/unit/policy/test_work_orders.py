"""The work-order lifecycle, rules and guardrails (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tvilling.core.errors import ValidationError
from tvilling.policy.work_order_rules import parse_policy
from tvilling.policy.work_orders import Limits, TransitionError, Trigger, WorkOrder, apply, decide, due_by

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(hours=24)


def order(state: str = "proposed") -> WorkOrder:
    return WorkOrder(id="w1", tenant="t", twin_id="pump-1", title="x", created_at=T0, created_by="policy:r",
                     state=state)


def test_lifecycle_moves_and_refuses_with_a_hint() -> None:
    opened = apply(order(), "approve", T0 + DAY, "ops", "go")
    assert (opened.state, opened.closed_at, opened.comment) == ("open", None, "go")
    done = apply(opened, "complete", T0 + 2 * DAY, "tech", None)
    assert (done.state, done.closed_at, done.closed_by, done.comment) == ("done", T0 + 2 * DAY, "tech", None)
    assert apply(order(), "reject", T0, "ops", "not now").state == "rejected"
    assert apply(opened, "cancel", T0, "ops", None).state == "cancelled"
    with pytest.raises(TransitionError) as exc:
        apply(opened, "approve", T0, "ops", None)
    assert "open" in str(exc.value) and "complete" in exc.value.hint and "cancel" in exc.value.hint
    with pytest.raises(TransitionError) as exc:
        apply(done, "cancel", T0, "ops", None)
    assert "closed" in exc.value.hint


def test_guardrails_in_order() -> None:
    free = {"live": None, "last_closed": None, "cooldown": DAY, "now": T0, "released_last_day": 0}
    d = decide("auto", Limits(), **free)  # type: ignore[arg-type]
    assert (d.create, d.state, d.mode) == (True, "open", "auto")
    assert decide("approve", Limits(), **free).state == "proposed"  # type: ignore[arg-type]
    assert decide("auto", Limits(mode="approve"), **free).state == "proposed"  # type: ignore[arg-type]
    off = decide("auto", Limits(mode="off"), **free)  # type: ignore[arg-type]
    assert not off.create and "off" in off.reason
    live = decide("auto", Limits(), **{**free, "live": order("open")})  # type: ignore[arg-type]
    assert not live.create and "w1" in live.reason
    cool = decide("auto", Limits(), **{**free, "last_closed": T0 - timedelta(hours=3)})  # type: ignore[arg-type]
    assert not cool.create and "cool-down" in cool.reason
    later = decide("auto", Limits(), **{**free, "last_closed": T0 - 2 * DAY})  # type: ignore[arg-type]
    assert later.create
    capped = decide("auto", Limits(max_auto_per_day=2), **{**free, "released_last_day": 2})  # type: ignore[arg-type]
    assert (capped.create, capped.state) == (True, "proposed") and "daily limit of 2" in capped.reason


def test_due_by_is_the_lower_end_of_the_rul_interval() -> None:
    t = Trigger("rul", "b1", T0, p_failure=0.7, horizon_hours=72, rul_hours={"mean": 60, "lower": 40, "upper": 90})
    assert due_by(t, T0 + DAY) == T0 + timedelta(hours=40)
    assert due_by(Trigger("anomaly", "b1", T0), T0) is None


def test_rules_parse_match_and_render() -> None:
    policy = parse_policy({"version": 1, "mode": "auto", "max_auto_per_day": 3, "rules": [
        {"id": "b72", "model": "dtmi:x:Bearing;1", "p_failure": 0.5, "mode": "auto",
         "title": "Replace the bearing of {twin} ({p_failure} within {horizon_hours} h)"},
        {"id": "odd", "model": "dtmi:x:Pump;1", "trigger": "anomaly"}]})
    assert policy.limits == Limits("auto", 3)
    b72, odd = policy.rules
    high = Trigger("rul", "b1", T0, p_failure=0.62, horizon_hours=72.0)
    assert b72.matches(high) and not b72.matches(Trigger("rul", "b1", T0, p_failure=0.3))
    assert not b72.matches(Trigger("anomaly", "b1", T0)) and odd.matches(Trigger("anomaly", "p", T0))
    assert b72.render(b72.title, high) == "Replace the bearing of b1 (62% within 72 h)"
    assert odd.render(odd.title, Trigger("anomaly", "p", T0, signals=("flow", "head"))) == \
        "Inspect p: abnormal flow, head"
    assert odd.mode == "approve"  # the safe default: a person decides
    assert [r.id for r in policy.for_model("dtmi:x:Bearing2;1", lambda a, b: b == "dtmi:x:Bearing;1")] == ["b72"]


def test_every_problem_in_a_document_is_reported_at_once() -> None:
    with pytest.raises(ValidationError) as exc:
        parse_policy({"mode": "sometimes", "colour": 1, "rules": [
            {"id": "a", "model": "pump", "p_failure": 1.5, "mode": "yolo", "title": "{nope}"},
            {"id": "a", "model": "dtmi:x:P;1", "trigger": "anomaly", "p_failure": 0.2, "priority": "asap"},
            "not a rule"]})
    text = str(exc.value)
    for part in ("mode: one of off, approve, auto", "colour: unknown key", "rules[0].model", "rules[0].p_failure",
                 "rules[0].mode", "unknown placeholder(s) nope", "rules[1].id: 'a' is used twice",
                 "rules[1].p_failure: applies to trigger rul only", "rules[1].priority", "rules[2]: a mapping"):
        assert part in text, part
    with pytest.raises(ValidationError, match="'rules' list"):
        parse_policy({"mode": "auto"})
