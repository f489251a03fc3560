"""A fitted :class:`~tvilling.ml.rul.lgbm.LightGbmRul` as plain JSON: train once, predict anywhere later.

Why JSON and not pickle (as :mod:`tvilling.ml.artifact` for the anomaly baseline): loading a model must never
execute code. The trees are LightGBM's own text model format (``Booster.model_to_string``), which LightGBM
parses as data; everything else (settings, the featurizer's learned statistics, the interval calibration) is
numbers and names, each checked on load. A file that was altered or cut short raises
:class:`~tvilling.core.errors.ValidationError`, never something half-loaded.

Format ``tvilling.rul-lightgbm/1`` (UTF-8 JSON object)::

    {"format": "tvilling.rul-lightgbm/1",
     "config": {LightGbmRul's settings, "trees": {...}, "schema": {...}},
     "fitted": {"cap", "cv_rmse": [[cap, rmse], ...], "cv_rmse_averaged", "bin_edges", "residual_q",
                "residual_bounds"},
     "featurizers": [{"config": {...}, "state": {"settings", "sensors", "means", "stds", "health_w",
                                                 "onset_level", "n_regimes", "set_mu", "set_sd", "centers"}}],
     "model": {"kind": "bag" | "group" | "caps", ...},
     "extra": {...}}

A loaded estimator predicts exactly what the fitted one did; it cannot be re-fitted in place (fit a new one).
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from tvilling.core.errors import ValidationError
from tvilling.ml.artifact import parse_artifact
from tvilling.ml.rul.features import Featurizer, Schema
from tvilling.ml.rul.lgbm import Bag, CapMean, FeatureUnion, GroupBag, LightGbmRul, TreeParams

RUL_FORMAT = "tvilling.rul-lightgbm/1"
# A default fit is 12 boosters of 400 small trees (~10 MB of text); the limit leaves room for larger settings.
MAX_RUL_ARTIFACT_BYTES = 256 * 1024 * 1024


class LoadedTrees:
    """One stored LightGBM model: predicts like the ``LGBMRegressor`` it came from; cannot be re-fitted."""

    def __init__(self, text: str) -> None:
        try:
            self.booster = lgb.Booster(model_str=text)
        except (lgb.basic.LightGBMError, ValueError, TypeError) as exc:
            raise ValidationError(f"artifact holds an unreadable LightGBM model: {exc}") from None

    def fit(self, x: pd.DataFrame, y: np.ndarray, sample_weight: np.ndarray | None = None) -> LoadedTrees:
        raise ValidationError("a loaded RUL model cannot be re-fitted; fit a new LightGbmRul instead")

    def predict(self, x: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.booster.predict(x))

    def model_to_string(self) -> str:
        return str(self.booster.model_to_string())


# ---- writing ---------------------------------------------------------------------------------------------------

def _plain(value: Any) -> Any:
    """Settings as JSON values: tuples become lists, nested dataclasses objects."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _array(a: Any) -> Any:
    return None if a is None else np.asarray(a, dtype=np.float64).tolist()


def _trees_text(m: Any) -> str:
    if isinstance(m, LoadedTrees):
        return m.model_to_string()
    return str(m.booster_.model_to_string())


def _encode_model(model: Bag | GroupBag | CapMean) -> dict[str, Any]:
    if isinstance(model, CapMean):
        return {"kind": "caps", "caps": [float(c) for c in model.caps],
                "members": [_encode_model(m) for m in model.members]}
    if isinstance(model, GroupBag):
        return {"kind": "group", "prefixes": list(model.prefixes), "bags": [_encode_model(b) for b in model.bags]}
    out: dict[str, Any] = {"kind": "bag", "trees": [_trees_text(m) for m in model.models],
                           "linear_weight": float(model.linear_weight)}
    if model.linear_weight > 0:
        out["linear"] = {"mu": _array(model.mu_), "sd": _array(model.sd_), "coef": _array(model.coef_)}
    return out


def _encode_featurizer(f: Featurizer) -> dict[str, Any]:
    settings_used = bool(f.settings_)
    return {"config": _plain(f), "state": {
        "settings": list(f.settings_), "sensors": list(f.sensors_), "means": _array(f.means_),
        "stds": _array(f.stds_), "health_w": _array(f.health_w_), "onset_level": float(f.onset_level_),
        "n_regimes": int(f.n_regimes_), "set_mu": _array(f.set_mu_) if settings_used else None,
        "set_sd": _array(f.set_sd_) if settings_used else None, "centers": _array(f.centers_)}}


