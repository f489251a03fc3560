"""``detect_table`` on synthetic multivariate cases with known anomalous rows (development tool, not a benchmark).

Each case: ``n`` rows of ``d`` signals, the first ``train`` rows normal, labelled anomalous rows after them. Cases
cover sustained level shifts of 3/5/8 robust sd in one signal, a correlation break, short spikes, and two cases with
no anomaly at all (stationary noise; slowly drifting signals) for the false-alarm rate. Prints, per case and seed,
row-wise precision / recall / F1 and the false-alarm rate on normal rows after the training rows, with the frozen
baseline on (default) and off (``z_floor`` = inf disables it), and per episode (a run of anomalous rows) whether
any of its rows is flagged and after how many rows. Nothing here is tuned: the settings are ``detect_table``'s
defaults; other arms can be given as JSON (``detect_table`` keyword arguments per arm name).

    .venv/bin/python bench/detect_dev/synthetic_cases.py [SEEDS] ['{"arm": {kwargs}}'] [CASE,SUBSTRINGS]
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


def joint_shift(size: float, signals: int = 4, rows: int = 300) -> Callable[[np.random.Generator],
                                                                            tuple[np.ndarray, np.ndarray]]:
    """A lasting shift of ``size`` sd in ``signals`` signals at once (a valve half-closed: flow, pressure, current),
    ``rows`` long; each signal alone stays well inside its normal range when ``size`` is small."""
    def make(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        X, y = _base(rng), np.zeros(N, bool)
        X[700:700 + rows, :signals] += size
        y[700:700 + rows] = True
        return X, y
    return make


def _plant(rng: np.random.Generator) -> np.ndarray:
    """Eight autocorrelated signals driven by two slow latent factors (AR(1), phi 0.95) plus AR(1) sensor noise
    (phi 0.8): neighbouring rows are alike, as at 1 Hz on a real rig."""
    def ar(phi: float, shape: tuple[int, ...]) -> np.ndarray:
        e = rng.normal(size=shape) * np.sqrt(1 - phi ** 2)
        out = np.empty(shape)
        out[0] = e[0]
        for t in range(1, shape[0]):
            out[t] = phi * out[t - 1] + e[t]
        return out
    load = rng.normal(size=(2, D))
    return ar(0.95, (N, 2)) @ load + 0.5 * ar(0.8, (N, D))


def plant_shift(size: float) -> Callable[[np.random.Generator], tuple[np.ndarray, np.ndarray]]:
    """The autocorrelated plant with a lasting shift of ``size`` (in units of the signal's sd) in signals 2 and 5
    for 300 rows."""
    def make(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        X, y = _plant(rng), np.zeros(N, bool)
        sd = X[:TRAIN].std(axis=0)
        X[700:1000, [2, 5]] += size * sd[[2, 5]]
        y[700:1000] = True
        return X, y
    return make


def plant_quiet(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    return _plant(rng), np.zeros(N, bool)


def _wander(rng: np.random.Generator) -> np.ndarray:
    """Eight signals driven by two common factors that wander as random walks (step 0.05 per row: load and ambient
    temperature moving the whole plant) plus unit noise; the relationships between signals stay fixed."""
    return (rng.normal(size=(N, 2)).cumsum(axis=0) * 0.05) @ rng.normal(size=(2, D)) + rng.normal(size=(N, D))


def wander_shift(size: float) -> Callable[[np.random.Generator], tuple[np.ndarray, np.ndarray]]:
    """The wandering plant with a lasting shift of ``size`` sd (unit noise) in signals 1 and 4 for 300 rows."""
    def make(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        X, y = _wander(rng), np.zeros(N, bool)
        X[700:1000, [1, 4]] += size
        y[700:1000] = True
        return X, y
    return make


def wander_quiet(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    return _wander(rng), np.zeros(N, bool)


def ramp(total: float, from_start: bool) -> Callable[[np.random.Generator], tuple[np.ndarray, np.ndarray]]:
    """No anomaly: two signals ramp (warming, say) by ``total`` sd over the rows after the training rows, either
    at the same rate from the first row (the training rows show the trend) or only after the training rows."""
    def make(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        X = _base(rng)
        rows = np.arange(N, dtype=float) if from_start else np.clip(np.arange(N) - TRAIN, 0, None)
        X[:, [3, 6]] += (rows * total / (N - TRAIN))[:, None] * np.array([1.0, 0.7])
        return X, np.zeros(N, bool)
    return make


def heating(amplitude: float, tau: float) -> Callable[[np.random.Generator], tuple[np.ndarray, np.ndarray]]:
    """No anomaly: two signals follow a heating curve ``amplitude (1 - exp(-t / tau))`` from the first row."""
    def make(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        X = _base(rng)
        X[:, [3, 6]] += (amplitude * (1 - np.exp(-np.arange(N) / tau)))[:, None] * np.array([1.0, 0.8])
        return X, np.zeros(N, bool)
    return make


def quiet(drift: float) -> Callable[[np.random.Generator], tuple[np.ndarray, np.ndarray]]:
    def make(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        return _base(rng, drift), np.zeros(N, bool)
    return make


CASES = {"shift 3 sd": shift(3), "shift 5 sd": shift(5), "shift 8 sd": shift(8), "correlation break": corr_break,
         "spikes 8 sd": spikes, "no anomaly, stationary": quiet(0.0), "no anomaly, drifting": quiet(0.05),
         # round 2 (subtle, lasting, SKAB-like collective anomalies; added before any detector change was tried):
         "shift 2 sd, 300 rows": joint_shift(2.0, 1), "joint shift 1.5 sd in 4 signals": joint_shift(1.5),
         "plant: shift 1.5 sd in 2 signals": plant_shift(1.5), "plant: shift 3 sd in 2 signals": plant_shift(3.0),
         "no anomaly, autocorrelated plant": plant_quiet,
         # added after round 2 was chosen, to measure its known weakness (not used to choose anything):
         "no anomaly, ramp 4 sd from the first row": ramp(4.0, True),
         "no anomaly, ramp 4 sd after the training rows": ramp(4.0, False),
         "no anomaly, heating curve 10 sd, tau 300 rows": heating(10.0, 300.0),
         "no anomaly, heating curve 5 sd, tau 1000 rows": heating(5.0, 1000.0),
         # round 4 (added before its run, after a 38-signal random-walk-factor probe showed round 2 holding drift):
         "no anomaly, random-walk factors": wander_quiet,
         "random-walk factors: shift 2 sd in 2 signals": wander_shift(2.0)}
ARMS = {"default": {}, "baseline off": {"z_floor": float("inf")}}


def episodes(y: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) of each run of True in ``y``."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], y.astype(int), [0]])))
    return list(zip(edges[::2], edges[1::2], strict=True))


def main() -> None:
    seeds = range(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
    arms = json.loads(sys.argv[2]) if len(sys.argv) > 2 else ARMS
    only = sys.argv[3].split(",") if len(sys.argv) > 3 else None
    for name, make in CASES.items():
        if only and not any(o in name for o in only):
            continue
        for arm, kwargs in arms.items():
            tp = fp = fn = 0
            found, delays = 0, []
            n_episodes = 0
            for seed in seeds:
                X, y = make(np.random.default_rng(seed))
                flags = detect_table(X, [f"s{j}" for j in range(D)], train_rows=TRAIN, **kwargs).is_anomaly
                f, t = flags[TRAIN:], y[TRAIN:]
                tp += int((f & t).sum())
                fp += int((f & ~t).sum())
                fn += int((~f & t).sum())
                for a, b in episodes(y):
                    n_episodes += 1
                    hit = np.flatnonzero(flags[a:b])
                    if hit.size:
                        found += 1
                        delays.append(int(hit[0]))
            normal = sum(int((~make(np.random.default_rng(s))[1][TRAIN:]).sum()) for s in seeds)
            prec = tp / (tp + fp) if tp + fp else None
            rec = tp / (tp + fn) if tp + fn else None
            f1 = 2 * prec * rec / (prec + rec) if prec and rec else None
            print(json.dumps({"case": name, "arm": arm, "precision": prec and round(prec, 3),
                              "recall": rec and round(rec, 3), "f1": f1 and round(f1, 3),
                              "false_alarm_rate": round(fp / normal, 4),
                              "episodes_found": f"{found}/{n_episodes}" if n_episodes else None,
                              "median_delay_rows": float(np.median(delays)) if delays else None}))


if __name__ == "__main__":
    main()
