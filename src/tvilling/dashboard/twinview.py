"""Pure helpers for the twin detail page: desired-vs-reported pairs and insight summaries."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

_DESIRED = (re.compile(r"^commanded(?P<n>[A-Z]\w*)$"), re.compile(r"^desired(?P<n>[A-Z]\w*)$"),
            re.compile(r"^(?P<n>\w+?)(Setpoint|Target|Command)$"))


def desired_pairs(names: Iterable[str]) -> list[tuple[str, str]]:
    """(desired, reported) property pairs by naming convention: commandedX / desiredX / xSetpoint vs x."""
    present = set(names)
    pairs = []
    for name in sorted(present):
        for pattern in _DESIRED:
            m = pattern.match(name)
            if m is None:
                continue
            base = m.group("n")
            reported = base[0].lower() + base[1:]
            if reported in present and reported != name:
                pairs.append((name, reported))
                break
    return pairs


def deviation(desired: Any, reported: Any) -> float | None:
    if isinstance(desired, int | float) and isinstance(reported, int | float) \
            and not isinstance(desired, bool) and not isinstance(reported, bool):
        return float(reported) - float(desired)
    return None


def anomaly_summary(data: Mapping[str, Any]) -> tuple[float | None, str]:
    """Score in [0, 1] (if given) and a one-line explanation from an anomaly insight."""
    score = data.get("score")
    explanation = data.get("explanation") or data.get("contributions") or data.get("reason") or \
        data.get("message") or ""
    if isinstance(explanation, list):
        explanation = "; ".join(_contribution(e) for e in explanation[:4])
    elif isinstance(explanation, dict):
        explanation = "; ".join(f"{k}: {v}" for k, v in list(explanation.items())[:4])
    return (float(score) if isinstance(score, int | float) else None), str(explanation)


def _contribution(item: Any) -> str:
    if isinstance(item, dict):
        name = item.get("signal") or item.get("feature") or item.get("name") or item.get("property") or "?"
        share = item.get("share")
        if isinstance(share, int | float):  # the monitoring layer: share of the score, deviation in sigmas
            dev = item.get("deviation")
            return f"{name} {share:.0%}" + (f" ({dev:+.1f}σ)" if isinstance(dev, int | float) else "")
        weight = item.get("contribution", item.get("weight"))
        return f"{name} ({weight:.2f})" if isinstance(weight, int | float) else str(name)
    return str(item)


def rul_summary(data: Mapping[str, Any]) -> str:
    """'412 h (90% interval 300–520 h)' from a RUL insight, whatever key spelling the estimator used."""
    nested = data.get("rul_hours")
    if isinstance(nested, Mapping):  # the monitoring layer's form: {"rul_hours": {mean, lower, upper, level}}
        text = rul_summary({"rul": nested.get("mean"), "lower": nested.get("lower"), "upper": nested.get("upper"),
                            "level": nested.get("level")})
        p, horizon = data.get("p_failure"), data.get("horizon_hours")
        if isinstance(p, int | float) and isinstance(horizon, int | float):
            text += f"; P(failure within {horizon:.0f} h) {p:.0%}"
        return text
    value = _first(data, "rul", "rulHours", "rul_hours", "median", "value")
    lower = _first(data, "lower", "low", "rulLower", "rul_lower", "p10", "p05")
    upper = _first(data, "upper", "high", "rulUpper", "rul_upper", "p90", "p95")
    unit = str(data.get("unit", "h"))
    if value is None:
        return "–"
    text = f"{value:.0f} {unit}"
    if lower is not None and upper is not None:
        level = data.get("level") or data.get("confidence")
        label = f"{level:.0%} interval" if isinstance(level, float) and level <= 1 else "interval"
        text += f" ({label} {lower:.0f}–{upper:.0f} {unit})"
    return text


def _first(data: Mapping[str, Any], *keys: str) -> float | None:
    for k in keys:
        v = data.get(k)
        if isinstance(v, int | float) and not isinstance(v, bool):
            return float(v)
    return None


PHASES = {"waiting": "waiting for every property it reads", "settling": "settling after its start",
          "learning": "learning the healthy residuals", "watching": "watching", "restarting": "restarting",
          "stopped": "stopped"}


def physics_summary(live: Mapping[str, Any]) -> str:
    """'fmu-… watching, model at 2026-11-24 10:05' from a physics coupling's live state (GET …/physics)."""
    ref = live.get("reference") or {}
    phase = str(live.get("phase", ""))
    text = f"{live.get('fmu', '')} {PHASES.get(phase, phase)}"
    if phase == "learning":
        text += f" ({ref.get('learned', 0)} of {ref.get('rows', 0)} steps)"
    if live.get("modelTime"):
        text += f", model at {str(live['modelTime'])[:16].replace('T', ' ')}"
    if live.get("error"):
        text += f" — {live['error']}"
    return text


def physics_outputs(live: Mapping[str, Any]) -> list[str]:
    """One line per compared property: expected, measured, residual and how close it is to its limit."""
    lines = []
    for prop, o in (live.get("outputs") or {}).items():
        ratio = o.get("ratio")
        state = "" if ratio is None else f", {ratio:.2f}× its limit"
        lines.append(f"{prop}: expected {_two(o.get('expected'))}, measured {_two(o.get('measured'))} "
                     f"(residual {_two(o.get('residual'))}{state})")
    return lines


def _two(value: Any) -> str:
    return "–" if value is None else f"{value:.2f}"
