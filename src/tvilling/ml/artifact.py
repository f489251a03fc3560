"""Model artifacts as plain JSON: the registry's storage format for the models the platform trains itself.

Why JSON and not pickle: an artifact is data, and loading one must never execute code. The registry only stores
what the platform produced (the API offers no upload), but a database row can still be altered by someone with
database access, so loading validates every field (types, lengths, finiteness) and raises
:class:`~tvilling.core.errors.ValidationError` on anything unexpected.

Format ``tvilling.baseline/1`` (UTF-8 JSON object) — a fitted :class:`~tvilling.ml.features.BaselineDetector`::

    {"format": "tvilling.baseline/1", "signals": [...], "center": [...], "scale": [...],
     "params": {"warmup", "log", "direction", "z_scale", "min_sd", "floor"}, "extra": {...}}

``center``/``scale`` are in the scored domain (logs when ``log`` is true). ``extra`` is a JSON object the
caller may use for state that belongs with the model (the live monitor keeps its health-indicator floors there).

>>> from tvilling.ml.features import BaselineDetector
>>> det = BaselineDetector(["a"], warmup=3)
>>> det.learn_many([[1.0], [1.1], [0.9]])
>>> again, extra = load_baseline(dump_baseline(det, extra={"note": 1}))
>>> again.score_one({"a": 1.0}) == det.score_one({"a": 1.0}), extra
(True, {'note': 1})
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

from tvilling.core.errors import ValidationError
from tvilling.ml.features import BaselineDetector

BASELINE_FORMAT = "tvilling.baseline/1"
MAX_ARTIFACT_BYTES = 16 * 1024 * 1024


def dump_baseline(det: BaselineDetector, *, extra: dict[str, Any] | None = None) -> bytes:
    """Serialise a fitted baseline detector (and caller state in ``extra``) to JSON bytes."""
    if det.center is None or det.scale is None:
        raise ValidationError("only a fitted baseline detector can be stored")
    doc = {"format": BASELINE_FORMAT, "signals": list(det.signals),
           "center": [float(v) for v in det.center], "scale": [float(v) for v in det.scale],
           "params": {"warmup": det.warmup, "log": det.log, "direction": det.direction, "z_scale": det.z_scale,
                      "min_sd": det.min_sd, "floor": det.floor},
           "extra": extra or {}}
    return json.dumps(doc, allow_nan=False, sort_keys=True).encode("utf-8")


def _numbers(value: Any, n: int, what: str, *, positive: bool = False) -> list[float]:
    if not isinstance(value, list) or len(value) != n:
        raise ValidationError(f"artifact field {what!r} must be a list of {n} numbers")
    out: list[float] = []
    for v in value:
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or (positive and v <= 0):
            raise ValidationError(f"artifact field {what!r} holds a bad number {v!r}")
        out.append(float(v))
    return out


def parse_artifact(data: bytes, fmt: str, *, max_bytes: int = MAX_ARTIFACT_BYTES, hint: str = "") -> dict[str, Any]:
    """The JSON object of an artifact in format ``fmt`` (size, encoding, syntax and format checked; the fields are
    the caller's to check)."""
    if len(data) > max_bytes:
        raise ValidationError(f"artifact too large ({len(data)} bytes, at most {max_bytes})")
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ValidationError(f"artifact is not JSON: {exc}", hint=hint) from None
    if not isinstance(doc, dict) or doc.get("format") != fmt:
        raise ValidationError(f"artifact is not in the {fmt} format", hint=hint)
    return doc


def load_baseline(data: bytes) -> tuple[BaselineDetector, dict[str, Any]]:
    """Rebuild a fitted baseline detector from :func:`dump_baseline` output; returns it and ``extra``."""
    doc = parse_artifact(data, BASELINE_FORMAT)
    signals = doc.get("signals")
    if not isinstance(signals, list) or not signals or not all(isinstance(s, str) and s for s in signals):
        raise ValidationError("artifact field 'signals' must be a non-empty list of names")
    params = doc.get("params")
    extra = doc.get("extra", {})
    if not isinstance(params, dict) or not isinstance(extra, dict):
        raise ValidationError("artifact fields 'params' and 'extra' must be objects")
    try:
        det = BaselineDetector(signals, warmup=int(params["warmup"]), log=bool(params["log"]),
                               direction=str(params["direction"]), z_scale=float(params["z_scale"]),
                               min_sd=float(params["min_sd"]), floor=float(params["floor"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise ValidationError(f"artifact parameters are incomplete or invalid: {exc}") from None
    det.center = np.array(_numbers(doc.get("center"), len(signals), "center"), dtype=np.float64)
    det.scale = np.array(_numbers(doc.get("scale"), len(signals), "scale", positive=True), dtype=np.float64)
    return det, extra
