"""Drift detectors catch a synthetic regime change and stay quiet on a stationary stream."""

from __future__ import annotations

import numpy as np
import pytest

from tvilling.core.errors import ValidationError
from tvilling.ml.drift import DriftDetector
from tvilling.ml.ports import DriftDetector as DriftDetectorProtocol


@pytest.mark.parametrize("factory", [DriftDetector.adwin, DriftDetector.page_hinkley])
def test_regime_change_is_detected_soon_after_it_happens(factory: object) -> None:
    rng = np.random.default_rng(42)
    det = factory()  # type: ignore[operator]
    assert isinstance(det, DriftDetectorProtocol)
    calm = [det.update(v) for v in rng.normal(0.0, 1.0, 1000)]
    shifted = [det.update(v) for v in rng.normal(3.0, 1.0, 300)]
    assert not any(calm), "false drift on a stationary stream"
    assert any(shifted)
    assert shifted.index(True) < 100  # detected within 100 points of the change
    assert det.detections >= 1 and det.n_seen == 1300


def test_non_finite_values_are_skipped_and_unknown_method_rejected() -> None:
    det = DriftDetector.adwin()
    assert det.update(float("nan")) is False and det.n_seen == 0
    with pytest.raises(ValidationError):
        DriftDetector("cusum")  # type: ignore[arg-type]
