"""BaselineDetector (frozen healthy baseline) and RollingMedian."""

from __future__ import annotations

import random

import numpy as np
import pytest

from tvilling.core.errors import ValidationError
from tvilling.ml.features import BaselineDetector, RollingMedian
from tvilling.ml.ports import AnomalyDetector


def _healthy(rng: random.Random) -> dict[str, float]:
    return {"env": 0.04 * rng.lognormvariate(0, 0.08), "rms": 0.8 * rng.lognormvariate(0, 0.03)}


def test_contract_and_batch_forms_agree() -> None:
    det = BaselineDetector(["env", "rms"], warmup=50)
    assert isinstance(det, AnomalyDetector)
    rng = random.Random(1)
    rows = [_healthy(rng) for _ in range(80)]
    X = np.array([[r["env"], r["rms"]] for r in rows])
    twin = BaselineDetector(["env", "rms"], warmup=50)
    batch = twin.score_learn_many(X)
    one = []
    for r in rows:
        one.append(det.score_one(r))
        det.learn_one(r)
    assert np.allclose(batch, one)
    assert np.allclose(det.score_many(X), twin.score_many(X))


def test_frozen_baseline_keeps_seeing_a_slow_drift() -> None:
    rng = random.Random(2)
    det = BaselineDetector(["env", "rms"], warmup=200)
    for _ in range(200):
        det.learn_one(_healthy(rng))
    assert det.fitted and det.baseline("env") == pytest.approx(0.04, rel=0.05)
    scores = []
    for i in range(2000):  # a slow 0.2 %/point rise that an adaptive mean would follow
        x = _healthy(rng)
        x["env"] *= 1.002 ** i
        det.learn_one(x)  # no effect once fitted
        scores.append(det.score_one(x))
    assert max(scores[:50]) < 0.9
    assert min(scores[-100:]) > 0.99
    ex = det.explain_one(x)
    assert ex.signals[0] == "env" and ex.contributions[0].share > 0.9


def test_only_increases_count_in_up_mode() -> None:
    rng = random.Random(3)
    up = BaselineDetector(["env", "rms"], warmup=100)
    both = BaselineDetector(["env", "rms"], warmup=100, direction="both")
    for _ in range(100):
        x = _healthy(rng)
        up.learn_one(x)
        both.learn_one(x)
    stopped = {"env": 0.004, "rms": 0.01}  # a stopped machine vibrates less: not a wear fault
    assert up.score_one(stopped) == 0.0
    assert both.score_one(stopped) > 0.99


def test_no_score_before_fit_and_bad_input() -> None:
    det = BaselineDetector(["a"], warmup=10)
    assert det.score_one({"a": 1e6}) == 0.0
    with pytest.raises(ValidationError):
        det.score_one({"b": 1.0})
    with pytest.raises(ValidationError):
        det.baseline("a")
    with pytest.raises(ValidationError):
        BaselineDetector([])
    with pytest.raises(ValidationError):
        BaselineDetector(["a"], direction="down")


def test_rolling_median_rejects_a_single_spike() -> None:
    m = RollingMedian(5)
    out = [m.update(v) for v in (1.0, 1.1, 0.9, 50.0, 1.0, 1.05)]
    assert max(out) < 1.2


def test_doctests() -> None:
    import doctest

    from tvilling.ml import features

    assert doctest.testmod(features).failed == 0
