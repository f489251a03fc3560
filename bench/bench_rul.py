"""C-MAPSS RUL benchmark on FD001 and FD003 (and any other subset whose files exist), with a baseline in the
same run. Prints one JSON object.

    nice -n 10 .venv/bin/python bench/bench_rul.py [--data ../shared/datasets/cmapss] [--subsets FD001,FD003]

Default model: ``LightGbmRul()`` (cap chosen by its internal CV on the training file). Baseline: the same
estimator with trailing mean/std/slope over 5, 10, 20 and 30 cycles added (the richer feature set the
grouped CV rejected), cap also chosen by its internal CV.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tvilling.cli.bench_rul import evaluate, read_cmapss, read_truth
from tvilling.ml.rul import LightGbmRul


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=Path("../shared/datasets/cmapss"))
    ap.add_argument("--subsets", default="FD001,FD003")
    ap.add_argument("--no-baseline", action="store_true")
    args = ap.parse_args()
    out: dict[str, object] = {}
    for name in args.subsets.split(","):
        train = read_cmapss(args.data / f"train_{name}.txt")
        test = read_cmapss(args.data / f"test_{name}.txt")
        truth = read_truth(args.data / f"RUL_{name}.txt")
        row = {"default": evaluate(LightGbmRul(), train, test, truth)}
        if not args.no_baseline:
            row["baseline_windows_5_10_20_30"] = evaluate(LightGbmRul(windows=(5, 10, 20, 30)), train, test,
                                                          truth)
        out[name] = row
    print(json.dumps(out))


if __name__ == "__main__":
    main()
