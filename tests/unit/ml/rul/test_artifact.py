"""A fitted LightGbmRul stored as JSON and read back predicts exactly the same; a damaged file is refused."""

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from tests.unit.ml.rul.fleet import make_fleet
from tvilling.core.errors import ValidationError
from tvilling.ml.rul import LightGbmRul, TreeParams
from tvilling.ml.rul.artifact import RUL_FORMAT, LoadedTrees, dump_lgbm_rul, load_lgbm_rul

FAST = TreeParams(n_estimators=40, learning_rate=0.1, num_leaves=7, min_child_samples=10)


def _fit(train: pd.DataFrame, **over: object) -> LightGbmRul:
    return replace(LightGbmRul(n_splits=3, trees=FAST, n_bags=2), **over).fit(train)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def fleet() -> tuple[pd.DataFrame, pd.DataFrame]:
    return make_fleet(18, seed=5)[0], make_fleet(12, seed=6, truncate=True)[0]


@pytest.fixture(scope="module")
def fitted(fleet: tuple[pd.DataFrame, pd.DataFrame]) -> LightGbmRul:
    return _fit(fleet[0])  # the default shape: mean+median features, caps 130 and 140 averaged


@pytest.mark.parametrize("over", [
    {},  # (refitted here so the parametrisation stays self-contained)
    {"average_caps": (), "cap_grid": (40.0, 80.0), "baseline_stat": "mean"},  # one cap chosen, one bag
    {"cap": 60.0, "baseline_stat": "median", "linear_weight": 0.3},  # a ridge model blended in
    {"onset_sd": 2.0, "relative": True, "ewm_spans": (5.0,)},
])
def test_round_trip_predicts_exactly_the_same(fleet: tuple[pd.DataFrame, pd.DataFrame],
                                              over: dict[str, object]) -> None:
    train, now = fleet
    model = _fit(train, **over)
    again, extra = load_lgbm_rul(dump_lgbm_rul(model, extra={"who": "test"}))
    assert extra == {"who": "test"}
    assert again.predict_history(now) == model.predict_history(now)  # means, intervals and all 100 quantiles
    assert again.cap_ == model.cap_ and again.cv_rmse_ == model.cv_rmse_


def test_multi_regime_model_round_trips() -> None:
    train, _ = make_fleet(16, seed=3, regimes=6)
    now, _ = make_fleet(10, seed=4, regimes=6, truncate=True)
    model = _fit(train)
    again, _ = load_lgbm_rul(dump_lgbm_rul(model))
    assert again.featurizer_.n_regimes_ == 6
    assert again.predict(now) == model.predict(now)


def test_the_file_is_json_without_code(fitted: LightGbmRul) -> None:
    doc = json.loads(dump_lgbm_rul(fitted))
    assert doc["format"] == RUL_FORMAT
    assert doc["model"]["kind"] == "caps" and [m["kind"] for m in doc["model"]["members"]] == ["group", "group"]
    assert all(t.startswith("tree\n") for t in doc["model"]["members"][0]["bags"][0]["trees"])


def _damaged(fitted: LightGbmRul, change: object) -> bytes:
    doc = json.loads(dump_lgbm_rul(fitted))
    change(doc)  # type: ignore[operator]
    return json.dumps(doc).encode()


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d.update(format="tvilling.baseline/1"), "not in the tvilling.rul-lightgbm/1 format"),
    (lambda d: d["config"].update(surprise=1), "unknown keys"),
    (lambda d: d["fitted"].update(bin_edges=["a"]), "bin_edges"),
    (lambda d: d["fitted"]["residual_q"].pop(), "bins"),
    (lambda d: d["featurizers"][0]["state"].update(means=[[1.0]]), "means"),
    (lambda d: d["featurizers"][0]["state"].update(n_regimes=True), "n_regimes"),
    (lambda d: d["featurizers"][0]["state"].update(sensors=[3]), "sensors"),
    (lambda d: d["model"].update(kind="pickle"), "model kind"),
    (lambda d: d["model"]["members"][0]["bags"][0].update(trees=["not a model"]), "LightGBM"),
    (lambda d: d["model"]["members"].pop(), "one model per cap"),
])
def test_damaged_files_are_refused(fitted: LightGbmRul, change: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        load_lgbm_rul(_damaged(fitted, change))


def test_not_json_or_unfitted_is_refused(fitted: LightGbmRul) -> None:
    data = dump_lgbm_rul(fitted)
    with pytest.raises(ValidationError, match="not JSON"):
        load_lgbm_rul(data[: len(data) // 2])
    with pytest.raises(ValidationError, match="fitted"):
        dump_lgbm_rul(LightGbmRul())


def test_a_loaded_model_is_not_refitted(fitted: LightGbmRul, fleet: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    again, _ = load_lgbm_rul(dump_lgbm_rul(fitted))
    trees = again.model_.models[0]
    assert isinstance(trees, LoadedTrees)
    with pytest.raises(ValidationError, match="cannot be re-fitted"):
        trees.fit(pd.DataFrame({"a": [1.0]}), np.array([1.0]))
