"""Compare a NAB results folder with NAB's own published per-file scores of the same detector.

NAB publishes, per detector and profile, ``results/<Detector>/<Detector>_<profile>_scores.csv`` (columns
``Detector,Profile,File,Threshold,Score,TP,TN,FP,FN,Total_Count``; one row per file, the corpus threshold in
every row). This script scores each of OUR result files with Tvilling's NAB v1.1 scorer **at the published
threshold** and reports, per profile and file, our raw score and point counts next to the published ones.

* Given a folder of NAB's *published raw outputs* (``--results`` pointing at NAB's ``results/<Detector>`` layout)
  it checks the scorer: same scores in, so any difference is the scorer's.
* Given our own detector's results it checks the detector port (the scorer being checked separately).

Point counts follow NAB's ``sweeper.calcScoreByThreshold``: rows past the probationary period only; ``TP`` =
detections inside windows (every one, not only the first), ``FP`` = detections outside, ``FN`` / ``TN`` = the
rows without a detection inside / outside windows. The published CSVs are reference data read from NAB's
repository; they are not part of this repository (pass their folder with ``--published``).

    .venv/bin/python -m bench.nab_dev.compare_published --published /tmp/nab_pub \
        --results /tmp/nab_artime/results/artime --detector ARTime --prefix artime
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tvilling.cli.bench_nab import DEFAULT_DATA, DEFAULT_LABELS, NabFile, load_corpus
from tvilling.ml.nab import PROFILES, FileData, score_corpus, score_file_at_threshold, sweep_scores

# NAB's profile names in its file names -> ours
NAB_PROFILES = {"standard": "standard", "reward_low_FP_rate": "reward_low_fp",
                "reward_low_FN_rate": "reward_low_fn"}
TOLERANCE = 1e-9  # float summation order differs from NAB's row loop; anything larger is a real difference


def point_counts(f: FileData, threshold: float) -> dict[str, int]:
    """NAB's per-point TP/TN/FP/FN of one file at ``threshold`` (probationary rows excluded)."""
    _, wid = sweep_scores(f.n, f.windows, PROFILES["standard"])
    keep = wid != -2
    hit = np.asarray(f.scores)[keep] >= threshold
    inside = wid[keep] >= 0
    return {"TP": int((hit & inside).sum()), "TN": int((~hit & ~inside).sum()),
            "FP": int((hit & ~inside).sum()), "FN": int((~hit & inside).sum()), "Total_Count": int(keep.sum())}


def read_published(path: Path) -> dict[str, dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}
    with path.open(newline="") as fh:
        for r in csv.DictReader(fh):
            if r["File"]:  # the "Totals" row has no file
                rows[r["File"]] = r
    return rows


def load_scores(results: Path, prefix: str, f: NabFile) -> np.ndarray | None:
    category, base = f.name.split("/", 1)
    path = results / category / f"{prefix}_{base}"
    if not path.is_file():
        return None
    df = pd.read_csv(path)
    if len(df) != len(f.values):
        raise ValueError(f"{path}: {len(df)} rows, the data file has {len(f.values)}")
    scores: np.ndarray = df["anomaly_score"].to_numpy(dtype=np.float64)
    return scores


def compare(published: Path, results: Path, detector: str, prefix: str, only: set[str] | None) -> dict[str, Any]:
    corpus = [f for f in load_corpus(DEFAULT_DATA, DEFAULT_LABELS) if only is None or f.name in only]
    scores = {f.name: s for f in corpus if (s := load_scores(results, prefix, f)) is not None}
    out: dict[str, Any] = {"results": str(results), "files_compared": len(scores), "profiles": {}}
    if len(scores) == len(corpus):  # the whole corpus: also our own threshold optimisation and normalised score
        files = [FileData(f.name, len(f.values), f.windows, scores[f.name]) for f in corpus]
        out["ours_corpus"] = {p: {"score": round((cs := score_corpus(files, prof)).score, 6),
                                  "threshold": cs.threshold, "raw": round(cs.raw, 9)}
                              for p, prof in PROFILES.items()}
    for nab_name, ours in NAB_PROFILES.items():
        pub = read_published(published / f"{detector}_{nab_name}_scores.csv")
        profile = PROFILES[ours]
        differ: list[dict[str, Any]] = []
        max_diff = 0.0
        total_ours = total_pub = 0.0
        for f in corpus:
            if f.name not in scores:
                continue
            row = pub[f.name]
            threshold = float(row["Threshold"])
            fd = FileData(f.name, len(f.values), f.windows, scores[f.name])
            raw = score_file_at_threshold(fd, profile, threshold).raw
            counts = point_counts(fd, threshold)
            diff = raw - float(row["Score"])
            total_ours += raw
            total_pub += float(row["Score"])
            max_diff = max(max_diff, abs(diff))
            pub_counts = {k: int(row[k]) for k in counts}
            if abs(diff) > TOLERANCE or counts != pub_counts:
                differ.append({"file": f.name, "ours": round(raw, 6), "published": float(row["Score"]),
                               "ours_counts": counts, "published_counts": pub_counts})
        out["profiles"][ours] = {
            "threshold": float(next(iter(pub.values()))["Threshold"]),
            "files_identical": len(scores) - len(differ), "files_different": len(differ),
            "max_abs_score_difference": max_diff, "sum_ours": round(total_ours, 9),
            "sum_published": round(total_pub, 9), "different": differ}
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--published", type=Path, required=True, help="folder with NAB's <Detector>_<profile>_scores.csv")
    ap.add_argument("--results", type=Path, required=True, help="results folder: <category>/<prefix>_<file>.csv")
    ap.add_argument("--detector", default="ARTime", help="detector name in the published file names")
    ap.add_argument("--prefix", default="artime", help="file-name prefix of the result files")
    ap.add_argument("--only", nargs="*", default=None, help="restrict to these <category>/<file>.csv names")
    args = ap.parse_args()
    only = set(args.only) if args.only else None
    print(json.dumps(compare(args.published, args.results, args.detector, args.prefix, only)))


if __name__ == "__main__":
    main()
