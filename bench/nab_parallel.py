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

import numpy as np

from tvilling.cli.bench_nab import DEFAULT_DATA, DEFAULT_LABELS, DETECTORS, load_corpus, write_and_score


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
    profiles_file = DEFAULT_DATA.parent / "config" / "profiles.json"
    cpu = sum(c for _, c in results.values())
    out = write_and_score(files, [results[i][0] for i in range(len(files))], args.detector, args.out,
                          profiles_file, cpu)
    out["jobs"] = args.jobs
    out["wall_seconds"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
