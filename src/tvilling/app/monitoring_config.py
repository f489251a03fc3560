"""What to monitor, as data: model (and every model extending it) -> signals, detector, alerting and RUL settings.

A site package may hold ``monitoring.yaml`` beside its ``mappings.yaml``::

    version: 1
    monitors:
      - model: "dtmi:tvilling:bottling:Bearing;1"   # applies to this model and to models that extend it
        signals: [vibrationRms, kurtosis, envelopeBpfo, envelopeBpfi, envelopeBsf]
        detector: baseline          # baseline (frozen healthy baseline) | multivariate | univariate | artime
        warmup: 200                 # points learned before scoring starts (artime: its probation)
        threshold: 0.99             # anomaly score at/above which a point counts as anomalous (artime: 0.175)
        open_after: 3               # consecutive anomalous points before an alert episode opens (artime: 1)
        quiet_hours: 24             # an episode closes after this long without an anomalous point
        smooth: 5                   # rolling-median length per signal (transmitter spikes)
        health:                     # optional: remaining useful life from a degradation trend
          signals: [envelopeBpfo, envelopeBpfi, envelopeBsf]   # health indicator = largest excess over baseline
          failure_threshold: 8.0    # health-indicator level at which the part is considered failed
          horizon_hours: 72         # P(failure within this horizon) is published
          window_hours: 72          # trend window
        drift:                      # optional drift policy (tvilling.ml.drift_policy)
          monitor: residuals        # residuals | inputs | both
          method: page_hinkley      # page_hinkley | adwin; detector parameters under params: {...}
          action: recalibrate       # notify | recalibrate (re-fit normalisation) | retrain (new detector)
          window: 200               # vectors re-fitted on after a detection
        register: true              # load the production model from the registry; register what is trained

Every problem in the document is reported at once (one ``ValidationError`` listing them).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tvilling.app.documents import read_yaml
from tvilling.core.errors import TvillingError, ValidationError
from tvilling.ml.drift_policy import DriftPolicy, DriftWatch

DETECTORS = ("baseline", "multivariate", "univariate", "artime")
SINGLE_SIGNAL = ("univariate", "artime")
# Defaults that differ by detector. ARTime (tvilling.ml.anomaly.artime, causal form) scores in steps: only every
# down-sampling step, and only a mismatch of its ART memory, scores above 0, so one anomalous point must open an
# episode; 0.175 is the threshold NAB's own protocol chose for it (standard profile, optimised over the corpus,
# docs/benchmarks.md), where the other detectors' scores are calibrated so that 0.99 is rare in normal operation.
DETECTOR_DEFAULTS: dict[str, dict[str, float]] = {"artime": {"threshold": 0.175, "open_after": 1}}


@dataclass(frozen=True)
class HealthSpec:
    signals: tuple[str, ...]
    failure_threshold: float
    horizon_hours: float = 72.0
    window_hours: float = 72.0
    min_points: int = 12
    publish_every_hours: float = 6.0  # a RUL insight at least this often (simulated/source time) while degrading
    min_change: float = 0.1  # ... and whenever P(failure within horizon) moved by this much
    rate_cv: float = 0.15  # floor on the relative uncertainty of the fitted growth rate


@dataclass(frozen=True)
class MonitorSpec:
    model: str
    signals: tuple[str, ...]
    detector: str = "baseline"
    warmup: int = 200
    threshold: float = 0.99
    open_after: int = 3
    quiet_hours: float = 24.0
    smooth: int = 5
    z_scale: float = 3.0
    health: HealthSpec | None = None
    # twin property name -> insight field ("score", "rul_hours", "p_failure"); applied only where the model has it
    state: Mapping[str, str] = field(default_factory=dict)
    drift: DriftPolicy | None = None
    register: bool = True  # models are loaded from / registered in the model registry (app/registry.py)


@dataclass(frozen=True)
class MonitoringConfig:
    monitors: tuple[MonitorSpec, ...] = ()

    def for_model(self, model_id: str, is_subtype: Any) -> MonitorSpec | None:
        """The first spec whose model is ``model_id`` or one it extends (``is_subtype(dtmi, base)``)."""
        for spec in self.monitors:
            if model_id == spec.model or is_subtype(model_id, spec.model):
                return spec
        return None


def _names(value: Any, where: str, problems: list[str]) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        problems.append(f"{where}: a non-empty list of telemetry names is required")
        return ()
    return tuple(value)


def _number(raw: Mapping[str, Any], key: str, default: float, where: str, problems: list[str], *,
            positive: bool = True) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or (positive and value <= 0):
        problems.append(f"{where}.{key}: a {'positive ' if positive else ''}number is required, got {value!r}")
        return default
    return float(value)


def _health(raw: Any, where: str, problems: list[str]) -> HealthSpec | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        problems.append(f"{where}: a mapping is required")
        return None
    signals = _names(raw.get("signals"), f"{where}.signals", problems)
    if "failure_threshold" not in raw:
        problems.append(f"{where}.failure_threshold is required")
    return HealthSpec(signals=signals,
                      failure_threshold=_number(raw, "failure_threshold", 1.0, where, problems),
                      horizon_hours=_number(raw, "horizon_hours", 72.0, where, problems),
                      window_hours=_number(raw, "window_hours", 72.0, where, problems),
                      min_points=int(_number(raw, "min_points", 12, where, problems)),
                      publish_every_hours=_number(raw, "publish_every_hours", 6.0, where, problems),
                      min_change=_number(raw, "min_change", 0.1, where, problems),
                      rate_cv=_number(raw, "rate_cv", 0.15, where, problems))


def _drift(raw: Any, detector: str, where: str, problems: list[str]) -> DriftPolicy | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping) or not isinstance(raw.get("params", {}), Mapping):
        problems.append(f"{where}: a mapping is required (params: a mapping of detector parameters)")
        return None
    try:
        policy = DriftPolicy(action=str(raw.get("action", "notify")), monitor=str(raw.get("monitor", "residuals")),
                             method=str(raw.get("method", "page_hinkley")), params=dict(raw.get("params", {})),
                             window=int(_number(raw, "window", 200, where, problems)),
                             reference=int(_number(raw, "reference", 50, where, problems)),
                             suppress_alerts=bool(raw.get("suppress_alerts", True)))
    except ValidationError as exc:
        problems.append(f"{where}: {exc}")
        return None
    try:  # unknown detector parameters are a configuration error, not a crash of the first monitor
        DriftWatch(policy, ["x"])
    except (TypeError, ValueError, TvillingError) as exc:
        problems.append(f"{where}.params: {exc}")
    if policy.action == "recalibrate" and detector != "baseline":
        problems.append(f"{where}.action: recalibrate re-fits a baseline detector's normalisation; "
                        f"use retrain or notify with the {detector} detector")
    return policy


def parse_config(doc: Any) -> MonitoringConfig:
    problems: list[str] = []
    if not isinstance(doc, Mapping) or not isinstance(doc.get("monitors"), list):
        raise ValidationError("a monitoring document needs a 'monitors' list", where="monitors")
    specs: list[MonitorSpec] = []
    for i, raw in enumerate(doc["monitors"]):
        where = f"monitors[{i}]"
        if not isinstance(raw, Mapping):
            problems.append(f"{where}: a mapping is required")
            continue
        model = raw.get("model")
        if not isinstance(model, str) or not model.startswith("dtmi:"):
            problems.append(f"{where}.model: a DTMI is required, got {model!r}")
        detector = raw.get("detector", "baseline")
        if detector not in DETECTORS:
            problems.append(f"{where}.detector: one of {', '.join(DETECTORS)} is required, got {detector!r}")
        signals = _names(raw.get("signals"), f"{where}.signals", problems)
        if detector in SINGLE_SIGNAL and len(signals) != 1:
            problems.append(f"{where}: a {detector} detector takes exactly one signal")
        defaults = DETECTOR_DEFAULTS.get(str(detector), {})
        state = raw.get("state", {})
        if not isinstance(state, Mapping) or not all(
                isinstance(k, str) and v in ("score", "rul_hours", "p_failure") for k, v in state.items()):
            problems.append(f"{where}.state: property -> one of score, rul_hours, p_failure")
            state = {}
        threshold = _number(raw, "threshold", defaults.get("threshold", 0.99), where, problems)
        if threshold >= 1.0:
            problems.append(f"{where}.threshold: scores lie in [0, 1), so the threshold must be < 1")
        specs.append(MonitorSpec(
            model=str(model), signals=signals, detector=str(detector),
            warmup=int(_number(raw, "warmup", 200, where, problems)), threshold=threshold,
            open_after=int(_number(raw, "open_after", defaults.get("open_after", 3), where, problems)),
            quiet_hours=_number(raw, "quiet_hours", 24.0, where, problems),
            smooth=int(_number(raw, "smooth", 5, where, problems)),
            z_scale=_number(raw, "z_scale", 3.0, where, problems),
            health=_health(raw.get("health"), f"{where}.health", problems), state=dict(state),
            drift=_drift(raw.get("drift"), str(detector), f"{where}.drift", problems),
            register=bool(raw.get("register", True))))
    if problems:
        raise ValidationError(f"{len(problems)} problem(s) in the monitoring document: " + "; ".join(problems),
                              where="monitoring")
    return MonitoringConfig(tuple(specs))


def load_config(path: str | Path) -> MonitoringConfig:
    return parse_config(read_yaml(path, "the monitoring document"))
