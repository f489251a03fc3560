"""``detect_table`` on synthetic multivariate cases with known anomalous rows (development tool, not a benchmark).

Each case: ``n`` rows of ``d`` signals, the first ``train`` rows normal, labelled anomalous rows after them. Cases
cover sustained level shifts of 3/5/8 robust sd in one signal, a correlation break, short spikes, and two cases with
no anomaly at all (stationary noise; slowly drifting signals) for the false-alarm rate. Prints, per case and seed,
row-wise precision / recall / F1 and the false-alarm rate on normal rows after the training rows, with the frozen
baseline on (default) and off (``z_floor`` = inf disables it). Nothing here is tuned: the settings are
``detect_table``'s defaults.

    .venv/bin/python bench/detect_dev/synthetic_cases.py
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable

import numpy as np

from tvilling.ml.anomaly.offline import detect_table

N, D, TRAIN = 1200, 8, 400


def _base(rng: np.random.Generator, drift: float = 0.01) -> np.ndarray:
    return rng.normal(size=(N, D)).cumsum(axis=0) * drift + rng.normal(size=(N, D))


def shift(size: float) -> Callable[[np.random.Generator], tuple[np.ndarray, np.ndarray]]:
    def make(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        X, y = _base(rng), np.zeros(N, bool)
        X[900:1000, 2] += size
        y[900:1000] = True
        return X, y
    return make


def corr_break(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    a = rng.normal(size=N)
    X, y = _base(rng), np.zeros(N, bool)
    X[:, 0], X[:, 1] = a, 2 * a + rng.normal(0, 0.1, N)
    X[800:850, 1] = -X[800:850, 1]
    y[800:850] = True
    return X, y


def spikes(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    X, y = _base(rng), np.zeros(N, bool)
    for at in (500, 700, 950, 1100):
        X[at, at % D] += 8
        y[at] = True
    return X, y


def quiet(drift: float) -> Callable[[np.random.Generator], tuple[np.ndarray, np.ndarray]]:
    def make(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        return _base(rng, drift), np.zeros(N, bool)
    return make


CASES = {"shift 3 sd": shift(3), "shift 5 sd": shift(5), "shift 8 sd": shift(8), "correlation break": corr_break,
         "spikes 8 sd": spikes, "no anomaly, stationary": quiet(0.0), "no anomaly, drifting": quiet(0.05)}


def main() -> None:
    seeds = range(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
    for name, make in CASES.items():
        for arm, z_floor in (("baseline on", 4.0), ("baseline off", float("inf"))):
            tp = fp = fn = 0
            for seed in seeds:
                X, y = make(np.random.default_rng(seed))
                flags = detect_table(X, [f"s{j}" for j in range(D)], train_rows=TRAIN, z_floor=z_floor).is_anomaly
                f, t = flags[TRAIN:], y[TRAIN:]
                tp += int((f & t).sum())
                fp += int((f & ~t).sum())
                fn += int((~f & t).sum())
            normal = sum(int((~make(np.random.default_rng(s))[1][TRAIN:]).sum()) for s in seeds)
            prec = tp / (tp + fp) if tp + fp else None
            rec = tp / (tp + fn) if tp + fn else None
            f1 = 2 * prec * rec / (prec + rec) if prec and rec else None
            print(json.dumps({"case": name, "arm": arm, "precision": prec and round(prec, 3),
                              "recall": rec and round(rec, 3), "f1": f1 and round(f1, 3),
                              "false_alarm_rate": round(fp / normal, 4)}))


if __name__ == "__main__":
    main()
