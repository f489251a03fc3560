"""How good is P(failure within H)? Scored on out-of-fold predictions of the C-MAPSS *training* files only.

Input: the ``.npz`` dumps of ``bench/tune_rul.py --dump-oof DIR`` (the default's 5-fold GroupKFold by unit, every
row of the held-out units predicted). As ``cv_coverage`` does for the intervals, a second level of CV calibrates
the Mondrian residual quantiles (``LightGbmRul._calibrate``, what ``fit`` stores) on four folds' out-of-fold
predictions and reads, on the fifth, P(RUL <= H) as ``RulEstimate.prob_failure_within`` reads it (the share of
the 100 predictive quantiles ``max(pred + residual quantile, 0)`` that are <= H). Rows are cut points with true
RUL <= 150, each unit weighing the same in total (the CV's rule). No test file is read; nothing is chosen here.

Scores per horizon H (cycles): the Brier score, against two baselines in the same run: the base rate (the share
of rows failing within H on the four calibration folds: a forecast that knows nothing about the unit) and the
point forecast turned into a yes/no (P = 1 when the predicted RUL <= H); the Brier skill score against the base
rate; and a reliability table (forecasts grouped by P: mean forecast vs observed frequency, weight).

    .venv/bin/python bench/rul_cv/failure_probability.py /tmp/oof [--horizons 15,30] [--calib-bins 6]
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.tune_rul import cv_coverage

from tvilling.ml.rul.lgbm import LightGbmRul, cut_weights

EDGES = (0.0, 0.05, 0.2, 0.4, 0.6, 0.8, 0.95, 1.0001)


def probabilities(pred: np.ndarray, rul: np.ndarray, weight: np.ndarray, fold: np.ndarray,
                  horizon: float, calib_bins: int = LightGbmRul.calib_bins) -> tuple[np.ndarray, np.ndarray]:
    """Per row: P(RUL <= horizon) calibrated on the other folds, and the base rate of those folds."""
    p, base = np.zeros(len(pred)), np.zeros(len(pred))
    for k in np.unique(fold):
        cal = replace(LightGbmRul(), calib_bins=calib_bins)
        train, test = fold != k, fold == k
        cal._calibrate(pred[train], rul[train], weight[train])
        bins = np.searchsorted(cal.bin_edges_, pred[test], side="right")
        q = np.maximum(pred[test, None] + np.array(cal.residual_q_)[bins], 0.0)
        p[test] = (q <= horizon).mean(axis=1)
        base[test] = np.average(rul[train] <= horizon, weights=weight[train])
    return p, base


def brier(p: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
    return float(np.average((p - y) ** 2, weights=w))


def score(path: Path, horizons: list[float], calib_bins: int = LightGbmRul.calib_bins) -> dict[str, object]:
    d = np.load(path)
    rul, unit, fold = d["rul"], d["unit"], d["fold"]
    pred = np.mean(d["oof"], axis=0) if len(d["average_caps"]) else d["oof"][0]
    weight = cut_weights(rul, unit, LightGbmRul().horizon, "unit")
    keep = weight > 0
    rul, fold, pred, weight = rul[keep], fold[keep], pred[keep], weight[keep]
    out: dict[str, object] = {"rows": int(keep.sum()), "units": len(np.unique(unit[keep])), "calib_bins": calib_bins,
                              "cv_coverage": round(cv_coverage(replace(LightGbmRul(), calib_bins=calib_bins),
                                                               pred, rul, weight, fold), 3)}
    for h in horizons:
        p, base = probabilities(pred, rul, weight, fold, h, calib_bins)
        y = (rul <= h).astype(float)
        b, b_base, b_point = brier(p, y, weight), brier(base, y, weight), brier((pred <= h).astype(float), y, weight)
        table = []
        for lo, hi in itertools.pairwise(EDGES):
            m = (p >= lo) & (p < hi)
            if weight[m].sum() > 0:
                table.append({"p_from": lo, "p_to": min(hi, 1.0),
                              "mean_p": round(float(np.average(p[m], weights=weight[m])), 3),
                              "observed": round(float(np.average(y[m], weights=weight[m])), 3),
                              "weight_share": round(float(weight[m].sum() / weight.sum()), 3)})
        out[f"H{h:g}"] = {"brier": round(b, 4), "brier_base_rate": round(b_base, 4),
                          "brier_point_forecast": round(b_point, 4), "skill_vs_base_rate": round(1 - b / b_base, 3),
                          "event_rate": round(float(np.average(y, weights=weight)), 3), "reliability": table}
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("dumps", type=Path)
    ap.add_argument("--horizons", default="15,30")
    ap.add_argument("--calib-bins", type=int, default=LightGbmRul.calib_bins, help="Mondrian bins (what-if)")
    args = ap.parse_args()
    horizons = [float(h) for h in args.horizons.split(",")]
    print(json.dumps({f.stem: score(f, horizons, args.calib_bins) for f in sorted(args.dumps.glob("*.npz"))}))


if __name__ == "__main__":
    main()
