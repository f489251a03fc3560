"""Wall time of ``tvilling detect``'s engine (``detect_table``) on a synthetic table, run sequentially and with
its streaming scorers on a process pool (what the CLI does by default), in the same run; the two results must be
identical. Prints one JSON object. The table: ``--signals`` Gaussian signals driven by 3 common factors, one lasting
2 sd shift in one signal; the first 20 % of the rows are the training rows.

    nice -n 19 .venv/bin/python bench/bench_detect.py [--rows N] [--signals D] [--workers W]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from tvilling.ml.anomaly.offline import detect_table


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=50_000)
    ap.add_argument("--signals", type=int, default=20)
    ap.add_argument("--workers", type=int, default=min(os.cpu_count() or 1, 8))
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    n, d = args.rows, args.signals
    X = rng.normal(size=(n, 3)) @ rng.normal(size=(3, d)) + rng.normal(size=(n, d))
    X[int(0.7 * n):int(0.7 * n) + 300, 1] += 2.0
    names = [f"s{j}" for j in range(d)]

    t0 = time.perf_counter()
    seq = detect_table(X, names)
    t1 = time.perf_counter()
    with ProcessPoolExecutor(args.workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        par = detect_table(X, names, mapper=pool.map)  # pool start-up included, as in the CLI
    t2 = time.perf_counter()
    identical = bool(np.array_equal(seq.scores, par.scores) and np.array_equal(seq.is_anomaly, par.is_anomaly))
    print(json.dumps({
        "rows": n, "signals": d, "cpus": os.cpu_count(), "workers": args.workers, "python": platform.python_version(),
        "sequential_s": round(t1 - t0, 2), "pool_s": round(t2 - t1, 2), "speedup": round((t1 - t0) / (t2 - t1), 2),
        "values_per_s_sequential": round(n * d / (t1 - t0)), "values_per_s_pool": round(n * d / (t2 - t1)),
        "identical": identical, "flagged_rows": int(seq.is_anomaly.sum())}))
    if not identical:
        raise SystemExit("error: the pooled run differs from the sequential one")


if __name__ == "__main__":
    main()
