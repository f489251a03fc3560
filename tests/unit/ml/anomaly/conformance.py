"""Conformance checks every anomaly detector must pass (in the spirit of river's ``check_estimator``).

``check_detector(factory, ...)`` builds fresh detectors with ``factory()`` and checks the contract of
``tvilling.ml.ports.AnomalyDetector``:

* it is an ``AnomalyDetector`` and its constructor parameters are readable attributes of the same name;
* scores are finite floats within the documented range ``[low, high]``;
* ``score_one`` does not learn (scoring twice, or scoring extra points, changes nothing);
* ``score_learn_many`` equals the one-sample loop (score row t, then learn it) — the batch form is the fast path
  of the same algorithm, not a different one;
* ``learn_many`` equals ``learn_one`` in a loop, and ``score_many`` equals ``score_one`` per row;
* two fresh instances are deterministic;
* an obvious outlier after a calm stretch scores above every calm point's score (higher = more anomalous).

Use it for a new detector: ``check_detector(lambda: MyDetector(...), signals=("a", "b"), high=1.0)``.
"""

from __future__ import annotations

import copy
import inspect
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tvilling.ml.ports import AnomalyDetector


def calm_stream(n: int, signals: Sequence[str], seed: int = 0) -> np.ndarray:
    """Correlated, slightly periodic signals with mild noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    base = np.sin(2 * np.pi * t / 50.0)
    cols = [base * (1.0 + k) + 10.0 * k + rng.normal(0.0, 0.1, n) for k in range(len(signals))]
    return np.column_stack(cols)


def _rows(X: np.ndarray, signals: Sequence[str]) -> list[dict[str, float]]:
    return [dict(zip(signals, map(float, row), strict=True)) for row in X]


def check_detector(factory: Callable[[], Any], *, signals: Sequence[str] = ("a",), low: float = 0.0,
                   high: float = 1.0, n_train: int = 400, outlier_factor: float = 50.0, seed: int = 0,
                   outlier: Callable[[np.ndarray], np.ndarray] | None = None) -> None:
    """Run every check; ``outlier`` builds the anomalous probe row from the training rows (default: every
    signal ``outlier_factor`` ranges above its last value; models bounded to the seen range, like
    HalfSpaceTrees, pass an in-range point off the signals' correlation instead)."""
    signals = list(signals)
    X = calm_stream(n_train + 50, signals, seed)
    train, probe = X[:n_train], X[n_train:]

    det = factory()
    assert isinstance(det, AnomalyDetector), "does not implement the AnomalyDetector protocol"
    for name, param in inspect.signature(type(det).__init__).parameters.items():
        if name == "self" or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        assert hasattr(det, name), f"constructor parameter {name!r} is not an attribute"

    # prequential loop with the one-sample forms
    loop_scores = []
    for x in _rows(train, signals):
        s = det.score_one(x)
        assert isinstance(s, float), f"score_one returned {type(s).__name__}, not float"
        assert math.isfinite(s) and low <= s <= high, f"score {s} outside [{low}, {high}]"
        loop_scores.append(s)
        det.learn_one(x)

    # batch prequential form == loop
    batch = factory()
    got = np.asarray(batch.score_learn_many(train), dtype=np.float64)
    np.testing.assert_allclose(got, loop_scores, rtol=1e-9, atol=1e-12,
                               err_msg="score_learn_many differs from the score_one/learn_one loop")

    # learn_many == learn_one loop; score_many == score_one per row
    bulk = factory()
    bulk.learn_many(train)
    one = [det.score_one(x) for x in _rows(probe, signals)]
    np.testing.assert_allclose(np.asarray(bulk.score_many(probe)), one, rtol=1e-9, atol=1e-12,
                               err_msg="learn_many/score_many differ from learn_one/score_one")

    # score_one does not learn
    before = copy.deepcopy(det)
    x0 = _rows(probe[:1], signals)[0]
    first = det.score_one(x0)
    for x in _rows(probe, signals):
        det.score_one(x)
    assert det.score_one(x0) == first == before.score_one(x0), "score_one changed the detector's state"

    # determinism
    again = factory()
    np.testing.assert_allclose(np.asarray(again.score_learn_many(train)), loop_scores, rtol=0, atol=0,
                               err_msg="two fresh detectors disagree")

    # higher = more anomalous
    spread = float(np.ptp(train)) or 1.0
    probe_row = outlier(train) if outlier is not None else train[-1] + outlier_factor * spread
    outlier_x = {s: float(probe_row[k]) for k, s in enumerate(signals)}
    calm = max(det.score_one(x) for x in _rows(probe, signals))
    wild = det.score_one(outlier_x)
    assert wild > calm, f"an obvious outlier scored {wild}, not above calm points ({calm})"
    assert low <= wild <= high
