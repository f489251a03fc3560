"""One twin's live monitor: readings in (source time), insights out. Synchronous and clock-free.

Readings arrive as partial updates (each transmitter has its own period), so the monitor keeps the latest
spike-filtered value of every signal (sample-and-hold) and scores the whole vector whenever one of them changes.
Per signal, a reading older than the last one accepted is late and ignored for scoring (it is still stored by
ingestion). The first ``warmup`` complete vectors teach the detector the healthy state; afterwards:

* an alert episode opens after ``open_after`` consecutive anomalous vectors (score ≥ threshold); it reports the
  contributing signals and since when (the first anomalous vector of the run) -> ``insight.anomaly``;
* it closes after ``quiet_hours`` without an anomalous vector -> ``insight.cleared``; the trend is reset
  (a part that is back to normal was repaired or replaced);
* while an episode is open and a health indicator is configured, the degradation trend gives RUL and
  P(failure within the horizon) -> ``insight.rul`` (first estimate, then on a change ≥ ``min_change`` or every
  ``publish_every_hours``).

With a drift policy (``spec.drift``, see :mod:`tvilling.ml.drift_policy`) the detector's residuals and/or inputs
are watched: a regime change raises ``insight.drift``; ``recalibrate``/``retrain`` then collect a fresh window,
re-fit, and raise ``insight.recalibrated`` with the error before and after. Every model the monitor fits (after
warm-up and after each re-fit) is queued in ``trained`` for the service to register (``app/registry.py``).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tvilling.app.monitoring_config import MonitorSpec
from tvilling.ml.anomaly import ARTimeDetector, Contribution, EnsembleDetector, Explanation, MultivariateDetector
from tvilling.ml.drift_policy import DriftWatch, error_metrics, refit_baseline, residual
from tvilling.ml.features import BaselineDetector, RollingMedian
from tvilling.ml.trend import ExponentialTrend, excess_over

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def iso(t_s: float) -> str:
    return (_EPOCH + timedelta(seconds=t_s)).isoformat().replace("+00:00", "Z")


def parse_iso(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return (dt - _EPOCH).total_seconds()


def good_reading(change: Any) -> tuple[float, float] | None:
    """(value, source time in s) of one ``twin.telemetry`` change ``{"new", "quality", "source_time", …}``, or None
    when it cannot be scored: bad quality, not a finite number, no source time."""
    if not isinstance(change, dict):
        return None
    value, t_s = change.get("new"), parse_iso(change.get("source_time"))
    if (change.get("quality") == "bad" or isinstance(value, bool) or not isinstance(value, int | float)
            or not math.isfinite(value) or t_s is None):
        return None
    return float(value), t_s


@dataclass(frozen=True)
class Insight:
    kind: str  # insight.anomaly | insight.cleared | insight.rul
    data: dict[str, Any]


@dataclass
class Trained:
    """A detector the monitor fitted, waiting to be registered (``reason``: warmup, recalibrate or retrain)."""

    reason: str
    detector: Any
    start: float  # source time of the first / last training vector, s since the epoch
    end: float
    points: int
    fingerprint: str
    metrics: dict[str, Any] = field(default_factory=dict)
    insight: dict[str, Any] | None = None  # the insight.recalibrated data; the service adds the version


def _digest(rows: list[dict[str, float]]) -> str:
    return hashlib.sha256(repr([sorted(r.items()) for r in rows]).encode()).hexdigest()[:16]


@dataclass
class MonitorStats:
    vectors: int = 0
    scored: int = 0
    late: int = 0
    skipped: int = 0  # bad quality or non-numeric


# ARTime's memory grows with every new pattern (759 categories after 10^6 points of bench_anomaly's stream, and
# its cost per point with it); a live monitor runs for months, so it is bounded. 1 000 is above the most any NAB
# file reaches (831, realKnownCause/cpu_utilization_asg_misconfiguration), so the live form is still exactly the
# causal form NAB measured; at the bound a point costs ~22 us on a stream of ever-new regimes, where the unbounded
# memory reached ~7 000 categories and ~79 us per point after 400 000 points (bench/bench_artime.py).
LIVE_ARTIME_CATEGORIES = 1000


def _detector(spec: MonitorSpec) -> Any:
    if spec.detector == "multivariate":
        return MultivariateDetector(warmup=spec.warmup, z_scale=spec.z_scale, signals=spec.signals)
    if spec.detector == "univariate":
        return EnsembleDetector()
    if spec.detector == "artime":
        # The range is learned over the warm-up (ARTime's probation), widened by 25 % each side: the causal form
        # that scores NAB standard 64.5 (docs/benchmarks.md); the warm-up must hold at least one feature window.
        return ARTimeDetector(probation=max(spec.warmup, 16), key=spec.signals[0],
                              max_categories=LIVE_ARTIME_CATEGORIES)
    return BaselineDetector(spec.signals, warmup=spec.warmup, z_scale=spec.z_scale)


@dataclass
class TwinMonitor:
    spec: MonitorSpec
    stats: MonitorStats = field(default_factory=MonitorStats)

    def __post_init__(self) -> None:
        s = self.spec
        self.detector = _detector(s)
        # what an adaptive detector without its own explanation names: its signal(s), the whole explanation (an
        # alert must name its signals); built once, not per scored point
        self._named = tuple(Contribution(name, 1.0 / len(s.signals), 0.0) for name in s.signals)
        watched = dict.fromkeys((*s.signals, *(s.health.signals if s.health else ())))
        self._filters = {name: RollingMedian(s.smooth) for name in watched}
        self._values: dict[str, float] = {}
        self._times: dict[str, float] = {}
        self._last_scored = -math.inf
        self._learned = 0
        self._warm: dict[str, list[float]] = {name: [] for name in (s.health.signals if s.health else ())}
        self._floor: dict[str, float] = {}
        self._run = 0  # consecutive anomalous vectors
        self._run_since: float | None = None
        self.episode: dict[str, Any] | None = None
        self._last_anomalous = -math.inf
        self.last_score = 0.0
        self.last_rul: dict[str, Any] | None = None
        self._rul_published_at = -math.inf
        self.trend = (ExponentialTrend(s.health.failure_threshold, window_h=s.health.window_hours,
                                       min_points=s.health.min_points, rate_cv=s.health.rate_cv)
                      if s.health else None)
        self.drift = DriftWatch(s.drift, s.signals) if s.drift else None
        self.trained: list[Trained] = []
        self.version: int | None = None  # registry version of the detector in use (set by the service)
        self._warm_span: list[float] = []  # first and last source time of the warm-up vectors
        self._warm_hash = hashlib.sha256()
        self._drift_at: float | None = None
        self._pre_drift = math.nan

    @property
    def warmed_up(self) -> bool:
        return self._learned >= self.spec.warmup

    def update(self, changes: dict[str, Any]) -> list[Insight]:
        """Feed one ``twin.telemetry`` change set ``{name: {"new", "quality", "source_time", ...}}``."""
        t_new = -math.inf
        for name, ch in changes.items():
            flt = self._filters.get(name)
            if flt is None:
                continue
            good = good_reading(ch)
            if good is None:
                self.stats.skipped += 1
                continue
            value, t_s = good
            if t_s <= self._times.get(name, -math.inf):
                self.stats.late += 1
                continue
            self._times[name] = t_s
            self._values[name] = flt.update(float(value))
            t_new = max(t_new, t_s)
        if t_new == -math.inf or len(self._values) < len(self._filters):
            return []
        if t_new <= self._last_scored:
            self.stats.late += 1
            return []
        self._last_scored = t_new
        self.stats.vectors += 1
        x = {name: self._values[name] for name in self.spec.signals}
        if not self.warmed_up:
            self._learn(x, t_new)
            return []
        self.stats.scored += 1
        explanation = self._explain(x)
        self.last_score = explanation.score
        out: list[Insight] = []
        if self.drift is not None:
            out.extend(self._watch(t_new, x, explanation.score))
            if self.drift.collecting and self.drift.policy.suppress_alerts:
                return out  # the model is known to be stale until re-fitted: its alarms would be false
        out.extend(self._alerting(t_new, explanation))
        if self.episode is not None and self.trend is not None:
            out.extend(self._rul(t_new))
        return out

    # -- internals ----------------------------------------------------------------------------------------
    def load(self, detector: Any, extra: dict[str, Any], version: int) -> None:
        """Start from a registered, fitted detector instead of warming up (``extra``: its saved state)."""
        self.detector = detector
        self._learned = self.spec.warmup
        self._warm = {}
        floors = extra.get("health_floor", {}) if isinstance(extra, dict) else {}
        self._floor = {k: float(v) for k, v in floors.items()
                       if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)}
        self.version = version

    def artifact_extra(self) -> dict[str, Any]:
        """Monitor state stored with the model: the health indicator's healthy floors."""
        return {"health_floor": dict(self._floor)}

    def _learn(self, x: dict[str, float], t_s: float) -> None:
        self.detector.learn_one(x)
        self._learned += 1
        self._warm_span = [self._warm_span[0] if self._warm_span else t_s, t_s]
        self._warm_hash.update(repr(sorted(x.items())).encode())
        for name, seen in self._warm.items():
            seen.append(self._values[name])
        if self.warmed_up:
            for name, seen in self._warm.items():
                self._floor[name] = sorted(seen)[len(seen) // 2]
            self._warm = {}
            self.trained.append(Trained("warmup", self.detector, self._warm_span[0], t_s, self._learned,
                                        self._warm_hash.hexdigest()[:16], {"warmup_points": self._learned}))

    def _watch(self, t_s: float, x: dict[str, float], score: float) -> list[Insight]:
        """Feed the drift policy; on a detection -> insight.drift; with a full window -> re-fit."""
        assert self.drift is not None
        watch, policy = self.drift, self.drift.policy
        value = residual(self.detector, x, score)
        if value is None:
            return []
        seen, total = watch.seen, watch.residual_sum
        out: list[Insight] = []
        found = watch.observe(x, value)
        if found is not None:
            self._drift_at = t_s
            out.append(Insight("insight.drift", {
                "detected_at": iso(t_s), "source": found.source, "value": round(found.value, 6),
                "action": policy.action, "monitor": policy.monitor, "method": policy.method,
                "signals": list(self.spec.signals), "vectors_since_fit": found.seen,
                "residual_mae_before": round(total / seen, 6) if seen else None}))
            # the error since the last fit, up to the detection (it includes the detection lag)
            self._pre_drift = total / seen if seen else math.nan
        need = self.spec.warmup if policy.action == "retrain" else policy.window
        if watch.collecting and len(watch.window) >= need:
            out.extend(self._refit(t_s))
        return out

    def _refit(self, t_s: float) -> list[Insight]:
        assert self.drift is not None
        action = self.drift.policy.action
        rows = self.drift.take_window()
        old = self.detector
        if isinstance(old, BaselineDetector) and old.fitted:
            new: Any = refit_baseline(old, rows)
            metrics: dict[str, Any] = {"pre_drift": {"residual_mae": round(self._pre_drift, 6)
                                                                    if math.isfinite(self._pre_drift) else None},
                                       "before": error_metrics(old, rows, self.spec.threshold),
                                       "after": error_metrics(new, rows, self.spec.threshold)}
        else:  # an adaptive detector: a fresh one learns the new regime
            new = _detector(self.spec)
            for x in rows:
                new.learn_one(x)
            metrics = {"points": len(rows)}
        for name in self._floor:  # the health floors follow the new regime where the window has the signal
            seen = sorted(r[name] for r in rows if name in r)
            if seen:
                self._floor[name] = seen[len(seen) // 2]
        self.detector = new
        self._run = 0
        start = self._drift_at if self._drift_at is not None else t_s
        data: dict[str, Any] = {"action": action, "drift_detected_at": iso(start), "recalibrated_at": iso(t_s),
                                "window": {"after": iso(start), "end": iso(t_s), "points": len(rows)},
                                "metrics": metrics, "parent_version": self.version}
        self.trained.append(Trained(action, new, start, t_s, len(rows), _digest(rows), metrics, data))
        return [Insight("insight.recalibrated", data)]

    def _explain(self, x: dict[str, float]) -> Explanation:
        explain = getattr(self.detector, "explain_one", None)
        if explain is not None:
            result: Explanation = explain(x)
            return result
        # adaptive univariate detectors keep learning (they do not freeze); in one call where the detector has
        # it (the conformance suite holds it equal to score_one then learn_one; ARTime's score_one alone copies
        # its feature front)
        both = getattr(self.detector, "score_learn_one", None)
        if both is not None:
            score = float(both(x))
        else:
            score = float(self.detector.score_one(x))
            self.detector.learn_one(x)
        return Explanation(score, self._named)

    def _alerting(self, t_s: float, ex: Explanation) -> list[Insight]:
        spec = self.spec
        anomalous = ex.score >= spec.threshold
        if anomalous:
            self._run += 1
            self._run_since = t_s if self._run == 1 else self._run_since
            self._last_anomalous = t_s
        else:
            self._run = 0
        if self.episode is None:
            if not anomalous or self._run < spec.open_after:
                return []
            signals = [c.signal for c in ex.contributions if c.share >= 0.25] or ex.signals[:1]
            self.episode = {
                "score": round(ex.score, 6), "threshold": spec.threshold, "detected_at": iso(t_s),
                "since": iso(self._run_since if self._run_since is not None else t_s), "signals": signals,
                "contributions": [{"signal": c.signal, "share": round(c.share, 4), "deviation": round(c.residual, 3)}
                                  for c in ex.contributions],
                "values": {k: round(v, 6) for k, v in self._values.items()}, "detector": spec.detector}
            return [Insight("insight.anomaly", dict(self.episode))]
        if anomalous:
            # a new dict, never mutated in place: the API thread may be copying the current one
            self.episode = {**self.episode, "peak_score": max(self.episode.get("peak_score", 0.0),
                                                              round(ex.score, 6))}
            return []
        if t_s - self._last_anomalous >= spec.quiet_hours * 3600.0:
            closed = {"since": self.episode["since"], "detected_at": self.episode["detected_at"],
                      "cleared_at": iso(t_s), "signals": self.episode["signals"]}
            self.episode = None
            self.last_rul = None
            self._rul_published_at = -math.inf
            if self.trend is not None:
                self.trend.reset()
            return [Insight("insight.cleared", closed)]
        return []

    def health_indicator(self) -> float:
        """The largest excess of a health signal over its healthy (warm-up median) level."""
        return max(excess_over(self._values[n], self._floor.get(n, 0.0)) for n in self.spec.health.signals) \
            if self.spec.health else 0.0

    def _rul(self, t_s: float) -> list[Insight]:
        assert self.trend is not None and self.spec.health is not None
        h = self.spec.health
        self.trend.update(t_s, self.health_indicator())
        est = self.trend.estimate()
        if est is None:
            return []
        p = est.prob_failure_within(h.horizon_hours)
        due = t_s - self._rul_published_at >= h.publish_every_hours * 3600.0
        moved = self.last_rul is None or abs(p - float(self.last_rul["p_failure"])) >= h.min_change
        if not (due or moved):
            return []
        self._rul_published_at = t_s
        self.last_rul = {
            "at": iso(t_s), "rul_hours": {"mean": round(est.mean, 2), "lower": round(est.lower, 2),
                                          "upper": round(est.upper, 2), "level": est.level,
                                          # the whole distribution, for maintenance planning; a quantile at
                                          # censored_at means "not within what the trend can see"
                                          "quantiles": [round(q, 1) for q in est.quantiles],
                                          "censored_at": self.trend.horizon_h},
            "p_failure": round(p, 4), "horizon_hours": h.horizon_hours,
            "health_indicator": round(self.health_indicator(), 6), "failure_threshold": h.failure_threshold}
        return [Insight("insight.rul", dict(self.last_rul))]
