"""Rule semantics: threshold hysteresis and delays in source time, rate of change, quality, late samples."""

from __future__ import annotations

from typing import Any

from tvilling.alarms.engine import RuleState, Sample, Transition, evaluate
from tvilling.alarms.rules import AlarmRule

M = "dtmi:test:M;1"


def run(rule: AlarmRule, points: list[tuple[float, Any]], quality: str = "good",
        state: RuleState | None = None) -> tuple[RuleState, list[tuple[float, str]]]:
    """Feed (time, value) points; returns the final state and (time, kind) of every transition."""
    state = state or RuleState()
    out: list[Transition] = []
    for t, v in points:
        state, trs = evaluate(rule, state, Sample(v, quality, "", t))
        out.extend(trs)
    return state, [(tr.time_s, tr.kind) for tr in out]


def high(**kw: Any) -> AlarmRule:
    return AlarmRule(id="r", type="threshold", property="p", model=M, high=80.0, **kw)


def test_threshold_raises_above_and_clears_below() -> None:
    _, trs = run(high(), [(0, 79.0), (1, 80.0), (2, 80.5), (3, 85.0), (4, 79.9)])
    assert trs == [(2, "raise"), (4, "clear")]


def test_deadband_hysteresis_prevents_chatter() -> None:
    noisy = [(t, 80.5 if t % 2 else 79.5) for t in range(10)]
    _, without = run(high(), noisy)
    _, with_db = run(high(deadband=2.0), noisy)
    assert len(without) == 9  # every crossing after the first sample is a transition
    assert with_db == [(1, "raise")]  # stays active while within the deadband
    _, trs = run(high(deadband=2.0), [(0, 81.0), (1, 78.5), (2, 77.9)])
    assert trs == [(0, "raise"), (2, "clear")]


def test_low_limit_and_its_deadband() -> None:
    rule = AlarmRule(id="r", type="threshold", property="p", model=M, low=10.0, deadband=1.0)
    _, trs = run(rule, [(0, 12.0), (1, 9.0), (2, 10.5), (3, 11.2)])
    assert trs == [(1, "raise"), (3, "clear")]


def test_on_delay_in_source_time_and_cancellation() -> None:
    rule = high(on_delay_s=10.0)
    # Above for only 5 s, then back: never raised.
    _, trs = run(rule, [(0, 90.0), (5, 90.0), (6, 70.0), (20, 70.0)])
    assert trs == []
    # Above from t=100 on: raised at the first sample at least 10 s later.
    _, trs = run(rule, [(100, 90.0), (104, 91.0), (109.9, 92.0), (110, 93.0)])
    assert trs == [(110, "raise")]


def test_off_delay_keeps_the_alarm_until_the_value_stays_back() -> None:
    rule = high(off_delay_s=30.0)
    _, trs = run(rule, [(0, 90.0), (10, 70.0), (20, 90.0), (30, 70.0), (59, 70.0), (60, 70.0)])
    assert trs == [(0, "raise"), (60, "clear")]


def test_late_samples_are_ignored() -> None:
    state, trs = run(high(), [(10, 70.0), (5, 95.0)])
    assert trs == [] and state.last_time == 10


def test_bad_quality_and_non_numeric_values_are_not_compared() -> None:
    state, trs = run(high(), [(0, 95.0)], quality="bad")
    assert trs == [] and not state.active
    _, trs = run(high(), [(0, "hot"), (1, None), (2, True)])
    assert trs == []


def test_rate_of_change_per_minute_over_a_window() -> None:
    rule = AlarmRule(id="r", type="rate", property="p", model=M, max_rate=6.0, per="minute", window_s=30.0)
    # 0.05/s = 3/min: fine. Then 0.5/s = 30/min: raised; then flat: the window forgets the ramp and clears.
    slow = [(float(t), 100 + 0.05 * t) for t in range(0, 60, 5)]
    ramp = [(60.0 + t, 103.0 + 0.5 * t) for t in range(0, 20, 5)]
    flat = [(80.0 + t, 110.5) for t in range(0, 60, 5)]
    _, trs = run(rule, slow + ramp + flat)
    assert [k for _, k in trs] == ["raise", "clear"]
    assert 60 < trs[0][0] <= 70 and trs[1][0] > 80


def test_rate_direction() -> None:
    falling = AlarmRule(id="r", type="rate", property="p", model=M, max_rate=1.0, direction="falling")
    _, trs = run(falling, [(0, 10.0), (1, 20.0), (2, 30.0)])
    assert trs == []
    _, trs = run(falling, [(0, 30.0), (1, 20.0)])
    assert trs == [(1, "raise")]


def test_quality_rule_for_longer_than_n_seconds() -> None:
    rule = AlarmRule(id="q", type="quality", property="p", model=M, when="not_good", on_delay_s=60.0)
    state = RuleState()
    out: list[tuple[float, str]] = []
    for t, q in [(0, "uncertain"), (30, "bad"), (59, "bad"), (60, "bad"), (70, "good")]:
        state, trs = evaluate(rule, state, Sample(1.0, q, "", t))
        out += [(tr.time_s, tr.kind) for tr in trs]
    assert out == [(60, "raise"), (70, "clear")]


def test_stale_rule_fires_on_the_stale_mark_only() -> None:
    rule = AlarmRule(id="s", type="quality", property="p", model=M, when="stale")
    state, trs = evaluate(rule, RuleState(), Sample(1.0, "bad", "out_of_range", 0))
    assert trs == []
    state, trs = evaluate(rule, state, Sample(1.0, "bad", "stale", 5))
    assert [t.kind for t in trs] == ["raise"] and "stale" in trs[0].message


def test_docstring_examples() -> None:
    import doctest

    import tvilling.alarms.engine

    result = doctest.testmod(tvilling.alarms.engine)
    assert result.attempted > 0 and result.failed == 0
