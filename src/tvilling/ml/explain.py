"""Why did a signal change? Rank the signals around it by how well they account for the change.

The question an engineer asks the morning after ("why did line 1 slow down last night?") is answered the way a
reliability engineer would do it by hand with a trend tool, made systematic:

1. **The change.** The target's *reference* (a window before the incident, by default as long as it) gives its normal
   level and spread (median, 1.4826·MAD). The *deviating buckets* are the incident's buckets more than
   ``z_threshold`` robust standard deviations away in the asked direction; the first of them is the *onset*. No
   deviating bucket: there is nothing to explain, and the answer says so (with the levels).
2. **Each candidate** (a numeric signal of a twin near the target in the graph, already put on the same bucket grid
   by the caller) gets, against its own reference:
   - ``z``: how far its mean over the deviating buckets is from its reference median, in its robust standard
     deviations (a flag that flips from an always-0 reference is capped, not infinite);
   - its *onset*, judged around the target's onset: if it is out of its normal band at the target's onset, the start
     of that unbroken departure, at most ``max_lag`` buckets back (a precursor stays changed; an excursion that came
     back before is noise); otherwise its first departure after the target's onset that lasted two buckets (a single
     spike is not an onset; the target's onset is found the same way); ``lead`` = target onset − candidate onset
     (positive: it changed first);
   - ``r``: the strongest correlation with the target over reference + incident, with the candidate leading by 0 to
     ``max_lag`` buckets (a cause acts now or a little later, never earlier).
3. **Score** = |r| · (1 − e^(−|z| / z_threshold)) · timing, where timing is 1 for a signal that changed before the
   target, ``with_weight`` for one that changed in the same bucket, and ``after_weight`` for one that changed only
   after it (more likely an effect: a motor's power falls *because* the line slowed). Candidates are ranked by score;
   each comes with its evidence, so the ranking can be checked by a person rather than taken on trust.
4. **What was set, and what flipped, first.** A *setting* (something people or controllers set: a DTDL writable
   property such as a speed setpoint) or a *state* (a signal that only takes 0 and 1: jammed, running) that left its
   band at or before the target's onset is ranked ahead of every measurement, by score among themselves. Why: a
   measurement that is a function of the target (a motor's power, the chiller's load when the line slows)
   correlates with it best of all, so correlation alone ranks effects first; a setting cannot be an effect of the
   line's throughput, and a flipped state is what an engineer checks first.

This is correlation with a time order, not proof of cause: the answer lists evidence, in order. Pure: numpy only,
no clock, no I/O; the app layer reads history and the graph (:mod:`tvilling.app.explain`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from tvilling.core.errors import ValidationError

Direction = Literal["down", "up", "any"]
MAD_TO_SD = 1.4826
Z_CAP = 50.0  # a signal constant in its reference (a flag, a setpoint) that moves is "very far", not infinitely
MIN_REFERENCE = 3  # finite reference buckets a signal needs
MIN_PAIRS = 6  # finite (target, candidate) pairs for a correlation


@dataclass(frozen=True, slots=True)
class Signal:
    """One signal on the common grid: ``values[i]`` is the mean of bucket i (NaN: no reading in it)."""

    twin: str
    name: str
    values: np.ndarray
    unit: str = ""
    hops: int = 0  # graph distance from the target's twin
    path: tuple[str, ...] = ()  # how it is related: ("line-1 contains pump-1", ...)
    setting: bool = False  # something people or controllers set (a DTDL writable property): cannot be an effect
    state: bool | None = None  # a 0/1 flag; None: decided from ``values`` (a caller with coarse buckets knows better)


@dataclass(frozen=True, slots=True)
class Settings:
    z_threshold: float = 3.0
    max_lag: int = 6  # buckets a cause may lead the target by
    before_weight: float = 1.0
    with_weight: float = 1.0
    after_weight: float = 0.25
    hop_weight: float = 0.1  # evidence being equal, the nearer twin in the graph comes first
    top: int = 10


@dataclass(frozen=True, slots=True)
class Level:
    median: float
    scale: float  # robust standard deviation, floored


@dataclass(frozen=True, slots=True)
class Contributor:
    twin: str
    name: str
    unit: str
    hops: int
    path: tuple[str, ...]
    reference: float
    spread: float  # robust standard deviation in the reference (floored)
    during: float  # mean over the target's deviating buckets
    z: float
    onset: int | None  # bucket index
    lead: int | None  # target onset - candidate onset, buckets
    r: float
    lag: int  # buckets the candidate leads by at its best correlation
    score: float
    kind: str = "measurement"  # "setting" | "state" (a 0/1 flag) | "measurement"
    first: bool = False  # a setting or state that changed at or before the target: ranked ahead of measurements

    @property
    def timing(self) -> str:
        if self.lead is None:
            return "did not leave its normal band"
        return "changed before" if self.lead > 0 else "changed with" if self.lead == 0 else "changed after"


@dataclass(frozen=True, slots=True)
class Explanation:
    target: Signal
    reference: Level | None
    deviating: tuple[int, ...]  # bucket indices of the target's change
    onset: int | None
    during: float | None
    contributors: tuple[Contributor, ...] = ()
    skipped: tuple[tuple[str, str, str], ...] = ()  # (twin, name, why)
    notes: tuple[str, ...] = field(default=())

    @property
    def changed(self) -> bool:
        return self.onset is not None


def level(values: np.ndarray) -> Level | None:
    """Median and robust spread; the floor keeps a near-constant reference from making every wiggle "far"."""
    finite = values[np.isfinite(values)]
    if finite.size < MIN_REFERENCE:
        return None
    med = float(np.median(finite))
    mad = float(np.median(np.abs(finite - med))) * MAD_TO_SD
    return Level(med, max(mad, 1e-3 * abs(med), 1e-9))


def _deviation(values: np.ndarray, ref: Level) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return (values - ref.median) / ref.scale


def _first_sustained(away: np.ndarray, start: int) -> int | None:
    """The first bucket from ``start`` on that is away and whose next bucket is away too (or the last bucket): one
    spike — the plant's transmitters make them — is not an onset."""
    idx = np.flatnonzero(away[start:]) + start
    for i in idx:
        if i + 1 >= away.size or away[i + 1]:
            return int(i)
    return None


