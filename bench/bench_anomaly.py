"""Per-point cost of the default univariate detector (goal: < 20 µs/point), against river's HalfSpaceTrees
in the same run. Prints one JSON object. Costs are CPU time of this process (``time.process_time``), best of
three, because the CI-class VM is shared and wall time mostly measures the neighbours; wall time is reported
too.

    .venv/bin/python bench/bench_anomaly.py [--points N]
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np
from river import anomaly, preprocessing

from tvilling.ml.anomaly import EnsembleDetector, MultivariateDetector


def _stream(n: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    v = 50 + 10 * np.sin(np.arange(n) / 40.0) + rng.normal(0, 1, n)
    v[n // 2:] += 5  # one regime change, a few spikes: the detector's branches all run
    v[rng.integers(0, n, 20)] += 40
    return v


def _best_of(fn, repeats: int = 3) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """(best CPU seconds, best wall seconds) over ``repeats`` runs."""
    cpu = wall = float("inf")
    for _ in range(repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        cpu = min(cpu, time.process_time() - c0)
        wall = min(wall, time.perf_counter() - t0)
    return cpu, wall


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--points", type=int, default=200_000)
    args = ap.parse_args()
    v = _stream(args.points)

    batch_s = _best_of(lambda: EnsembleDetector().score_learn_many(v))

    def one_by_one() -> None:
        det = EnsembleDetector()
        for x in v[:50_000].tolist():
            det.score_one({"v": x})
            det.learn_one({"v": x})

    one_s = _best_of(one_by_one, 1)
    n_base = min(args.points, 20_000)

    def river_hst() -> None:
        model = preprocessing.MinMaxScaler() | anomaly.HalfSpaceTrees(seed=1)
        for x in v[:n_base].tolist():
            model.score_one({"v": x})
            model.learn_one({"v": x})

    base_s = _best_of(river_hst, 1)
    X = np.column_stack([v, 2 * v + 1, np.roll(v, 3)])[:50_000]
    mv_s = _best_of(lambda: MultivariateDetector().score_learn_many(X), 1)
    print(json.dumps({
        "points": args.points,
        "ensemble_us_per_point_batch": round(1e6 * batch_s[0] / args.points, 3),
        "ensemble_us_per_point_batch_wall": round(1e6 * batch_s[1] / args.points, 3),
        "ensemble_us_per_point_one_sample": round(1e6 * one_s[0] / 50_000, 3),
        "river_hst_us_per_point": round(1e6 * base_s[0] / n_base, 3),
        "multivariate_3_signals_us_per_point": round(1e6 * mv_s[0] / len(X), 3),
        "goal_us_per_point": 20.0,
        "python": platform.python_version(),
    }))


if __name__ == "__main__":
    main()