def dump_lgbm_rul(model: LightGbmRul, *, extra: dict[str, Any] | None = None) -> bytes:
    """Serialise a fitted estimator (and caller data in ``extra``: provenance, metrics) to JSON bytes."""
    if not hasattr(model, "model_"):
        raise ValidationError("only a fitted RUL estimator can be stored; call fit() first")
    if model.similarity_weight > 0:  # the trajectory library is not part of the file format (yet)
        raise ValidationError("a RUL estimator with a similarity blend (similarity_weight > 0) cannot be stored",
                              hint="store one fitted with similarity_weight=0, the default")
    parts = model.featurizer_.parts if isinstance(model.featurizer_, FeatureUnion) else [model.featurizer_]
    doc = {
        "format": RUL_FORMAT,
        "config": _plain(model),
        "fitted": {"cap": float(model.cap_), "cv_rmse": [[float(c), float(r)] for c, r in model.cv_rmse_.items()],
                   "cv_rmse_averaged": model.cv_rmse_averaged_, "bin_edges": _array(model.bin_edges_),
                   "residual_q": [_array(q) for q in model.residual_q_],
                   "residual_bounds": [[float(lo), float(hi)] for lo, hi in model.residual_bounds_]},
        "featurizers": [_encode_featurizer(p) for p in parts],
        "union": isinstance(model.featurizer_, FeatureUnion),
        "model": _encode_model(model.model_),
        "extra": extra or {},
    }
    return json.dumps(doc, allow_nan=False).encode("utf-8")


# ---- reading ---------------------------------------------------------------------------------------------------

def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValidationError(f"artifact field {what!r} must be an object")
    return value


def _floats(value: Any, what: str, *, shape: tuple[int, ...] | None = None, ndim: int = 1) -> np.ndarray:
    """A finite float array of ``ndim`` dimensions (and ``shape`` when given) from nested lists."""
    try:
        a = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValidationError(f"artifact field {what!r} must hold numbers") from None
    if a.ndim != ndim or (shape is not None and a.shape != shape) or not np.isfinite(a).all() \
            or isinstance(value, bool | str | bytes):
        raise ValidationError(f"artifact field {what!r} has the wrong shape or a bad number")
    return a


