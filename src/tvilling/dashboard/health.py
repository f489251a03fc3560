"""Health scores (0–100) from what the platform knows about a twin: property quality, open alarms, anomaly score.

Pure functions so the rule is testable and the same everywhere (overview table, 3D colours, heat map).
"""

from __future__ import annotations

from collections.abc import Iterable

QUALITY_PENALTY = {"good": 0.0, "uncertain": 15.0, "bad": 40.0}
SEVERITY_PENALTY = {"critical": 60.0, "major": 35.0, "minor": 15.0, "warning": 5.0}
ANOMALY_WEIGHT = 40.0  # an anomaly score of 1.0 (certainly anomalous) costs this much


def twin_health(qualities: Iterable[str | None], alarm_severities: Iterable[str] = (),
                anomaly: float | None = None) -> float:
    """100 = nothing wrong. The worst property counts (one bad sensor is a problem however many are fine)."""
    worst_quality = max((QUALITY_PENALTY.get(q or "good", 15.0) for q in qualities), default=0.0)
    alarm = sum(SEVERITY_PENALTY.get(s, 10.0) for s in alarm_severities)
    score = 100.0 - worst_quality - alarm
    if anomaly is not None:
        score -= ANOMALY_WEIGHT * min(max(anomaly, 0.0), 1.0)
    return max(0.0, min(100.0, score))


def rollup(own: float, parts: Iterable[float]) -> float:
    """An asset is as healthy as its least healthy part."""
    return min([own, *parts])


def band(score: float | None) -> str:
    if score is None:
        return "unknown"
    if score >= 85:
        return "good"
    if score >= 60:
        return "warning"
    return "critical"


COLORS = {"good": "#2e9d5b", "warning": "#e0a220", "critical": "#d64545", "unknown": "#9aa5b1"}


def color(score: float | None) -> str:
    return COLORS[band(score)]
