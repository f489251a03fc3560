"""Grouped cross-validation of the optional CNN RUL model (``CnnRul``) on C-MAPSS *training* files only — how
its settings are chosen. Runs on a GPU when one is visible (``--device auto``).

Same scoring rule as ``bench/tune_rul.py`` (round 3 onwards): 5-fold GroupKFold by unit (``LightGbmRul.folds``
with the split seed), every row of a held-out unit a cut point (features are causal), cut points with true RUL
≤ 150 only, each unit weighing 1, RMSE against the *uncapped* RUL; averaged over ``--split-seeds`` and then over
the training files. ``coverage`` is the weighted share of held-out cut points inside the fit's own 80 %
interval (its split-conformal calibration on held-out training units, as in the real fit). Every fold is a
full ``CnnRul.fit`` with the candidate's settings, so the CV measures exactly what ``fit`` would produce.

Choice: the configuration with the lowest mean RMSE (ties: the one listed first). Prints one JSON object.

    python bench/tune_rul_deep.py --workers 12 --configs '{"e15": {"epochs": 15}, "e40": {"epochs": 40}}'
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from tvilling.cli.bench_rul import read_cmapss
from tvilling.ml.rul.deep import CnnRul
from tvilling.ml.rul.features import Schema, check_history
from tvilling.ml.rul.lgbm import LightGbmRul, cut_weights

DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "cmapss"
HORIZON = 150.0


def _frame_and_folds(path: Path, split: int) -> tuple[Any, np.ndarray, np.ndarray]:
    frame = check_history(read_cmapss(path), Schema())  # sorted by (unit, cycle)
    units = frame["unit"].to_numpy()
    return frame, units, LightGbmRul(fold_seed=split).folds(units)


def run_fold(config: dict[str, Any], path: Path, split: int, k: int, device: str) -> dict[str, Any]:
    """Fit on four folds, predict every row of the fifth: (row positions, mean, lower, upper, seconds)."""
    frame, units, fold = _frame_and_folds(path, split)
    held = np.flatnonzero(fold == k)
    started = time.perf_counter()
    est = CnnRul(device=device, threads=1, **config).fit(frame[fold != k].reset_index(drop=True))
    fit_s = time.perf_counter() - started
    out = est.predict_history(frame.iloc[held].reset_index(drop=True))
    if [e.unit for e in out] != units[held].tolist():  # same (unit, cycle) order as the frame
        raise RuntimeError("predict_history rows do not line up with the held-out frame")
    return {"rows": held, "mean": np.array([e.mean for e in out]), "lower": np.array([e.lower for e in out]),
            "upper": np.array([e.upper for e in out]), "fit_seconds": fit_s, "device": est.device_}


def score(path: Path, split: int, folds: list[dict[str, Any]]) -> dict[str, Any]:
    frame, units, _ = _frame_and_folds(path, split)
    life = frame.groupby("unit")["cycle"].transform("max").to_numpy(dtype=float)
    rul = life - frame["cycle"].to_numpy(dtype=float)
    weight = cut_weights(rul, units, HORIZON, "unit")
    mean, lower, upper = (np.full(len(frame), np.nan) for _ in range(3))
    for f in folds:
        mean[f["rows"]], lower[f["rows"]], upper[f["rows"]] = f["mean"], f["lower"], f["upper"]
    if np.isnan(mean).any():
        raise RuntimeError("a row got no out-of-fold prediction")
    hit = (lower <= rul) & (rul <= upper)
    return {"rmse": round(float(np.sqrt(np.average((mean - rul) ** 2, weights=weight))), 3),
            "coverage": round(float(np.average(hit, weights=weight)), 3),
            "fit_seconds_per_fold": round(float(np.mean([f["fit_seconds"] for f in folds])), 1),
            "device": folds[0]["device"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trains", default=f"{DATA}/train_FD001.txt,{DATA}/train_FD003.txt")
    ap.add_argument("--configs", required=True, help="JSON: name -> CnnRul overrides")
    ap.add_argument("--split-seeds", default="0,1,2")
    ap.add_argument("--workers", type=int, default=1, help="folds fitted in parallel (processes)")
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    configs: dict[str, dict[str, Any]] = json.loads(args.configs)
    trains = [Path(p) for p in args.trains.split(",")]
    seeds = [int(s) for s in args.split_seeds.split(",")]
    jobs = [(n, p, s, k) for n in configs for p in trains for s in seeds for k in range(LightGbmRul().n_splits)]
    started = time.perf_counter()
    # spawn: each worker initialises CUDA itself (a forked CUDA context is unusable)
    with ProcessPoolExecutor(args.workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(run_fold, configs[n], p, s, k, args.device) for n, p, s, k in jobs]
        for i, fut in enumerate(futures):  # progress on stderr: a cut-off run still says how far it got
            r = fut.result()
            n, p, s, k = jobs[i]
            print(f"{time.perf_counter() - started:7.1f}s {n} {p.stem} split {s} fold {k}: "
                  f"fit {r['fit_seconds']:.1f}s on {r['device']}", file=sys.stderr, flush=True)
        done = [f.result() for f in futures]
    table: dict[str, Any] = {}
    for name in configs:
        files: dict[str, Any] = {}
        for p in trains:
            per_split = {s: score(p, s, [r for (n, q, t, _), r in zip(jobs, done, strict=True)
                                         if n == name and q == p and t == s]) for s in seeds}
            files[p.name] = {"rmse": round(float(np.mean([v["rmse"] for v in per_split.values()])), 3),
                             "coverage": round(float(np.mean([v["coverage"] for v in per_split.values()])), 3),
                             "splits": {str(s): v for s, v in per_split.items()}}
        table[name] = {"config": configs[name], "files": files,
                       "mean_rmse": round(float(np.mean([f["rmse"] for f in files.values()])), 3)}
    choice = min(configs, key=lambda n: table[n]["mean_rmse"])  # min keeps the first of equal scores
    print(json.dumps({"trains": [str(p) for p in trains], "split_seeds": seeds, "horizon": HORIZON,
                      "table": table, "choice": choice, "choice_config": configs[choice],
                      "wall_seconds": round(time.perf_counter() - started, 1)}))


if __name__ == "__main__":
    main()
