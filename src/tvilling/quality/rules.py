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


class _Bad:
    """Builds Bad (quarantined) assessments; a small object instead of a closure per reading (hot path)."""

    __slots__ = ("raw", "spec", "t", "unit")

    def __init__(self, spec: PointSpec, raw: Any, raw_unit: Any, t: int) -> None:
        self.spec, self.raw, self.unit, self.t = spec, raw, raw_unit, t

    def __call__(self, reason: Reason, detail: str, value: Any = None) -> Assessment:
        return Assessment(self.spec, self.raw if value is None else value, self.t, Quality.BAD, reason,
                          store=False, quarantine=True, detail=detail,
                          unit=self.unit if isinstance(self.unit, str) else None)


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


@dataclass
class QualityEngine:
    settings: QualitySettings = field(default_factory=QualitySettings)
    _states: dict[tuple[str, str], _State] = field(default_factory=dict)
    _started_us: int | None = None
    _tokens: dict[str, tuple[str, ...]] = field(default_factory=dict)

    # -- messages -------------------------------------------------------------------------------------------
    def assess_message(self, topic: TopicSpec, msg: DecodedMessage, now_us: int) -> list[Assessment]:
        """Every mapped point of one decoded message. Points absent from the payload are skipped (not an error:
        devices may report subsets); present-but-invalid values become Bad assessments."""
        ts = msg.source_time_us if msg.source_time_us is not None else now_us
        out: list[Assessment] = []
        tokens = self._tokens
        for spec in topic.points:
            pt = tokens.get(spec.pointer)
            if pt is None:
                pt = tokens[spec.pointer] = split_pointer(spec.pointer)
            raw = resolve_tokens(msg.doc, pt)
            if raw is MISSING:
                continue
            unit: Any = spec.source_unit
            if unit is None and spec.unit_pointer is not None:
                ut = tokens.get(spec.unit_pointer)
                if ut is None:
                    ut = tokens[spec.unit_pointer] = split_pointer(spec.unit_pointer)
                u = resolve_tokens(msg.doc, ut)
                unit = None if u is MISSING else u
            out.append(self.assess(spec, raw, unit, ts, now_us))
        return out

    # -- one reading ----------------------------------------------------------------------------------------
    def assess(self, spec: PointSpec, raw: Any, raw_unit: Any, source_time_us: int, now_us: int) -> Assessment:
        st = self._states.get(spec.key)
        if st is None:
            st = self._states[spec.key] = _State()
        st.observed_at_us = now_us if st.observed_at_us is None else max(st.observed_at_us, now_us)
        st.stale = False

        bad = _Bad(spec, raw, raw_unit, source_time_us)
        if source_time_us > now_us + int(self.settings.future_tolerance_s * US):
            return bad(Reason.CLOCK_AHEAD, f"source time {(source_time_us - now_us) / US:.3f} s ahead")
        if source_time_us < now_us - int(self.settings.max_age_s * US):
            return bad(Reason.TOO_OLD, f"source time {(now_us - source_time_us) / US:.0f} s old")
        if not spec.numeric:
            return self._non_numeric(spec, raw, source_time_us, st, bad)

        # non-finite values of every spelling; wrong types are their own reason.
        if raw is None:
            return bad(Reason.NON_FINITE, "null value")
        if isinstance(raw, str):
            if raw.strip().lower() in _NON_FINITE_STRINGS:
                return bad(Reason.NON_FINITE, f"value {raw!r}")
            return bad(Reason.WRONG_TYPE, "string where a number is expected")
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            return bad(Reason.WRONG_TYPE, f"{type(raw).__name__} where a number is expected")
        value = float(raw)
        if not math.isfinite(value):
            return bad(Reason.NON_FINITE, f"value {raw!r}")
        value = value * spec.scale + spec.offset

        # units. Convert to the twin's unit; keep the original for provenance.
        original: dict[str, Any] | None = None
        if spec.unit is not None:
            if raw_unit is None:
                if spec.unit_required:
                    return bad(Reason.UNIT_MISSING, f"no unit given; expected one convertible to {spec.unit}")
            elif not isinstance(raw_unit, str):
                return bad(Reason.UNIT_MISMATCH, f"unit is {type(raw_unit).__name__}, not a name")
            elif raw_unit != spec.unit:
                try:
                    conv = converter(raw_unit, spec.unit)
                except UnitError as exc:
                    return bad(Reason.UNIT_MISMATCH, exc.message)
                converted = conv(value)
                if converted != value:
                    original = {"value": raw, "unit": raw_unit}
                value = converted
            if not math.isfinite(value):
                return bad(Reason.NON_FINITE, "conversion overflowed")

        # instrument range -> Bad (physically impossible reading); engineering range -> Uncertain.
        if spec.instrument_range and not spec.instrument_range[0] <= value <= spec.instrument_range[1]:
            return bad(Reason.OUT_OF_RANGE, f"{value} outside instrument range {list(spec.instrument_range)}",
                       value)
        quality, reason, detail = Quality.GOOD, Reason.NONE, ""
        if spec.engineering_range and not spec.engineering_range[0] <= value <= spec.engineering_range[1]:
            quality, reason = Quality.UNCERTAIN, Reason.OUTSIDE_ENGINEERING_RANGE
            detail = f"{value} outside engineering range {list(spec.engineering_range)}"

        in_order = st.latest_time_us is None or source_time_us > st.latest_time_us
        if in_order:
            quality, reason, detail = self._stuck_and_spike(spec, st, value, source_time_us, quality, reason,
                                                            detail)
        return self._finish(spec, st, value, source_time_us, quality, reason, detail, original, in_order)

    def _stuck_and_spike(self, spec: PointSpec, st: _State, value: float, t_us: int, quality: Quality,
                         reason: Reason, detail: str) -> tuple[Quality, Reason, str]:
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
        return quality, reason, detail

    def _finish(self, spec: PointSpec, st: _State, value: Any, t_us: int, quality: Quality, reason: Reason,
                detail: str, original: dict[str, Any] | None, in_order: bool) -> Assessment:
        store = True
        if in_order:
            if (spec.deadband > 0 and st.latest_value is not None and quality is Quality.GOOD
                    and isinstance(value, float) and abs(value - st.latest_value) < spec.deadband):
                store = False  # inside the deadband: not history, but the point is alive (observed_at moved)
            else:
                st.latest_time_us, st.latest_value = t_us, value
        return Assessment(spec, value, t_us, quality, reason, store=store, quarantine=False, detail=detail,
                          unit=spec.unit, original=original, updates_latest=in_order and store,
                          late=not in_order and st.latest_time_us is not None and t_us < st.latest_time_us)

    def _non_numeric(self, spec: PointSpec, raw: Any, t_us: int, st: _State, bad: _Bad) -> Assessment:
        ok = isinstance(raw, bool) if spec.type == "boolean" else isinstance(raw, str)
        if not ok:
            return bad(Reason.WRONG_TYPE, f"{type(raw).__name__} where a {spec.type} is expected")
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
