"""Rule evaluation as a pure function: ``evaluate(rule, state, sample) -> (new state, transitions)``.

Time is the sample's own (source) time in seconds, so delays and rates mean the same thing live and in a replay
of history at any speed. Samples older than the last one evaluated are ignored (late data cannot re-open or clear
an alarm out of order).

Semantics, per rule type:

- threshold: the condition is ``value > high`` or ``value < low``. Once active it holds until the value is back
  inside the limit by ``deadband`` (``value <= high - deadband`` and ``value >= low + deadband``), so a signal
  hovering at the limit does not chatter. Bad-quality samples are not compared (their value is not trusted).
- rate: the change between the oldest sample inside ``window_s`` and the newest, divided by the elapsed time,
  compared with ``max_rate`` (per second or per minute) in the configured direction.
- quality: the condition is the sample's quality (``bad``, ``uncertain``, ``not_good``) or a stale mark.

A condition change becomes a transition only after it has held for ``on_delay_s`` (to raise) or ``off_delay_s``
(to clear), measured in source time; a change back within the delay cancels it.

>>> from tvilling.alarms.rules import PER_S, AlarmRule
>>> rule = AlarmRule(id="hot", type="threshold", property="t", model="dtmi:x:M;1", high=80.0, deadband=2.0)
>>> state, out = evaluate(rule, RuleState(), Sample(81.0, "good", "", 0.0))
>>> [t.kind for t in out], state.active
(['raise'], True)
>>> state, out = evaluate(rule, state, Sample(79.0, "good", "", 1.0))   # inside the deadband: still active
>>> out, state.active
([], True)
>>> state, out = evaluate(rule, state, Sample(77.5, "good", "", 2.0))
>>> [t.kind for t in out]
['clear']
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from tvilling.alarms.rules import PER_S, AlarmRule


@dataclass(frozen=True, slots=True)
class Sample:
    value: Any
    quality: str  # good | uncertain | bad
    reason: str
    time_s: float  # source time, seconds since the Unix epoch


@dataclass(frozen=True, slots=True)
class RuleState:
    """What one rule remembers about one point. Immutable: ``evaluate`` returns a new one."""

    active: bool = False  # the debounced condition (the alarm is raised)
    pending_since: float | None = None  # when the raw condition started to differ from ``active``
    last_time: float | None = None
    window: tuple[tuple[float, float], ...] = ()  # rate rules: (time, value) inside the window
    level: str = ""  # what tripped: high | low | rate | the quality condition


@dataclass(frozen=True, slots=True)
class Transition:
    kind: str  # raise | clear
    time_s: float
    value: Any
    level: str
    message: str


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    v = float(value)
    return v if math.isfinite(v) else None


def _threshold(rule: AlarmRule, state: RuleState, sample: Sample) -> tuple[bool, str] | None:
    if sample.quality == "bad":
        return None
    v = _number(sample.value)
    if v is None:
        return None
    db = rule.deadband if state.active else 0.0
    if rule.high is not None and v > rule.high - db:
        return True, "high"
    if rule.low is not None and v < rule.low + db:
        return True, "low"
    return False, ""


def _rate(rule: AlarmRule, state: RuleState, sample: Sample) -> tuple[tuple[bool, str] | None, RuleState]:
    v = _number(sample.value)
    if sample.quality == "bad" or v is None:
        return None, state
    window = (*(p for p in state.window if sample.time_s - p[0] <= rule.window_s), (sample.time_s, v))
    state = RuleState(state.active, state.pending_since, state.last_time, window, state.level)
    t0, v0 = window[0]
    if sample.time_s <= t0:
        return (state.active, state.level), state  # one sample: no rate yet, keep the current condition
    rate = (v - v0) / (sample.time_s - t0)
    limit = (rule.max_rate or 0.0) / PER_S[rule.per]
    over = (rule.direction != "falling" and rate > limit) or (rule.direction != "rising" and rate < -limit)
    return (over, "rate" if over else ""), state


def _quality(rule: AlarmRule, sample: Sample) -> tuple[bool, str]:
    if rule.when == "stale":
        hit = sample.reason == "stale"
    elif rule.when == "not_good":
        hit = sample.quality in ("bad", "uncertain")
    else:
        hit = sample.quality == rule.when
    return hit, (sample.reason or sample.quality) if hit else ""


def describe(rule: AlarmRule, level: str, value: Any) -> str:
    if rule.message:
        return rule.message
    if level == "high":
        return f"{rule.property} above {rule.high:g} ({value})"
    if level == "low":
        return f"{rule.property} below {rule.low:g} ({value})"
    if level == "rate":
        return f"{rule.property} changing faster than {rule.max_rate:g}/{rule.per}"
    return f"{rule.property} quality is {level or rule.when}"


def evaluate(rule: AlarmRule, state: RuleState, sample: Sample) -> tuple[RuleState, list[Transition]]:
    """Apply one sample of the rule's point; returns the new state and the transitions it caused (0 or 1)."""
    t = sample.time_s
    if state.last_time is not None and t < state.last_time:
        return state, []  # late: never evaluated out of order
    if rule.type == "threshold":
        cond = _threshold(rule, state, sample)
    elif rule.type == "rate":
        cond, state = _rate(rule, state, sample)
    else:
        cond = _quality(rule, sample)
    # States are built with the constructor, not dataclasses.replace: this runs once per sample and rule.
    active, pending, window, level = state.active, state.pending_since, state.window, state.level
    if cond is None:  # nothing to judge (bad or non-numeric value): keep the current condition and timers
        return RuleState(active, pending, t, window, level), []
    raw, new_level = cond
    if raw == active:
        return RuleState(active, None, t, window, new_level or level), []
    since = pending if pending is not None else t
    if t - since < (rule.on_delay_s if raw else rule.off_delay_s):
        return RuleState(active, since, t, window, level), []
    if raw:
        message = describe(rule, new_level, sample.value)
        return RuleState(True, None, t, window, new_level), [Transition("raise", t, sample.value, new_level, message)]
    message = f"{rule.property} back to normal ({sample.value})"
    return RuleState(False, None, t, window, ""), [Transition("clear", t, sample.value, level, message)]
