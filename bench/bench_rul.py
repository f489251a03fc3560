"""C-MAPSS RUL benchmark on FD001 and FD003 (and any other subset whose files exist), with a baseline in the
same run. Prints one JSON object.

    nice -n 10 .venv/bin/python bench/bench_rul.py [--data ../shared/datasets/cmapss] [--subsets FD001,FD003]

Default model: ``LightGbmRul()`` (cap chosen by its internal CV on the training file; features, bagging and
the rest chosen by bench/tune_rul.py on the training files). Baseline in the same run: the previous (round-1)
default — three bagged models, 80 samples per leaf, 15-row unit baseline, no long slopes, rows unweighted, cap
grid 125/140 — cap also chosen by its internal CV. Subsets whose files are missing are reported as such, not
silently dropped.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tvilling.cli.bench_rul import evaluate, read_cmapss, read_truth
from tvilling.ml.rul import LightGbmRul, TreeParams


def previous_default() -> LightGbmRul:
    # round 1's default, spelled out: later defaults (round 5: both baselines, caps averaged) must not leak in
    return LightGbmRul(cap_grid=(125.0, 140.0), windows=(1,), baseline_rows=15, slope_windows=(), unit_weight=False,
                       n_bags=3, trees=TreeParams(min_child_samples=80), baseline_stat="mean", average_caps=())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=Path("../shared/datasets/cmapss"))
    ap.add_argument("--subsets", default="FD001,FD003")
    ap.add_argument("--no-baseline", action="store_true")
    args = ap.parse_args()
    out: dict[str, object] = {}
    for name in args.subsets.split(","):
        if not (args.data / f"train_{name}.txt").exists():
            out[name] = {"missing": str(args.data / f"train_{name}.txt")}
            continue
        train = read_cmapss(args.data / f"train_{name}.txt")
        test = read_cmapss(args.data / f"test_{name}.txt")
        truth = read_truth(args.data / f"RUL_{name}.txt")
        row = {"default": evaluate(LightGbmRul(), train, test, truth)}
        if not args.no_baseline:
            row["baseline_previous_default"] = evaluate(previous_default(), train, test, truth)
        out[name] = row
    print(json.dumps(out))


if __name__ == "__main__":
    main()
