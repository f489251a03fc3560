"""Grouped cross-validation on C-MAPSS *training* files only — how the RUL defaults are chosen.

Rule (no test file is read): for each candidate configuration and each training file, 5-fold GroupKFold by
unit (units shuffled with seed 0, as ``LightGbmRul.folds``); the featurizer and model are fitted on four
folds and every row of the held-out units is predicted. Features are causal, so the prediction at row t
equals the prediction on the unit truncated at t: every row is a possible truncation point. Truncation rule
mimicking the test cut: cut points with true RUL ≤ 150 (``LightGbmRul.horizon``), each unit weighing the same
in total — the expectation over one uniformly random cut per unit among its last 150 cycles
(``cut_weights(..., "unit")``; round 3). Rounds 1-2 weighed rows 1/(unit life) before the horizon filter, so
short-lived units counted up to 3.5x more than long-lived ones although every test unit counts once; that
score is still reported as ``round2_rule``. ``--check-truncation`` compares the rule's distribution of RUL at
the cut with the test labels' (RUL_*.txt; their distribution only) and prints that check alone.
Score: RMSE against the *uncapped* RUL at the best cap of the grid (the cap ``fit`` would choose by the same
CV). The choice is the candidate with the lowest mean of that score over the training files given.

Intervals are checked by a second, cheap level of CV on the out-of-fold predictions: the Mondrian residual
quantiles are calibrated on four folds' held-out predictions and the coverage of the nominal interval is
measured on the fifth (same weighting) — ``cv_coverage``.

``--split-seeds 0,1,2`` (round 4): every variant is evaluated under several fold splits (the internal CV's
unit shuffle, ``LightGbmRul.fold_seed``; the models' seeds stay as the variant says). Per file the table
then gives the mean RMSE over the splits (each split at its own best cap, as above), the per-split RMSE and
cap, and the mean ``cv_coverage``; with ``--reference`` a candidate also gets its gain over the reference
(mean over splits) and the number of splits in which it beats the reference on every file
(:func:`compare_splits`). Without the option the output is the single-split table, as before.

A variant may set ``cap_grid`` (the grid its ``fit`` would choose from); otherwise ``--caps`` applies. A variant
with ``average_caps`` (round 5) is fitted at each of those caps and scored, with no cap chosen, on the mean of
its per-cap out-of-fold predictions — what its ``fit`` predicts and calibrates on; ``cv_coverage`` likewise
(its ``cap`` reads e.g. ``"mean of 130/140"``; ``scores`` holds each cap's RMSE and the averaged one's).
Since round 5 the default averages caps 130/140 on mean+median baselines: a variant scored at the best cap of
a grid must say ``"average_caps": []``, and the round-1 to round-4 variants also ``"baseline_stat": "mean"``.
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
import pandas as pd

from tvilling.cli.bench_rul import read_cmapss, read_truth
from tvilling.ml.rul.features import check_history
from tvilling.ml.rul.lgbm import LightGbmRul, TreeParams, cut_weights


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


def evaluate(est: LightGbmRul, path: Path, caps: list[float], dump: Path | None = None,
             name: str = "") -> dict[str, object]:
    frame = check_history(read_cmapss(path), est.schema)
    rul = est._true_rul(frame)
    units = frame["unit"].to_numpy()
    weight = cut_weights(rul, units, est.horizon, "unit")
    # The round-1/2 rule (rows weighed 1/life before the horizon filter), reported for comparison only.
    old_weight = cut_weights(rul, units, est.horizon, "life")
    fold = est.folds(units)
    averaging = est._averaging()
    if averaging:  # no cap is chosen: the variant's fit averages its per-cap predictions
        caps = [float(c) for c in est.average_caps]
    started = time.process_time()
    oof = est.out_of_fold(frame, caps)
    cpu = time.process_time() - started
    if dump is not None:  # out-of-fold predictions, for offline analysis of the same CV
        np.savez(dump / f"{name}_{path.stem}.npz", rul=rul, unit=units, cycle=frame["cycle"].to_numpy(),
                 fold=fold, caps=np.array(caps), oof=np.array([oof[c] for c in caps]),
                 average_caps=np.array([float(c) for c in est.average_caps] if averaging else []))
    scores = {str(c): round(_wrmse(oof[c] - rul, weight), 3) for c in caps}
    if averaging:
        label = "mean of " + "/".join(f"{c:g}" for c in caps)
        pred = np.mean([oof[c] for c in caps], axis=0)
        scores[label] = round(_wrmse(pred - rul, weight), 3)
        return {"scores": scores, "cap": label, "rmse": scores[label], "average_caps": caps,
                "cv_coverage": round(cv_coverage(est, pred, rul, weight, fold), 3),
                "round2_rule": {"cap": label, "rmse": round(_wrmse(pred - rul, old_weight), 3)},
                "cpu_seconds": round(cpu, 1)}
    best = min(caps, key=lambda c: (_wrmse(oof[c] - rul, weight), c))
    old_best = min(caps, key=lambda c: (_wrmse(oof[c] - rul, old_weight), c))
    return {"scores": scores, "cap": best, "rmse": scores[str(best)],
            "cv_coverage": round(cv_coverage(est, oof[best], rul, weight, fold), 3),
            "round2_rule": {"cap": old_best, "rmse": round(_wrmse(oof[old_best] - rul, old_weight), 3)},
            "cpu_seconds": round(cpu, 1)}


def aggregate_splits(per_split: dict[int, dict[str, object]]) -> dict[str, object]:
    """One file's results under several fold splits (split seed -> :func:`evaluate` result): the mean RMSE
    over the splits (each at its own best cap), the per-split RMSE and cap, and the mean cv_coverage."""
    if not per_split:
        raise ValueError("no split to aggregate")
    seeds = sorted(per_split)
    rmse = [float(cast(float, per_split[s]["rmse"])) for s in seeds]
    cover = [float(cast(float, per_split[s]["cv_coverage"])) for s in seeds]
    return {"rmse": round(float(np.mean(rmse)), 3), "cv_coverage": round(float(np.mean(cover)), 3),
            "split_seeds": seeds, "rmse_per_split": rmse, "cap_per_split": [per_split[s]["cap"] for s in seeds],
            "cv_coverage_per_split": cover, "splits": {str(s): per_split[s] for s in seeds}}


def compare_splits(cand: dict[str, dict[str, object]], ref: dict[str, dict[str, object]]) -> dict[str, object]:
    """A candidate's per-file aggregates (:func:`aggregate_splits`) against the reference's: gain (reference
    minus candidate mean RMSE; + = better) per file, the smallest of those gains, and in how many splits the
    candidate beats the reference on every file (splits matched by seed)."""
    files = sorted(ref)
    if sorted(cand) != files:
        raise ValueError(f"files differ: {sorted(cand)} vs {files}")
    seeds = cast(list[int], ref[files[0]]["split_seeds"])
    for f in files:
        if cand[f]["split_seeds"] != seeds or ref[f]["split_seeds"] != seeds:
            raise ValueError("candidate and reference were not evaluated on the same split seeds")
    gain = {f: round(float(cast(float, ref[f]["rmse"])) - float(cast(float, cand[f]["rmse"])), 3) for f in files}
    wins = [all(cast(list[float], cand[f]["rmse_per_split"])[i] < cast(list[float], ref[f]["rmse_per_split"])[i]
                for f in files) for i in range(len(seeds))]
    return {"gain": gain, "min_gain": min(gain.values()), "splits_won_on_every_file": int(sum(wins)),
            "won_per_split": dict(zip([str(s) for s in seeds], wins, strict=True))}


def adoptable(comparison: dict[str, object], cand: dict[str, dict[str, object]], min_gain: float,
              min_split_wins: int, coverage: tuple[float, float]) -> bool:
    """Round-4 rule: mean gain >= ``min_gain`` on every file, a win on every file in at least
    ``min_split_wins`` splits, and the mean cv_coverage of every file within ``coverage``."""
    lo, hi = coverage
    return (float(cast(float, comparison["min_gain"])) >= min_gain - 1e-9
            and int(cast(int, comparison["splits_won_on_every_file"])) >= min_split_wins
            and all(lo <= float(cast(float, r["cv_coverage"])) <= hi for r in cand.values()))


def truncation_check(trains: list[Path], horizon: float) -> dict[str, object]:
    """Step 0 of round 3: does the CV's cut rule generate the distribution of true RUL at the cut that the test
    protocol has? Reads the training files and the test *labels* (RUL_*.txt, beside each training file) only —
    the distribution of the labels is a property of the benchmark's protocol, not of any model. Two-sample
    comparison: weighted CDF of the CV cut points' RUL against the labels' empirical CDF (KS distance and its
    one-sample p-value)."""
    from scipy import stats
    out: dict[str, object] = {}
    for path in trains:
        labels = np.sort(read_truth(path.with_name(path.name.replace("train_", "RUL_"))))
        frame = check_history(read_cmapss(path), LightGbmRul().schema)
        life = frame.groupby("unit")["cycle"].transform("max").to_numpy(dtype=float)
        rul = life - frame["cycle"].to_numpy(dtype=float)
        units = frame["unit"].to_numpy()
        rules = {"round3: each unit 1, cut uniform in its last horizon cycles": cut_weights(rul, units, horizon),
                 "round2: rows 1/life, RUL <= horizon": cut_weights(rul, units, horizon, "life"),
                 "no horizon: cut uniform over the whole life": cut_weights(rul, units, None)}
        row: dict[str, object] = {
            "labels": {"n": len(labels), "min": float(labels[0]), "max": float(labels[-1]),
                       "mean": round(float(labels.mean()), 1),
                       "quartiles": [float(q) for q in np.percentile(labels, [25, 50, 75])]}}
        for rule, w in rules.items():
            order = np.argsort(rul, kind="stable")
            cdf = np.cumsum(w[order]) / w.sum()
            at = np.searchsorted(rul[order], labels, side="right") - 1
            model_cdf = np.where(at >= 0, cdf[np.maximum(at, 0)], 0.0)
            below = np.searchsorted(rul[order], labels, side="left") - 1
            model_cdf_below = np.where(below >= 0, cdf[np.maximum(below, 0)], 0.0)
            emp = np.arange(1, len(labels) + 1) / len(labels)
            ks = float(max(np.max(np.abs(emp - model_cdf)), np.max(np.abs(emp - 1 / len(labels) - model_cdf_below))))
            unit_w = pd.Series(w).groupby(units).sum()
            row[rule] = {"mean": round(float(np.average(rul, weights=w)), 1),
                         "quartiles": [float(rul[order][np.searchsorted(cdf, q)]) for q in (0.25, 0.5, 0.75)],
                         "share_rul_gt_150": round(float(w[rul > 150].sum() / w.sum()), 3),
                         "unit_weight_max_over_min": round(float(unit_w.max() / unit_w.min()), 2),
                         "ks_distance": round(ks, 3), "ks_p_value": round(float(stats.kstwo.sf(ks, len(labels))), 3)}
        out[path.name] = row
    return out


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
    ap.add_argument("--dump-oof", type=Path, default=None, help="folder for out-of-fold predictions (.npz)")
    ap.add_argument("--split-seeds", default=None,
                    help="comma-separated fold-split seeds: evaluate every variant under each, report the mean")
    ap.add_argument("--check-truncation", action="store_true",
                    help="only compare the CV cut rule with the test labels' RUL distribution (step 0)")
    args = ap.parse_args()
    caps = [float(c) for c in args.caps.split(",")]
    trains = [Path(p) for p in args.trains.split(",")]
    if args.check_truncation:
        print(json.dumps({"horizon": LightGbmRul().horizon,
                          "files": truncation_check(trains, float(LightGbmRul().horizon or np.inf))}))
        return
    base = LightGbmRul(n_jobs=args.n_jobs)
    variants: dict[str, dict[str, object]] = json.loads(args.variants)
    ests: dict[str, LightGbmRul] = {}
    for name, overrides in variants.items():
        tree_over = {k: v for k, v in overrides.items() if k in TreeParams.__dataclass_fields__}
        est_over = {k: v for k, v in overrides.items() if k not in tree_over}
        ests[name] = replace(base, trees=replace(base.trees, **tree_over), **est_over)  # type: ignore[arg-type]
    split_seeds = None if args.split_seeds is None else [int(x) for x in args.split_seeds.split(",")]
    if split_seeds is not None and len(set(split_seeds)) != len(split_seeds):
        raise SystemExit("--split-seeds has a repeated seed")
    pairs = [(name, p) for name in variants for p in trains]

    def caps_of(name: str) -> list[float]:
        # A variant may carry its own cap grid (what its fit would choose from); else --caps.
        grid = variants[name].get("cap_grid")
        return [float(c) for c in grid] if isinstance(grid, list) else caps
    if split_seeds is None:
        runs = [(n, p, ests[n], f"{n}") for n, p in pairs]
    else:
        runs = [(n, p, replace(ests[n], fold_seed=s), f"{n}_split{s}") for n, p in pairs for s in split_seeds]
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        results = list(pool.map(evaluate, [e for _, _, e, _ in runs], [p for _, p, _, _ in runs],
                                [caps_of(n) for n, _, _, _ in runs], [args.dump_oof] * len(runs),
                                [tag for _, _, _, tag in runs]))
    table: dict[str, dict[str, object]] = {}
    for name, overrides in variants.items():
        if split_seeds is None:
            per_file = {p.name: r for (n, p, _, _), r in zip(runs, results, strict=True) if n == name}
        else:
            per_file = {p.name: aggregate_splits({
                cast(int, e.fold_seed): r for (n, q, e, _), r in zip(runs, results, strict=True)
                if n == name and q == p}) for p in trains}
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
            if split_seeds is not None and name != args.reference:
                row["vs_reference"] = compare_splits(files, ref)  # type: ignore[arg-type]
        # Adoption rule: only candidates better than the reference on every training file compete.
        pool_names = [n for n in table if table[n]["beats_reference"]] or [args.reference]
    choice = min(pool_names, key=lambda n: float(table[n]["mean_rmse"]))  # type: ignore[arg-type]
    out: dict[str, object] = {"trains": [str(p) for p in trains], "caps": caps, "horizon": base.horizon}
    if split_seeds is not None:
        out["split_seeds"] = split_seeds
    out.update({"reference": args.reference, "table": table, "choice": choice,
                "choice_overrides": table[choice]["overrides"]})
    print(json.dumps(out))


if __name__ == "__main__":
    main()
