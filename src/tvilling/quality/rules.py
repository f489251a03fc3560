"""Quality rules Q-02…Q-10 (reliability §4.4) as one synchronous engine with per-point state.

Times are integer microseconds since the Unix epoch, passed in by the caller (``now_us``): the engine never reads
a clock, so tests drive it with synthetic time. The engine decides a quality and whether a sample goes to history
or to quarantine; exact duplicates and conflicting duplicates are decided by the store, which is the only place
that knows what was committed (the engine's state may be ahead of the database after a failed commit).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from tvilling.core.quality import Quality, Reason
from tvilling.quality.decode import MISSING, DecodedMessage, resolve_tokens, split_pointer
from tvilling.quality.mapping import MappingSet, PointSpec, TopicSpec
from tvilling.quality.units import UnitError, converter

_NUMERIC = frozenset(("double", "integer"))
_GOOD, _NO_REASON = Quality.GOOD, Reason.NONE
_NON_FINITE_STRINGS = {"nan", "+nan", "-nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"}
US = 1_000_000


@dataclass(frozen=True, slots=True)
class QualitySettings:
    """Site-wide time policy (G6). Future data beyond ``future_tolerance_s`` and data older than ``max_age_s``
    (both against the platform clock at arrival) are quarantined; anything between is history."""

    future_tolerance_s: float = 30.0
    max_age_s: float = 7 * 86_400.0
    spike_reset_after: int = 3  # after this many consecutive spikes the new level is accepted as real


@dataclass(slots=True)
class Assessment:
    """The verdict on one reading. ``value`` is in the point's unit; ``original`` keeps what arrived."""

    spec: PointSpec
    value: Any
    source_time_us: int
    quality: Quality
    reason: Reason
    store: bool
    quarantine: bool
    detail: str = ""
    unit: str | None = None
    original: dict[str, Any] | None = None
    updates_latest: bool = False
    late: bool = False


def _bad(spec: PointSpec, raw: Any, raw_unit: Any, t: int, reason: Reason, detail: str,
         value: Any = None) -> Assessment:
    """A Bad (quarantined) assessment; built only when a rule fails, never on the good path."""
    return Assessment(spec, raw if value is None else value, t, Quality.BAD, reason, store=False, quarantine=True,
                      detail=detail, unit=raw_unit if isinstance(raw_unit, str) else None)


@dataclass(slots=True)
class _State:
    latest_time_us: int | None = None
    latest_value: Any = None
    observed_at_us: int | None = None
    run_value: Any = None
    run_count: int = 0
    run_start_us: int = 0
    ref_value: float | None = None
    ref_time_us: int = 0
    spike_run: int = 0
    stale: bool = False


def _lookup(doc: dict[str, Any], tokens: tuple[str, ...]) -> Any:
    """``resolve_tokens`` with the common two-level pointer (``/points/<name>``) done as two dict lookups."""
    if len(tokens) == 2:
        node = doc.get(tokens[0], MISSING)
        if type(node) is dict:
            return node.get(tokens[1], MISSING)
        if node is MISSING:
            return MISSING
    return resolve_tokens(doc, tokens)


# Per topic, what assess_message needs for each point, resolved once: the spec, its split value and unit
# pointers, its state object (so the hot path does no pointer splitting and no state-dict lookup) and whether the
# point may take the plain path at all (numeric, no deadband).
_Plan = tuple[tuple[PointSpec, tuple[str, ...], tuple[str, ...] | None, _State, bool], ...]

# What the plain path writes, in the store's row layout: (source_time_us, value, value_json, quality, reason, unit)
# per (tenant, twin_id, name), and the newest (value, source_time_us, quality, reason, unit) per point.
SeriesKey = tuple[str, str, str]
PlainSample = tuple[int, float | None, Any, str, str, str | None]
LatestValue = tuple[Any, int, str, str, str | None]


