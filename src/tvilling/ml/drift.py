"""Concept-drift detection on a stream of numbers (e.g. a model's residuals), wrapping river's detectors.

``update(value)`` returns True on the step where a drift is detected; ``drift_detected`` repeats the last answer;
``detections`` counts them. Parameters are constructor arguments, passed to river unchanged.

>>> import random
>>> rng = random.Random(0)
>>> det = DriftDetector.page_hinkley()
>>> before = [det.update(rng.gauss(0.0, 1.0)) for _ in range(500)]
>>> after = [det.update(rng.gauss(5.0, 1.0)) for _ in range(200)]
>>> any(before), any(after)
(False, True)
"""

from __future__ import annotations

import math
from typing import Any, Literal

from river import drift as river_drift

from tvilling.core.errors import ValidationError

Method = Literal["adwin", "page_hinkley"]


class DriftDetector:
    """ADWIN (adaptive windowing, Bifet & Gavaldà 2007) or Page-Hinkley, via river."""

    def __init__(self, method: Method = "adwin", **params: Any) -> None:
        if method == "adwin":
            self._impl: Any = river_drift.ADWIN(**params)  # type: ignore[no-untyped-call]
        elif method == "page_hinkley":
            self._impl = river_drift.PageHinkley(**params)
        else:
            raise ValidationError(f"unknown drift method {method!r}", hint="use 'adwin' or 'page_hinkley'")
        self.method = method
        self.params = dict(params)
        self.detections = 0
        self._last = False
        self._n = 0

    @classmethod
    def adwin(cls, delta: float = 0.002, **params: Any) -> DriftDetector:
        return cls("adwin", delta=delta, **params)

    @classmethod
    def page_hinkley(cls, threshold: float = 50.0, delta: float = 0.005, min_instances: int = 30,
                     **params: Any) -> DriftDetector:
        return cls("page_hinkley", threshold=threshold, delta=delta, min_instances=min_instances, **params)

    def update(self, value: float) -> bool:
        """Feed one value; True if a drift is detected at this step. Non-finite values are skipped."""
        if not math.isfinite(value):
            self._last = False
            return False
        self._impl.update(float(value))
        self._n += 1
        self._last = bool(self._impl.drift_detected)
        if self._last:
            self.detections += 1
        return self._last

    @property
    def drift_detected(self) -> bool:
        return self._last

    @property
    def n_seen(self) -> int:
        return self._n
