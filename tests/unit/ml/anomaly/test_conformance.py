"""Every detector shipped in tvilling.ml.anomaly passes the conformance suite."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from river import anomaly as river_anomaly
from river import preprocessing as river_preprocessing
from sklearn.ensemble import IsolationForest

from tests.unit.ml.anomaly.conformance import check_detector
from tvilling.ml.anomaly import EnsembleDetector, MultivariateDetector, RiverDetector, SklearnDetector


def _corner(train: np.ndarray) -> np.ndarray:
    """Max of the first signal with min of the second: in range, but against their correlation."""
    return np.array([train[:, 0].max(), train[:, 1].min()])


CASES: dict[str, tuple[Callable[[], Any], tuple[str, ...], float]] = {
    "ensemble": (lambda: EnsembleDetector(), ("a",), 1.0),
    "ensemble-unshaped": (lambda: EnsembleDetector(suppress=0, levels=0), ("a",), 1.0),
    "ensemble-all-tests": (lambda: EnsembleDetector(vol_weight=1.0, subseq_len=64, step_context=True,
                                                     norm_alpha=0.003, norm_floor=0.2),
                           ("a",), 1.0),
    "multivariate": (lambda: MultivariateDetector(), ("a", "b", "c"), 1.0),
    "multivariate-1": (lambda: MultivariateDetector(), ("a",), 1.0),
    "sklearn-iforest": (lambda: SklearnDetector(IsolationForest(n_estimators=25, random_state=0),
                                                min_fit=100, refit_every=150), ("a", "b"), 1.0),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_detector_conforms(name: str) -> None:
    factory, signals, high = CASES[name]
    check_detector(factory, signals=signals, high=high)


def test_river_wrapper_conforms() -> None:
    check_detector(lambda: RiverDetector(river_preprocessing.MinMaxScaler() | river_anomaly.HalfSpaceTrees(
        seed=3, height=6, window_size=100)), signals=("a", "b"), outlier=_corner)


class _Broken(EnsembleDetector):
    """Learns inside score_one: the suite must catch it."""

    def score_one(self, x: Any) -> float:
        s = super().score_one(x)
        super().learn_one(x)
        return s


def test_suite_catches_a_detector_that_learns_while_scoring() -> None:
    with pytest.raises(AssertionError):
        check_detector(lambda: _Broken(warmup=5), signals=("a",))