def _onset_near(away: np.ndarray, onset: int, max_lag: int, n_reference: int) -> int | None:
    """When the candidate left its band, judged around the target's onset: if it is away at the onset, the start of
    that unbroken departure (at most ``max_lag`` buckets back) — a precursor stays changed, a noise excursion before
    the onset that came back does not count; else the first sustained departure after the onset (an effect, or
    unrelated); None if it never left its band in the incident."""
    if away[onset]:
        i = onset
        while i > max(0, onset - max_lag) and away[i - 1]:
            i -= 1
        return i
    return _first_sustained(away, onset) if onset >= n_reference else None


def _best_correlation(target: np.ndarray, x: np.ndarray, max_lag: int) -> tuple[float, int]:
    """max |corr(target[t], x[t - lag])| over lag in [0, max_lag]; (r, lag); (0, 0) without enough pairs."""
    best, best_lag = 0.0, 0
    n = target.size
    for lag in range(0, min(max_lag, n - MIN_PAIRS) + 1):
        a, b = target[lag:], x[: n - lag]
        ok = np.isfinite(a) & np.isfinite(b)
        if ok.sum() < MIN_PAIRS:
            continue
        a, b = a[ok], b[ok]
        sa, sb = a.std(), b.std()
        if sa <= 0 or sb <= 0:
            continue
        r = float(np.mean((a - a.mean()) * (b - b.mean())) / (sa * sb))
        if abs(r) > abs(best) + 1e-12:
            best, best_lag = r, lag
    return best, best_lag


