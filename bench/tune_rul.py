"""Grouped cross-validation on C-MAPSS *training* files only — how the RUL defaults are chosen.

Rule (no test file is read): for each candidate configuration and each training file, 5-fold GroupKFold by
unit (units shuffled with seed 0, as ``LightGbmRul.folds``); the featurizer and model are fitted on four
folds and every row of the held-out units is predicted. Features are causal, so the prediction at row t
equals the prediction on the unit truncated at t: every row is a possible truncation point. Truncation rule
mimicking the test cut: cut points with true RUL ≤ 150 (``LightGbmRul.horizon``), each unit weighing the same
in total — the expectation over one uniformly random cut per unit among its last 150 cycles.
Score: RMSE against the *uncapped* RUL at the best cap of the grid (the cap ``fit`` would choose by the same
CV). The choice is the candidate with the lowest mean of that score over the training files given.

Intervals are checked by a second, cheap level of CV on the out-of-fold predictions: the Mondrian residual
quantiles are calibrated on four folds' held-out predictions and the coverage of the nominal interval is
measured on the fifth (same weighting) — ``cv_coverage``.

A variant may set ``cap_grid`` (the grid its ``fit`` would choose from); otherwise ``--caps`` applies.
Prints one JSON object: the CV table (per candidate, file and cap) and the choice. With ``--reference NAME``
(today's default), only candidates whose CV RMSE beats the reference on EVERY training file may be chosen;
if none does, the choice is the reference (``beats_reference`` per candidate).

    OMP_NUM_THREADS=1 nice -n 19 .venv/bin/python bench/tune_rul.py \
        --trains ../shared/datasets/cmapss/train_FD001.txt,../shared/datasets/cmapss/train_FD003.txt \
        --caps 125,140 --variants '{"default": {}, "bag5": {"n_bags": 5}}'
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import cast

import numpy as np

from tvilling.cli.bench_rul import read_cmapss
from tvilling.ml.rul.features import check_history
from tvilling.ml.rul.lgbm import LightGbmRul, TreeParams


def _wrmse(err: np.ndarray, w: np.ndarray) -> float:
    return float(np.sqrt(np.average(err ** 2, weights=w)))


def cv_coverage(est: LightGbmRul, pred: np.ndarray, rul: np.ndarray, weight: np.ndarray,
                fold: np.ndarray) -> float:
    """Coverage of intervals calibrated on the other folds' out-of-fold residuals, per held-out fold."""
    hits = np.zeros(len(pred))
    for k in np.unique(fold):
        cal = replace(est)
        cal._calibrate(pred[fold != k], rul[fold != k], weight[fold != k])
        test = fold == k
        bins = np.searchsorted(cal.bin_edges_, pred[test], side="right")
        bounds = np.array(cal.residual_bounds_)[bins]
        lo = np.minimum(np.maximum(pred[test] + bounds[:, 0], 0.0), pred[test])
        hi = np.maximum(pred[test] + bounds[:, 1], pred[test])
        hits[test] = (lo <= rul[test]) & (rul[test] <= hi)
    return float(np.average(hits, weights=weight))


def evaluate(est: LightGbmRul, path: Path, caps: list[float]) -> dict[str, object]:
    frame = check_history(read_cmapss(path), est.schema)
    rul = est._true_rul(frame)
    weight = 1.0 / frame.groupby("unit")["cycle"].transform("size").to_numpy(dtype=float)
    horizon = est.horizon if est.horizon is not None else np.inf
    weight = np.where(rul <= horizon, weight, 0.0)
    fold = est.folds(frame["unit"].to_numpy())
    started = time.process_time()
    oof = est.out_of_fold(frame, caps)
    scores = {str(c): round(_wrmse(oof[c] - rul, weight), 3) for c in caps}
    best = min(caps, key=lambda c: (_wrmse(oof[c] - rul, weight), c))
    return {"scores": scores, "cap": best, "rmse": scores[str(best)],
            "cv_coverage": round(cv_coverage(est, oof[best], rul, weight, fold), 3),
            "cpu_seconds": round(time.process_time() - started, 1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trains", default="../shared/datasets/cmapss/train_FD001.txt,"
                                        "../shared/datasets/cmapss/train_FD003.txt")
    ap.add_argument("--caps", default="125,140", help="cap grid of variants without their own cap_grid")
    ap.add_argument("--variants", default='{"default": {}}', help="JSON: name -> LightGbmRul/TreeParams overrides")
    ap.add_argument("--n-jobs", type=int, default=1, help="LightGBM threads per fit")
    ap.add_argument("--workers", type=int, default=1, help="(candidate, file) pairs evaluated in parallel")
    ap.add_argument("--reference", default=None,
                    help="variant to beat: a candidate is adoptable only if its CV RMSE is lower on EVERY file")
    args = ap.parse_args()
    caps = [float(c) for c in args.caps.split(",")]
    trains = [Path(p) for p in args.trains.split(",")]
    base = LightGbmRul(n_jobs=args.n_jobs)
    variants: dict[str, dict[str, object]] = json.loads(args.variants)
    ests: dict[str, LightGbmRul] = {}
    for name, overrides in variants.items():
        tree_over = {k: v for k, v in overrides.items() if k in TreeParams.__dataclass_fields__}
        est_over = {k: v for k, v in overrides.items() if k not in tree_over}
        ests[name] = replace(base, trees=replace(base.trees, **tree_over), **est_over)  # type: ignore[arg-type]
    pairs = [(name, p) for name in variants for p in trains]

    def caps_of(name: str) -> list[float]:
        # A variant may carry its own cap grid (what its fit would choose from); else --caps.
        grid = variants[name].get("cap_grid")
        return [float(c) for c in grid] if isinstance(grid, list) else caps
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        results = list(pool.map(evaluate, [ests[n] for n, _ in pairs], [p for _, p in pairs],
                                [caps_of(n) for n, _ in pairs]))
    table: dict[str, dict[str, object]] = {}
    for name, overrides in variants.items():
        per_file = {p.name: r for (n, p), r in zip(pairs, results, strict=True) if n == name}
        mean = float(np.mean([r["rmse"] for r in per_file.values()]))
        table[name] = {"overrides": overrides, "files": per_file, "mean_rmse": round(mean, 3)}
    pool_names = list(table)
    if args.reference is not None:
        if args.reference not in table:
            raise SystemExit(f"--reference {args.reference!r} is not one of the variants")
        ref = cast(dict[str, dict[str, float]], table[args.reference]["files"])
        for name, row in table.items():
            files = cast(dict[str, dict[str, float]], row["files"])
            row["beats_reference"] = name != args.reference and all(
                files[f]["rmse"] < ref[f]["rmse"] for f in files)
        # Adoption rule: only candidates better than the reference on every training file compete.
        pool_names = [n for n in table if table[n]["beats_reference"]] or [args.reference]
    choice = min(pool_names, key=lambda n: float(table[n]["mean_rmse"]))  # type: ignore[arg-type]
    print(json.dumps({"trains": [str(p) for p in trains], "caps": caps, "horizon": base.horizon,
                      "reference": args.reference, "table": table, "choice": choice,
                      "choice_overrides": table[choice]["overrides"]}))


if __name__ == "__main__":
    main()
