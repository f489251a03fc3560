"""The command guard as a pure function: parsing (every problem at once), slew, rate, interlocks, fail-closed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tvilling.core.errors import Problem
from tvilling.core.quality import Quality
from tvilling.core.twin import PropertyMetadata, Twin
from tvilling.policy.command_guard import CommandGuard, check_guard, parse_guard

NOW = datetime(2026, 5, 1, 12, tzinfo=UTC)


def twin(values: dict[str, Any], age_s: float = 0.0, quality: Quality = Quality.GOOD) -> Twin:
    meta = {k: PropertyMetadata(NOW - timedelta(seconds=age_s), quality=quality) for k in values}
    return Twin("p1", "dtmi:x:P;1", "t", dict(values), meta)


def parse(raw: Any) -> tuple[CommandGuard, list[Problem]]:
    problems: list[Problem] = []
    return parse_guard(raw, "/commands/0/guard", problems), problems


def test_parsing_reports_every_problem() -> None:
    _g, problems = parse({"max_step": -1, "rate_per_min": 0, "approvals": 3, "approval_ttl_s": "x", "colour": 1,
                          "interlocks": [{"property": "p"}, {"above": 1}, {"property": "q", "below": "low"}, 7]})
    wheres = {p.where for p in problems}
    assert {"/commands/0/guard/max_step", "/commands/0/guard/rate_per_min", "/commands/0/guard/approvals",
            "/commands/0/guard/approval_ttl_s", "/commands/0/guard/colour", "/commands/0/guard/interlocks/0",
            "/commands/0/guard/interlocks/1/property", "/commands/0/guard/interlocks/2/below",
            "/commands/0/guard/interlocks/3"} <= wheres
    _g, problems = parse({"interlocks": [{"property": "p", "above": 10**400}]})
    assert next(p.message for p in problems) == "above must be a finite number"
    _g, problems = parse({"max_step": 5})
    assert [p.message for p in problems] == ["max_step needs property (the twin property the command drives)"]
    assert parse(None) == (CommandGuard(), []) and not CommandGuard().active
    guard, problems = parse({"property": "speed", "max_step": 5, "approvals": 2, "interlocks": [
        {"property": "mode", "equals": "manual", "reason": "hand mode"}]})
    assert problems == [] and guard.active and guard.approvals == 2 and guard.approval_ttl_s == 900
    assert guard.as_dict()["interlocks"] == ["mode equals 'manual'"]


@pytest.mark.parametrize(("payload", "current", "ok"), [(55.0, 50.0, True), (60.0, 50.0, True), (60.5, 50.0, False),
                                                        (39.0, 50.0, False), ("x", 50.0, False), (55.0, None, False),
                                                        (float("nan"), 50.0, False), (10**400, 50.0, False)])
def test_slew_fails_closed(payload: Any, current: Any, ok: bool) -> None:
    guard, _ = parse({"property": "speed", "max_step": 10})
    values = {} if current is None else {"speed": current}
    assert (check_guard(guard, payload, twin(values), NOW) == []) is ok


def test_rate_counts_only_at_the_request() -> None:
    guard, _ = parse({"rate_per_min": 2})
    assert check_guard(guard, 1, twin({}), NOW, recent_count=1) == []
    assert "limit is 2 per minute" in check_guard(guard, 1, twin({}), NOW, recent_count=2)[0].message
    assert check_guard(guard, 1, twin({}), NOW) == []  # at dispatch the rate is not counted again


@pytest.mark.parametrize(("values", "age", "quality", "blocked"), [
    ({"p": 5.0, "mode": "auto"}, 0, Quality.GOOD, ""),
    ({"p": 6.5, "mode": "auto"}, 0, Quality.GOOD, "p is 6.5, above 6"),
    ({"p": 0.5, "mode": "auto"}, 0, Quality.GOOD, "p is 0.5, below 1"),
    ({"p": 5.0, "mode": "manual"}, 0, Quality.GOOD, "mode is 'manual' (hand mode)"),
    ({"p": 5.0, "mode": "auto"}, 31, Quality.GOOD, "last updated 31 s ago"),
    ({"p": 5.0, "mode": "auto"}, 0, Quality.UNCERTAIN, "uncertain, not good"),
    ({"mode": "auto"}, 0, Quality.GOOD, "no value is known"),
    ({"p": "high", "mode": "auto"}, 0, Quality.GOOD, "is not a number"),
])
def test_interlocks(values: dict[str, Any], age: float, quality: Quality, blocked: str) -> None:
    guard, problems = parse({"interlocks": [{"property": "p", "above": 6, "below": 1, "max_age_s": 30},
                                            {"property": "mode", "equals": "manual", "reason": "hand mode"}]})
    assert problems == []
    found = check_guard(guard, None, twin(values, age, quality), NOW)
    if blocked:
        assert found and blocked in found[0].message and found[0].hint == "wait until the interlock clears"
    else:
        assert found == []
