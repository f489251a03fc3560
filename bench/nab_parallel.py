"""``tvilling bench nab`` with the files spread over worker processes: the same detector functions, the same
per-file stream protocol and the same NAB v1.1 scorer (so the same figures), for detectors too slow to run
the 58 files one after the other. Prints one JSON object (the CLI's, plus ``jobs`` and ``wall_seconds``).

    nice -n 19 .venv/bin/python -m bench.nab_parallel --detector context_ose --jobs 4 --out /tmp/nab
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tvilling.cli.bench_nab import DEFAULT_DATA, DEFAULT_LABELS, DETECTORS, load_corpus
from tvilling.ml.nab import PROFILES, FileData, load_profiles, score_corpus


def _run(job: tuple[str, np.ndarray]) -> tuple[np.ndarray, float]:
    name, values = job
    t0 = time.process_time()
    scores = np.clip(DETECTORS[name](values), 0.0, 1.0)
    return scores, time.process_time() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--detector", required=True, choices=sorted(DETECTORS))
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", type=Path, default=None, help="results folder, NAB layout")
    args = ap.parse_args()
    t0 = time.perf_counter()
    files = load_corpus(DEFAULT_DATA, DEFAULT_LABELS)
    # longest files first, so that the last ones to finish are short
    order = sorted(range(len(files)), key=lambda i: -len(files[i].values))
    results: dict[int, tuple[np.ndarray, float]] = {}
    with ProcessPoolExecutor(args.jobs) as pool:
        for i, res in zip(order, pool.map(_run, [(args.detector, files[i].values) for i in order]), strict=True):
            results[i] = res
    scored = [FileData(f.name, len(f.values), f.windows, results[i][0]) for i, f in enumerate(files)]
    if args.out is not None:
        for f, fd in zip(files, scored, strict=True):
            category, base = f.name.split("/", 1)
            target = args.out / args.detector / category / f"{args.detector}_{base}"
            target.parent.mkdir(parents=True, exist_ok=True)
            pd.DataFrame({"timestamp": f.timestamps, "value": f.values, "anomaly_score": fd.scores}).to_csv(
                target, index=False)
    profiles_file = DEFAULT_DATA.parent / "config" / "profiles.json"
    profiles = load_profiles(profiles_file.read_text()) if profiles_file.is_file() else PROFILES
    points = sum(len(f.values) for f in files)
    out: dict[str, Any] = {"detector": args.detector, "files": len(files), "points": points,
                           "windows": sum(len(f.windows) for f in files)}
    thresholds: dict[str, float] = {}
    for name, profile in profiles.items():
        cs = score_corpus(scored, profile)
        out[name] = round(cs.score, 3)
        thresholds[name] = cs.threshold
        if name == "standard":
            out["detected_windows"] = cs.detected
            out["false_positive_points"] = cs.false_positives
            out["raw_standard"] = round(cs.raw, 3)
    out["thresholds"] = thresholds
    cpu = sum(c for _, c in results.values())
    out["detect_cpu_seconds"] = round(cpu, 3)
    out["us_per_point"] = round(1e6 * cpu / max(points, 1), 3)
    out["jobs"] = args.jobs
    out["wall_seconds"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