def _names(value: Any, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValidationError(f"artifact field {what!r} must be a list of names")
    return list(value)


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValidationError(f"artifact field {what!r} must be a finite number")
    return float(value)


def _tuples(config: dict[str, Any], cls: type) -> dict[str, Any]:
    """Lists back to tuples for a dataclass's sequence fields; unknown keys are an error."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(config) - names)
    if unknown:
        raise ValidationError(f"artifact settings of {cls.__name__} hold unknown keys {unknown}")
    return {k: tuple(v) if isinstance(v, list) else v for k, v in config.items()}


def _schema(value: Any) -> Schema:
    return Schema(**_tuples(_object(value, "schema"), Schema))


def _featurizer(doc: Any, i: int) -> Featurizer:
    doc = _object(doc, f"featurizers[{i}]")
    config = dict(_object(doc.get("config"), f"featurizers[{i}].config"))
    config["schema"] = _schema(config.get("schema"))
    try:
        f = Featurizer(**_tuples(config, Featurizer))
    except TypeError as exc:
        raise ValidationError(f"artifact featurizer settings are invalid: {exc}") from None
    s = _object(doc.get("state"), f"featurizers[{i}].state")
    f.settings_, f.sensors_ = _names(s.get("settings"), "settings"), _names(s.get("sensors"), "sensors")
    n = s.get("n_regimes")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValidationError("artifact field 'n_regimes' must be a positive integer")
    f.n_regimes_ = n
    f.means_ = _floats(s.get("means"), "means", shape=(n, len(f.sensors_)), ndim=2)
    f.stds_ = _floats(s.get("stds"), "stds", shape=(n, len(f.sensors_)), ndim=2)
    f.health_w_ = _floats(s.get("health_w"), "health_w", shape=(len(f.sensors_) + 1,))
    f.onset_level_ = _number(s.get("onset_level"), "onset_level")
    f.centers_ = None
    if f.settings_:
        k = len(f.settings_)
        f.set_mu_ = _floats(s.get("set_mu"), "set_mu", shape=(k,))
        f.set_sd_ = _floats(s.get("set_sd"), "set_sd", shape=(k,))
        if s.get("centers") is not None:
            f.centers_ = _floats(s.get("centers"), "centers", shape=(n, k), ndim=2)
    if (f.centers_ is None) != (n == 1):
        raise ValidationError("artifact regimes are inconsistent: centres must be given exactly when n_regimes > 1")
    return f


def _model(doc: Any, depth: int = 0) -> Bag | GroupBag | CapMean:
    doc = _object(doc, "model")
    kind = doc.get("kind")
    if depth > 2:
        raise ValidationError("artifact model is nested too deeply")
    if kind == "caps":
        caps = _floats(doc.get("caps"), "caps").tolist()
        members = doc.get("members")
        if not isinstance(members, list) or len(members) != len(caps) or not caps:
            raise ValidationError("artifact field 'members' must hold one model per cap")
        return CapMean(caps, [_member(m, depth + 1) for m in members])
    if kind == "group":
        prefixes, bags = _names(doc.get("prefixes"), "prefixes"), doc.get("bags")
        if not isinstance(bags, list) or len(bags) != len(prefixes) or not bags:
            raise ValidationError("artifact field 'bags' must hold one bag per prefix")
        return GroupBag([_bag(b) for b in bags], prefixes)
    if kind == "bag":
        return _bag(doc)
    raise ValidationError(f"artifact model kind must be 'bag', 'group' or 'caps', got {kind!r}")


def _member(doc: Any, depth: int) -> Bag | GroupBag:
    member = _model(doc, depth)
    if isinstance(member, CapMean):
        raise ValidationError("artifact model: a cap's member cannot itself average caps")
    return member


def _bag(doc: Any) -> Bag:
    doc = _object(doc, "bag")
    trees = doc.get("trees")
    if doc.get("kind") != "bag" or not isinstance(trees, list) or not trees \
            or not all(isinstance(t, str) for t in trees):
        raise ValidationError("artifact bag must hold a non-empty list of LightGBM models")
    weight = _number(doc.get("linear_weight", 0.0), "linear_weight")
    bag = Bag([LoadedTrees(t) for t in trees], linear_weight=weight)
    if weight > 0:
        lin = _object(doc.get("linear"), "linear")
        bag.mu_, bag.sd_ = _floats(lin.get("mu"), "mu"), _floats(lin.get("sd"), "sd")
        bag.coef_ = _floats(lin.get("coef"), "coef", shape=(len(bag.mu_) + 1,))
    return bag


def load_lgbm_rul(data: bytes) -> tuple[LightGbmRul, dict[str, Any]]:
    """Rebuild a fitted estimator from :func:`dump_lgbm_rul` output; returns it and ``extra``."""
    doc = parse_artifact(data, RUL_FORMAT, max_bytes=MAX_RUL_ARTIFACT_BYTES,
                         hint="a RUL model file is made by `tvilling rul train`")
    config = dict(_object(doc.get("config"), "config"))
    config["schema"] = _schema(config.get("schema"))
    try:
        config["trees"] = TreeParams(**_object(config.get("trees"), "trees"))
        model = LightGbmRul(**_tuples(config, LightGbmRul))
    except TypeError as exc:
        raise ValidationError(f"artifact settings are invalid: {exc}") from None
    fitted = _object(doc.get("fitted"), "fitted")
    model.cap_ = _number(fitted.get("cap"), "cap")
    pairs = fitted.get("cv_rmse")
    if not isinstance(pairs, list):
        raise ValidationError("artifact field 'cv_rmse' must be a list of [cap, rmse] pairs")
    model.cv_rmse_ = {float(c): float(r) for c, r in _floats(pairs, "cv_rmse", ndim=2).reshape(-1, 2)}
    averaged = fitted.get("cv_rmse_averaged")
    model.cv_rmse_averaged_ = None if averaged is None else _number(averaged, "cv_rmse_averaged")
    model.bin_edges_ = _floats(fitted.get("bin_edges"), "bin_edges")
    qs, bounds = fitted.get("residual_q"), fitted.get("residual_bounds")
    bins = len(model.bin_edges_) + 1
    if not isinstance(qs, list) or not isinstance(bounds, list) or len(qs) != bins or len(bounds) != bins:
        raise ValidationError(f"artifact calibration must hold {bins} bins (one more than its edges)")
    model.residual_q_ = [_floats(q, "residual_q") for q in qs]
    model.residual_bounds_ = [(float(lo), float(hi)) for lo, hi in _floats(bounds, "residual_bounds",
                                                                          shape=(bins, 2), ndim=2)]
    featurizers = doc.get("featurizers")
    if not isinstance(featurizers, list) or not featurizers:
        raise ValidationError("artifact field 'featurizers' must be a non-empty list")
    parts = [_featurizer(f, i) for i, f in enumerate(featurizers)]
    model.featurizer_ = FeatureUnion(parts) if doc.get("union") else parts[0]
    model.model_ = _model(doc.get("model"))
    extra = doc.get("extra", {})
    return model, _object(extra, "extra")
