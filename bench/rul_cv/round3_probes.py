"""Round-3 probes on out-of-fold predictions (training files only; no test file is read).

Needs the .npz dumps of ``bench/tune_rul.py --dump-oof DIR`` for the variants ``round2``, ``median`` and
``trunc150`` (commands in docs/benchmarks.md). Scores, under the round-3 cut rule, (1) causal temporal
smoothing of each unit's predictions (mean of p(t−k) − k over the last K cycles), (2) averages of existing
candidates (over caps, mean/median baselines, capped/truncated target) and (3) an ExtraTrees model on the same
features and folds, alone and averaged with the trees. Prints one JSON object.

    OMP_NUM_THREADS=1 nice -n 19 .venv/bin/python bench/rul_cv/round3_probes.py --dumps /tmp/oof3
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import ExtraTreesRegressor

from tvilling.cli.bench_rul import read_cmapss
from tvilling.ml.rul.features import check_history
from tvilling.ml.rul.lgbm import LightGbmRul, cut_weights

CAPS = (130.0, 140.0, 150.0)


class _Forest:
    def __init__(self) -> None:
        self.m = ExtraTreesRegressor(n_estimators=150, min_samples_leaf=40, max_features=0.5, n_jobs=1,
                                     random_state=0)

    def fit(self, x: pd.DataFrame, y: np.ndarray, w: np.ndarray | None = None) -> _Forest:
        self.m.fit(x.to_numpy(), y, sample_weight=w)
        return self

    def predict(self, x: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.m.predict(x.to_numpy()))


class _ForestRul(LightGbmRul):
    def _model(self) -> Any:  # the same folds, features and weights; another learner
        return _Forest()


def _smooth(p: np.ndarray, unit: np.ndarray, k: int, cap: float) -> np.ndarray:
    out = np.empty_like(p)
    starts = np.r_[0, np.flatnonzero(unit[1:] != unit[:-1]) + 1, len(unit)]
    for a, b in itertools.pairwise(starts.tolist()):
        q = p[a:b]
        for t in range(len(q)):
            ks = np.arange(min(t + 1, k))
            out[a + t] = np.mean(q[t - ks] - ks)
    return np.asarray(np.clip(out, 0.0, cap))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dumps", type=Path, required=True)
    ap.add_argument("--data", type=Path, default=Path("../shared/datasets/cmapss"))
    args = ap.parse_args()
    result: dict[str, dict[str, float]] = {}
    for name in ("FD001", "FD003"):
        def load(variant: str, name: str = name) -> dict[float, np.ndarray]:
            d = np.load(args.dumps / f"{variant}_train_{name}.npz")
            return dict(zip(d["caps"].tolist(), d["oof"], strict=True))
        ref = np.load(args.dumps / f"round2_train_{name}.npz")
        rul, unit = ref["rul"], ref["unit"]
        w = cut_weights(rul, unit, 150.0)

        def score(p: np.ndarray, rul: np.ndarray = rul, w: np.ndarray = w) -> float:
            return round(float(np.sqrt(np.average((p - rul) ** 2, weights=w))), 3)
        o, m, t = load("round2"), load("median"), load("trunc150")[150.0]
        frame = check_history(read_cmapss(args.data / f"train_{name}.txt"), LightGbmRul().schema)
        forest = _ForestRul().out_of_fold(frame, list(CAPS))
        row = {"reference (round2, cap 140)": score(o[140.0]),
               **{f"smoothed K={k}": score(_smooth(o[140.0], unit, k, 140.0)) for k in (3, 5, 10, 20)},
               "mean of caps 130/140/150": score(np.mean([o[c] for c in CAPS], axis=0)),
               "mean of caps 130/140": score((o[130.0] + o[140.0]) / 2),
               "round2 + truncated target": score((o[140.0] + t) / 2),
               "round2 + median baseline (cap 140)": score((o[140.0] + m[140.0]) / 2),
               "median baseline, mean of caps 130/140/150": score(np.mean([m[c] for c in CAPS], axis=0)),
               "round2 + median, mean of caps 130/140/150": score(np.mean([*(o[c] for c in CAPS),
                                                                             *(m[c] for c in CAPS)], axis=0)),
               **{f"extratrees cap {c:g}": score(forest[c]) for c in CAPS},
               **{f"0.5 round2 + 0.5 extratrees cap {c:g}": score((o[c] + forest[c]) / 2) for c in CAPS},
               "0.7 round2 + 0.3 extratrees cap 140": score(0.7 * o[140.0] + 0.3 * forest[140.0])}
        result[f"train_{name}.txt"] = row
    print(json.dumps(result))


if __name__ == "__main__":
    main()
