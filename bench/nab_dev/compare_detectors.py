"""Score detectors of ``tvilling bench nab`` on the synthetic development corpora (never on NAB).

Each detector runs exactly as in the NAB harness (the same function from ``DETECTORS``: a fresh detector per
stream, row t scored with rows < t then learned) and is scored with Tvilling's NAB v1.1 scorer, one threshold
per profile over the corpus. Nothing is chosen here; it answers "is detector A better than B on the corpora
where settings are chosen?". Prints one JSON object.

    nice -n 19 .venv/bin/python -m bench.nab_dev.compare_detectors --detectors tvilling context_ose
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import numpy as np
from bench.nab_dev.corpus import make_corpus

from tvilling.cli.bench_nab import DETECTORS
from tvilling.ml.nab import PROFILES, FileData, score_corpus


def score_detector(name: str, seed: int, n_files: int) -> dict[str, Any]:
    corpus = make_corpus(seed, n_files)
    fn = DETECTORS[name]
    files: list[FileData] = []
    cpu = 0.0
    for f in corpus:
        t0 = time.process_time()
        s = np.clip(fn(f.values), 0.0, 1.0)
        cpu += time.process_time() - t0
        files.append(FileData(f.name, len(f.values), f.windows, s))
    out: dict[str, Any] = {p: round(score_corpus(files, prof).score, 3) for p, prof in PROFILES.items()}
    points = sum(len(f.values) for f in corpus)
    out["points"] = points
    out["us_per_point"] = round(1e6 * cpu / points, 2)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--detectors", nargs="+", default=["tvilling", "context_ose", "context_ose_causal"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[10, 11],
                    help="dev corpora (10 = selection corpus, 11 = held-out corpus of select_settings)")
    ap.add_argument("--files", type=int, default=120)
    args = ap.parse_args()
    unknown = [d for d in args.detectors if d not in DETECTORS]
    if unknown:
        ap.error(f"unknown detector(s): {', '.join(unknown)}")
    result = {d: {f"seed{s}": score_detector(d, s, args.files) for s in args.seeds} for d in args.detectors}
    print(json.dumps({"files_per_corpus": args.files, "results": result}))


if __name__ == "__main__":
    main()
