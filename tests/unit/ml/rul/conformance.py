"""Conformance checks every :class:`~tvilling.ml.ports.RulEstimator` must pass.

Call :func:`check_rul_estimator` with a factory ``make(seed)`` returning an unfitted estimator, training
histories that run to failure, and truncated test histories.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np
import pandas as pd

from tvilling.ml.ports import RulEstimate, RulEstimator


def _as_arrays(estimates: list[RulEstimate]) -> np.ndarray:
    return np.array([[e.mean, e.lower, e.upper] for e in estimates])


def check_rul_estimator(make: Callable[[int], RulEstimator], train: pd.DataFrame, test: pd.DataFrame,
                        unit: str = "unit", time: str = "cycle") -> None:
    est = make(0)
    assert isinstance(est, RulEstimator)
    assert est.fit(train) is est

    # Shapes: one estimate per test unit, in ascending unit order, made at the unit's last cycle.
    out = est.predict(test)
    units = sorted(test[unit].unique().tolist())
    assert [e.unit for e in out] == units
    last = test.groupby(unit)[time].max()
    assert [e.at for e in out] == [float(last[u]) for u in units]

    # Bounds: finite, non-negative, lower ≤ mean ≤ upper, a nominal level in (0, 1).
    arr = _as_arrays(out)
    assert np.isfinite(arr).all()
    assert (arr >= 0).all()
    assert (arr[:, 1] <= arr[:, 0]).all() and (arr[:, 0] <= arr[:, 2]).all()
    assert all(0.0 < e.level < 1.0 for e in out)

    # P(failure within H) is a probability, non-decreasing in H, 0 before 0 cycles and 1 far ahead.
    horizons = np.linspace(-1.0, 10.0 * float(arr[:, 2].max()) + 1000.0, 80)
    for e in out:
        probs = [e.prob_failure_within(float(h)) for h in horizons]
        assert all(0.0 <= p <= 1.0 for p in probs)
        assert all(b >= a for a, b in itertools.pairwise(probs))
        assert probs[0] == 0.0 and probs[-1] == 1.0

    # Deterministic given the seed; independent of row order.
    again = make(0).fit(train.sample(frac=1.0, random_state=1)).predict(test)
    np.testing.assert_array_equal(_as_arrays(again), arr)
    shuffled = est.predict(test.sample(frac=1.0, random_state=2))
    np.testing.assert_array_equal(_as_arrays(shuffled), arr)

    # predict() is the last row of predict_history().
    history = est.predict_history(test)
    assert len(history) == len(test)
    final = {e.unit: e for e in history}
    np.testing.assert_array_equal(_as_arrays([final[u] for u in units]), arr)

    # Causal: the estimate at cycle t does not change when later cycles are appended.
    by_row = {(e.unit, e.at): e for e in history}
    for u in units[:3]:
        cycles = sorted(test.loc[test[unit] == u, time].tolist())
        for t in (cycles[0], cycles[len(cycles) // 2]):
            cut = test[(test[unit] != u) | (test[time] <= t)]
            early = {e.unit: e for e in est.predict(cut)}[u]
            np.testing.assert_allclose(_as_arrays([early]), _as_arrays([by_row[(u, float(t))]]),
                                       rtol=0, atol=1e-9)