@dataclass(slots=True)
class PlainSink:
    """Where :meth:`QualityEngine.assess_message` puts the readings that passed every rule untouched (Good, in
    order, no conversion, no deadband): straight into the row lists, with no :class:`Assessment` built for them.
    Why: at 10 points per message the Assessment and its second pass cost about half of decode + rules + rows."""

    series: dict[SeriesKey, list[PlainSample]]
    latest: dict[SeriesKey, LatestValue]
    tenant: str = ""
    good: int = 0  # readings taken this way (all Good, no reason)


@dataclass
class QualityEngine:
    settings: QualitySettings = field(default_factory=QualitySettings)
    _states: dict[tuple[str, str], _State] = field(default_factory=dict)
    _started_us: int | None = None
    _plans: dict[int, tuple[TopicSpec, _Plan]] = field(default_factory=dict)

    # -- messages -------------------------------------------------------------------------------------------
    def assess_message(self, topic: TopicSpec, msg: DecodedMessage, now_us: int,
                       plain: PlainSink | None = None) -> list[Assessment]:
        """Every mapped point of one decoded message. Points absent from the payload are skipped (not an error:
        devices may report subsets); present-but-invalid values become Bad assessments. With ``plain``, readings
        that pass every rule untouched go into it instead of the returned list (see :class:`PlainSink`); the
        verdicts and the engine's state are the same either way."""
        ts = msg.source_time_us if msg.source_time_us is not None else now_us
        doc = msg.doc
        # The time policy depends on the message only: judged once, not per point.
        in_window = self._time_verdict(ts, now_us) is None
        out: list[Assessment] = []
        fast_ok = in_window and plain is not None
        taken = 0
        for spec, pt, ut, st, fast in self._plan(topic):
            # _lookup inlined (one call per point saved): the common ``/points/<name>`` pointer is two dict gets.
            node = doc.get(pt[0], MISSING) if len(pt) == 2 else None
            raw = node.get(pt[1], MISSING) if type(node) is dict else node if node is MISSING else _lookup(doc, pt)
            if raw is MISSING:
                continue
            unit: Any = spec.source_unit
            if unit is None and ut is not None:
                node = doc.get(ut[0], MISSING) if len(ut) == 2 else None
                u = node.get(ut[1], MISSING) if type(node) is dict else node if node is MISSING else _lookup(doc, ut)
                unit = None if u is MISSING else u
            if fast and fast_ok and self._take_plain(spec, st, raw, unit, ts, now_us, plain):  # type: ignore[arg-type]
                taken += 1
            elif in_window:
                out.append(self._assess(spec, st, raw, unit, ts, now_us))
            else:
                out.append(self.assess(spec, raw, unit, ts, now_us))
        if taken:
            plain.good += taken  # type: ignore[union-attr]
        return out

    @staticmethod
    def _take_plain(spec: PointSpec, st: _State, raw: Any, unit: Any, t_us: int, now_us: int,
                    plain: PlainSink) -> bool:
        """The plain path of :meth:`_assess`: True when the reading passed every rule untouched and was written to
        ``plain``; False, with nothing changed, when any rule has something to say (then :meth:`_assess` judges
        it). Each test mirrors one rule of :meth:`_assess`; ``test_plain_path_equals_general_path`` holds the two
        to the same verdicts and states on random streams."""
        kind = type(raw)
        if kind is not float and kind is not int:  # Q-02 wrong types (bool is its own type)
            return False
        spec_unit = spec.unit
        if spec_unit is not None and unit != spec_unit and (unit is not None or spec.unit_required):
            return False  # a conversion, a missing or a foreign unit
        try:
            value = float(raw) * spec.scale + spec.offset
        except OverflowError:
            return False
        if value - value != 0.0:  # NaN or infinite (inf - inf is NaN), before or after scaling
            return False
        rng = spec.instrument_range
        if rng and not rng[0] <= value <= rng[1]:
            return False
        rng = spec.engineering_range
        if rng and not rng[0] <= value <= rng[1]:
            return False
        if st.latest_time_us is not None and t_us <= st.latest_time_us:  # late or same time
            return False
        ref = st.ref_value
        moved_ref = ref is None or t_us > st.ref_time_us
        max_rate = spec.max_rate
        if (max_rate is not None and ref is not None and t_us > st.ref_time_us
                and abs(value - ref) / ((t_us - st.ref_time_us) / US) > max_rate):
            return False
        same = value == st.run_value
        if not spec.may_be_constant and ((st.run_count + 1 if same else 1) >= spec.stuck_samples
                                         and (t_us - st.run_start_us if same else 0) >= spec.stuck_seconds * US):
            return False
        # Every rule passed: the state moves exactly as _assess moves it for a Good in-order sample.
        obs = st.observed_at_us
        if obs is None or now_us > obs:
            st.observed_at_us = now_us
        st.stale = False
        if moved_ref:
            st.ref_value, st.ref_time_us, st.spike_run = value, t_us, 0
        if same:
            st.run_count += 1
        else:
            st.run_value, st.run_count, st.run_start_us = value, 1, t_us
        st.latest_time_us, st.latest_value = t_us, value
        key = (plain.tenant, spec.twin_id, spec.name)
        group = plain.series.get(key)
        if group is None:
            plain.series[key] = group = []
        group.append((t_us, value, None, _GOOD, _NO_REASON, spec_unit))
        plain.latest[key] = (value, t_us, _GOOD, _NO_REASON, spec_unit)
        return True

    def _plan(self, topic: TopicSpec) -> _Plan:
        entry = self._plans.get(id(topic))
        if entry is not None and entry[0] is topic:  # the entry holds the topic, so its id cannot be reused
            return entry[1]
        if len(self._plans) > 10_000:  # mapping reloads leave old topics behind; start over now and then
            self._plans.clear()
        plan = tuple((spec, split_pointer(spec.pointer),
                      split_pointer(spec.unit_pointer) if spec.unit_pointer is not None else None,
                      self._state(spec), spec.type in _NUMERIC and not spec.deadband > 0) for spec in topic.points)
        self._plans[id(topic)] = (topic, plan)
        return plan

    def _state(self, spec: PointSpec) -> _State:
        key = (spec.twin_id, spec.name)
        st = self._states.get(key)
        if st is None:
            st = self._states[key] = _State()
        return st

    def _time_verdict(self, t_us: int, now_us: int) -> tuple[Reason, str] | None:
        if t_us > now_us + int(self.settings.future_tolerance_s * US):
            return Reason.CLOCK_AHEAD, f"source time {(t_us - now_us) / US:.3f} s ahead"
        if t_us < now_us - int(self.settings.max_age_s * US):
            return Reason.TOO_OLD, f"source time {(now_us - t_us) / US:.0f} s old"
        return None

    # -- one reading ----------------------------------------------------------------------------------------
    def assess(self, spec: PointSpec, raw: Any, raw_unit: Any, source_time_us: int, now_us: int) -> Assessment:
        st = self._state(spec)
        verdict = self._time_verdict(source_time_us, now_us)
        if verdict is None:
            return self._assess(spec, st, raw, raw_unit, source_time_us, now_us)
        self._observe(st, now_us)  # a reading with a bad clock still shows the point is alive
        return _bad(spec, raw, raw_unit, source_time_us, *verdict)

    @staticmethod
    def _observe(st: _State, now_us: int) -> None:
        if st.observed_at_us is None or now_us > st.observed_at_us:
            st.observed_at_us = now_us
        st.stale = False

    def _assess(self, spec: PointSpec, st: _State, raw: Any, raw_unit: Any, source_time_us: int,
                now_us: int) -> Assessment:
        """:meth:`assess` after the time policy passed (hot path: one call per point)."""
        obs = st.observed_at_us
        if obs is None or now_us > obs:
            st.observed_at_us = now_us
        st.stale = False
        if spec.type not in _NUMERIC:
            return self._non_numeric(spec, raw, raw_unit, source_time_us, st)

        # non-finite values of every spelling; wrong types are their own reason.
        kind = type(raw)
        if kind is not float and kind is not int:  # bool is its own type, so True/False go the slow way
            if raw is None:
                return _bad(spec, raw, raw_unit, source_time_us, Reason.NON_FINITE, "null value")
            if isinstance(raw, str):
                if raw.strip().lower() in _NON_FINITE_STRINGS:
                    return _bad(spec, raw, raw_unit, source_time_us, Reason.NON_FINITE, f"value {raw!r}")
                return _bad(spec, raw, raw_unit, source_time_us, Reason.WRONG_TYPE,
                            "string where a number is expected")
            if isinstance(raw, bool) or not isinstance(raw, int | float):
                return _bad(spec, raw, raw_unit, source_time_us, Reason.WRONG_TYPE,
                            f"{type(raw).__name__} where a number is expected")
        try:
            value = float(raw)
        except OverflowError:  # an integer beyond a float's range (the standard parser keeps big integers)
            return _bad(spec, raw, raw_unit, source_time_us, Reason.NON_FINITE,
                        f"integer of {raw.bit_length()} bits is beyond a float's range")
        if not math.isfinite(value):
            return _bad(spec, raw, raw_unit, source_time_us, Reason.NON_FINITE, f"value {raw!r}")
        value = value * spec.scale + spec.offset
        if not math.isfinite(value):
            return _bad(spec, raw, raw_unit, source_time_us, Reason.NON_FINITE,
                        f"value {raw!r} overflows when scaled by {spec.scale:g}")

        # units. Convert to the twin's unit; keep the original for provenance.
        original: dict[str, Any] | None = None
        if spec.unit is not None:
            if raw_unit is None:
                if spec.unit_required:
                    return _bad(spec, raw, raw_unit, source_time_us, Reason.UNIT_MISSING,
                                f"no unit given; expected one convertible to {spec.unit}")
            elif not isinstance(raw_unit, str):
                return _bad(spec, raw, raw_unit, source_time_us, Reason.UNIT_MISMATCH,
                            f"unit is {type(raw_unit).__name__}, not a name")
            elif raw_unit != spec.unit:
                try:
                    conv = converter(raw_unit, spec.unit)
                except UnitError as exc:
                    return _bad(spec, raw, raw_unit, source_time_us, Reason.UNIT_MISMATCH, exc.message)
                converted = conv(value)
                if converted != value:
                    original = {"value": raw, "unit": raw_unit}
                value = converted
            if not math.isfinite(value):
                return _bad(spec, raw, raw_unit, source_time_us, Reason.NON_FINITE, "conversion overflowed")

        # instrument range -> Bad (physically impossible reading); engineering range -> Uncertain.
        rng = spec.instrument_range
        if rng and not rng[0] <= value <= rng[1]:
            return _bad(spec, raw, raw_unit, source_time_us, Reason.OUT_OF_RANGE,
                        f"{value} outside instrument range {list(rng)}", value)
        quality, reason, detail = Quality.GOOD, Reason.NONE, ""
        rng = spec.engineering_range
        if rng and not rng[0] <= value <= rng[1]:
            quality, reason = Quality.UNCERTAIN, Reason.OUTSIDE_ENGINEERING_RANGE
            detail = f"{value} outside engineering range {list(rng)}"

        in_order = st.latest_time_us is None or source_time_us > st.latest_time_us
        if in_order:  # stuck and spike rules, inline: a call per point cost ~10 % of the rules' time
            t_us = source_time_us
            # rate of change against the last accepted (non-spike) sample.
            if spec.max_rate is not None and st.ref_value is not None and t_us > st.ref_time_us:
                rate = abs(value - st.ref_value) / ((t_us - st.ref_time_us) / US)
                if rate > spec.max_rate:
                    st.spike_run += 1
                    if st.spike_run < self.settings.spike_reset_after:
                        if quality is Quality.GOOD:
                            quality, reason, detail = (Quality.UNCERTAIN, Reason.SPIKE,
                                                       f"rate {rate:.6g}/s above {spec.max_rate:g}/s")
                    else:  # a persistent new level is a real step, not a spike
                        st.ref_value, st.ref_time_us, st.spike_run = value, t_us, 0
                else:
                    st.ref_value, st.ref_time_us, st.spike_run = value, t_us, 0
            elif st.ref_value is None or t_us > st.ref_time_us:
                st.ref_value, st.ref_time_us, st.spike_run = value, t_us, 0
            # stuck — identical values for >= stuck_samples AND >= stuck_seconds of source time.
            if value == st.run_value:
                st.run_count += 1
            else:
                st.run_value, st.run_count, st.run_start_us = value, 1, t_us
            if (not spec.may_be_constant and st.run_count >= spec.stuck_samples
                    and (t_us - st.run_start_us) >= spec.stuck_seconds * US and quality is Quality.GOOD):
                quality, reason = Quality.UNCERTAIN, Reason.STUCK
                detail = f"unchanged for {st.run_count} samples / {(t_us - st.run_start_us) / US:.0f} s"
        return self._finish(spec, st, value, source_time_us, quality, reason, detail, original, in_order)

    def _finish(self, spec: PointSpec, st: _State, value: Any, t_us: int, quality: Quality, reason: Reason,
                detail: str, original: dict[str, Any] | None, in_order: bool) -> Assessment:
        store = True
        if in_order:
            if (spec.deadband > 0 and st.latest_value is not None and quality is Quality.GOOD
                    and isinstance(value, float) and abs(value - st.latest_value) < spec.deadband):
                store = False  # inside the deadband: not history, but the point is alive (observed_at moved)
            else:
                st.latest_time_us, st.latest_value = t_us, value
        # Positional: built once per sample, and keyword passing costs measurably more.
        return Assessment(spec, value, t_us, quality, reason, store, False, detail, spec.unit, original,
                          in_order and store,
                          not in_order and st.latest_time_us is not None and t_us < st.latest_time_us)

    def _non_numeric(self, spec: PointSpec, raw: Any, raw_unit: Any, t_us: int, st: _State) -> Assessment:
        ok = isinstance(raw, bool) if spec.type == "boolean" else isinstance(raw, str)
        if not ok:
            return _bad(spec, raw, raw_unit, t_us, Reason.WRONG_TYPE,
                        f"{type(raw).__name__} where a {spec.type} is expected")
        in_order = st.latest_time_us is None or t_us > st.latest_time_us
        return self._finish(spec, st, raw, t_us, Quality.GOOD, Reason.NONE, "", None, in_order)

    # -- staleness (Q-10) -----------------------------------------------------------------------------------
    def stale_points(self, mapping: MappingSet | Iterable[PointSpec], now_us: int) -> list[PointSpec]:
        """Points silent for longer than ``stale_k × expected_period_s + stale_grace_s`` (from ``observed_at``)
        that were not already reported stale. A point never heard from counts from the engine's first call."""
        if self._started_us is None:
            self._started_us = now_us
        specs = mapping.points() if isinstance(mapping, MappingSet) else list(mapping)
        newly: list[PointSpec] = []
        for spec in specs:
            if spec.expected_period_s is None:
                continue
            st = self._states.get(spec.key)
            if st is None:
                st = self._states[spec.key] = _State()
            since = st.observed_at_us if st.observed_at_us is not None else self._started_us
            limit = int((spec.stale_k * spec.expected_period_s + spec.stale_grace_s) * US)
            if not st.stale and now_us - since > limit:
                st.stale = True
                newly.append(spec)
        return newly

    def is_stale(self, twin_id: str, name: str) -> bool:
        st = self._states.get((twin_id, name))
        return bool(st and st.stale)

    def latest_time_us(self, twin_id: str, name: str) -> int | None:
        st = self._states.get((twin_id, name))
        return st.latest_time_us if st else None