def explain(target: Signal, candidates: Sequence[Signal], n_reference: int, *,
            direction: Direction = "any", settings: Settings | None = None) -> Explanation:
    """Buckets ``[0, n_reference)`` are the reference, the rest the incident (see the module docstring)."""
    s = settings or Settings()
    n = target.values.size
    if not 0 < n_reference < n:
        raise ValidationError("the reference and the incident must both have buckets", where="window")
    if any(c.values.size != n for c in candidates):
        raise ValidationError("every signal must be on the target's bucket grid", where="candidates")
    ref = level(target.values[:n_reference])
    if ref is None:
        return Explanation(target, None, (), None, None, notes=(
            f"{target.twin}.{target.name} has fewer than {MIN_REFERENCE} readings in the reference window",))
    dev = _deviation(target.values, ref)
    incident = np.arange(n_reference, n)
    with np.errstate(invalid="ignore"):
        hit = {"down": dev[incident] < -s.z_threshold, "up": dev[incident] > s.z_threshold,
               "any": np.abs(dev[incident]) > s.z_threshold}[direction]
    deviating = incident[np.nan_to_num(hit, nan=0).astype(bool)]
    if deviating.size == 0:
        return Explanation(target, ref, (), None, None, notes=(
            f"{target.twin}.{target.name} stayed within {s.z_threshold:g} robust standard deviations of its "
            f"reference level {ref.median:.4g} ({direction})",))
    onset = _first_sustained(np.isin(np.arange(n), deviating), n_reference) or int(deviating[0])
    during = float(np.nanmean(target.values[deviating]))
    contributors: list[Contributor] = []
    skipped: list[tuple[str, str, str]] = []
    for c in candidates:
        got = _contributor(target, c, n_reference, deviating, onset, s)
        if isinstance(got, str):
            skipped.append((c.twin, c.name, got))
        else:
            contributors.append(got)
    contributors.sort(key=lambda k: (not k.first, -k.score, k.hops, k.twin, k.name))
    return Explanation(target, ref, tuple(int(i) for i in deviating), onset, during,
                       tuple(contributors[: s.top]), tuple(skipped))


def _contributor(target: Signal, c: Signal, n_reference: int, deviating: np.ndarray, onset: int,
                 s: Settings) -> Contributor | str:
    ref = level(c.values[:n_reference])
    if ref is None:
        return f"fewer than {MIN_REFERENCE} readings in the reference window"
    during_values = c.values[deviating]
    if not np.isfinite(during_values).any():
        return "no reading while the target deviated"
    during = float(np.nanmean(during_values))
    z = float(np.clip((during - ref.median) / ref.scale, -Z_CAP, Z_CAP))
    dev = _deviation(c.values, ref)
    with np.errstate(invalid="ignore"):
        away = np.nan_to_num(np.abs(dev) > s.z_threshold, nan=0).astype(bool)
    cand_onset = _onset_near(away, onset, s.max_lag, n_reference)
    lead = onset - cand_onset if cand_onset is not None else None
    r, lag = _best_correlation(target.values, c.values, s.max_lag)
    timing = (0.0 if lead is None else s.before_weight if lead > 0 else s.with_weight if lead == 0
              else s.after_weight)
    score = abs(r) * (1.0 - math.exp(-abs(z) / s.z_threshold)) * timing / (1.0 + s.hop_weight * c.hops)
    finite = c.values[np.isfinite(c.values)]
    state = c.state if c.state is not None else bool(np.isin(finite, (0.0, 1.0)).all())
    kind = "setting" if c.setting else "state" if state else "measurement"
    first = kind != "measurement" and lead is not None and lead >= 0 and abs(z) >= s.z_threshold
    return Contributor(c.twin, c.name, c.unit, c.hops, c.path, ref.median, ref.scale, during, z, cand_onset, lead,
                       r, lag, round(score, 6), kind, first)


def as_dict(e: Explanation, times: Sequence[float], bucket_s: float) -> dict[str, Any]:
    """JSON-ready; ``times[i]`` is bucket i's start in epoch seconds (the reference and the incident need not be
    adjacent), which the API turns into RFC 3339."""
    def at(i: int | None) -> float | None:
        return None if i is None else times[i]

    def num(v: float | None) -> float | None:
        return None if v is None or not math.isfinite(v) else v

    ref = e.reference
    return {
        "changed": e.changed,
        "target": {"twin": e.target.twin, "name": e.target.name, "unit": e.target.unit,
                   "reference": num(ref.median) if ref else None, "spread": num(ref.scale) if ref else None,
                   "during": num(e.during), "since": at(e.onset), "deviatingBuckets": len(e.deviating)},
        "contributors": [{
            "twin": k.twin, "name": k.name, "unit": k.unit, "hops": k.hops, "path": list(k.path),
            "reference": num(k.reference), "spread": num(k.spread), "during": num(k.during),
            "change": num(k.during - k.reference),
            "z": num(k.z), "since": at(k.onset), "leadS": None if k.lead is None else k.lead * bucket_s,
            "timing": k.timing, "correlation": num(k.r), "lagS": k.lag * bucket_s, "score": k.score,
            "kind": k.kind, "first": k.first,
        } for k in e.contributors],
        "skipped": [{"twin": t, "name": n, "why": why} for t, n, why in e.skipped],
        "notes": list(e.notes),
    }
