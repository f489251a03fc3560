"""``tvilling bench nab``: run a detector over the NAB corpus, write NAB-format results, print NAB v1.1 scores.

Results land in ``OUT/<detector>/<category>/<detector>_<file>.csv`` with columns
``timestamp,value,anomaly_score`` — the layout NAB's own scorer reads. Each file is processed as a stream
(score row t with rows < t, then learn it), with a fresh detector per file and the same parameters for all.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pandas as pd
import typer

from tvilling.cli.output import emit_json, fail
from tvilling.ml.anomaly import EnsembleDetector
from tvilling.ml.anomaly.artime import nab_artime_scores
from tvilling.ml.anomaly.artime_cad import nab_artime_cad_scores
from tvilling.ml.anomaly.context_ose import nab_context_ose_scores
from tvilling.ml.nab import PROFILES, FileData, load_profiles, score_corpus
from tvilling.ml.nab.scoring import windows_to_indices

_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_DATA = _ROOT / "../shared/datasets/nab/data"
DEFAULT_LABELS = _ROOT / "../shared/datasets/nab/labels/combined_windows.json"


@dataclass
class NabFile:
    name: str  # "<category>/<file>.csv", the key used in the labels file
    timestamps: pd.Series
    values: np.ndarray
    windows: list[tuple[int, int]]


def _null_scores(values: np.ndarray) -> np.ndarray:
    return np.zeros(len(values))


def _ensemble_scores(values: np.ndarray) -> np.ndarray:
    return EnsembleDetector().score_learn_many(values)


ZSCORE_WINDOW = 100  # textbook setting of the baseline, fixed before any run (not tuned on anything)


def moving_zscore_scores(values: np.ndarray, window: int = ZSCORE_WINDOW) -> np.ndarray:
    """Baseline: ``|z| / (1 + |z|)`` of each value against the mean and sd of the ``window`` values before it
    (0 until ``window`` values have been seen). Causal; monotone in ``|z|``, so NAB's threshold sweep sees
    exactly the z-scores' order."""
    prev = pd.Series(values, dtype=np.float64).shift(1).rolling(window, min_periods=window)
    mean, sd = prev.mean().to_numpy(), prev.std(ddof=0).to_numpy()
    z = np.abs(values - mean) / np.maximum(sd, 1e-9 * (np.abs(mean) + 1.0))
    out: np.ndarray = np.nan_to_num(z / (1.0 + z), nan=0.0)
    return out


# name -> function mapping a file's values to its anomaly scores (a fresh detector per file). Besides the
# default: a textbook moving z-score baseline, and two ablations of the default (without alert shaping; the
# plain EW statistics alone).
DETECTORS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "tvilling": _ensemble_scores,
    "zscore": moving_zscore_scores,
    "tvilling_unshaped": lambda v: EnsembleDetector(suppress=0).score_learn_many(v),
    "ewstats": lambda v: EnsembleDetector(suppress=0, levels=0, subseq_len=0).score_learn_many(v),
    "null": _null_scores,
    # CAD OSE with its published defaults, given what NAB's runner gives it (the file's min/max, rest period =
    # probationary length / 5), and the causal form that learns its range over the probationary period
    "context_ose": nab_context_ose_scores,
    "context_ose_causal": lambda v: nab_context_ose_scores(v, causal=True),
    # ARTime (NAB scoreboard leader) with its published defaults and NAB setup, and its causal form
    "artime": nab_artime_scores,
    "artime_causal": lambda v: nab_artime_scores(v, causal=True),
    # max(artime, 0.25 * context_ose), both in NAB's setup: the candidate adopted on dev corpus v2 (round 5)
    "artime_cad": nab_artime_cad_scores,
}


def load_corpus(data_dir: Path, labels_file: Path) -> list[NabFile]:
    labels: dict[str, list[list[str]]] = json.loads(labels_file.read_text())
    files: list[NabFile] = []
    for name in sorted(labels):
        path = data_dir / name
        if not path.is_file():
            raise FileNotFoundError(f"{path} is listed in {labels_file} but missing")
        df = pd.read_csv(path)
        ts = pd.to_datetime(df["timestamp"])
        windows = windows_to_indices(ts.to_numpy(), labels[name], name=name)
        files.append(NabFile(name, df["timestamp"], df["value"].to_numpy(dtype=np.float64), windows))
    return files


def run_corpus(files: list[NabFile], detector: str, out_dir: Path | None,
               profiles_file: Path | None = None) -> dict[str, Any]:
    """Detect on every file, write results (when ``out_dir``), score all NAB profiles."""
    fn = DETECTORS[detector]
    all_scores: list[np.ndarray] = []
    detect_s = 0.0
    for f in files:
        t0 = time.process_time()
        all_scores.append(np.clip(fn(f.values), 0.0, 1.0))
        detect_s += time.process_time() - t0
    return write_and_score(files, all_scores, detector, out_dir, profiles_file, detect_s)


def write_and_score(files: list[NabFile], all_scores: list[np.ndarray], detector: str, out_dir: Path | None,
                    profiles_file: Path | None, detect_s: float) -> dict[str, Any]:
    """Write each file's scores in NAB's result layout (when ``out_dir``) and score every profile over the corpus
    (one threshold per detector and profile, as NAB does)."""
    scored = [FileData(f.name, len(sc), f.windows, sc) for f, sc in zip(files, all_scores, strict=True)]
    points = sum(len(sc) for sc in all_scores)
    if out_dir is not None:
        for f, sc in zip(files, all_scores, strict=True):
            category, base = f.name.split("/", 1)
            target = out_dir / detector / category / f"{detector}_{base}"
            target.parent.mkdir(parents=True, exist_ok=True)
            pd.DataFrame({"timestamp": f.timestamps, "value": f.values, "anomaly_score": sc}).to_csv(
                target, index=False)
    profiles = PROFILES
    if profiles_file is not None and profiles_file.is_file():
        profiles = load_profiles(profiles_file.read_text())
    result: dict[str, Any] = {"detector": detector, "files": len(files), "points": points,
                              "windows": sum(len(f.windows) for f in files)}
    thresholds: dict[str, float] = {}
    for name, profile in profiles.items():
        cs = score_corpus(scored, profile)
        result[name] = round(cs.score, 3)
        thresholds[name] = cs.threshold
        if name == "standard":
            result["detected_windows"] = cs.detected
            result["false_positive_points"] = cs.false_positives
            result["raw_standard"] = round(cs.raw, 3)
    result["thresholds"] = thresholds
    result["detect_cpu_seconds"] = round(detect_s, 3)  # CPU time: the shared VM's wall time is noisy
    result["us_per_point"] = round(1e6 * detect_s / max(points, 1), 3)
    return result


def nab(
    data: Annotated[Path, typer.Option(help="NAB data folder (category sub-folders of CSV files)")] = DEFAULT_DATA,
    labels: Annotated[Path, typer.Option(help="NAB windows file (combined_windows.json)")] = DEFAULT_LABELS,
    out: Annotated[Path, typer.Option(help="results folder, NAB layout")] = Path("bench/results/nab"),
    detector: Annotated[str, typer.Option(help=f"one of: {', '.join(DETECTORS)}")] = "tvilling",
    profiles: Annotated[Path | None, typer.Option(help="NAB profiles.json (default: next to the data)")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="print one JSON object on the last line")] = False,
) -> None:
    """Run a detector over the NAB corpus and print its NAB v1.1 scores (standard, low FP, low FN)."""
    if detector not in DETECTORS:
        fail(f"unknown detector {detector!r}; choose one of {', '.join(DETECTORS)}")
    if not data.is_dir():
        fail(f"data folder not found: {data}")
    if not labels.is_file():
        fail(f"labels file not found: {labels}")
    if profiles is None:
        profiles = data.parent / "config" / "profiles.json"
    try:
        files = load_corpus(data, labels)
        result = run_corpus(files, detector, out, profiles)
    except (OSError, ValueError, KeyError) as exc:
        fail(f"cannot run NAB: {exc}")
    if json_out:
        emit_json(result)
    else:
        typer.echo(f"{detector}: standard {result['standard']:.2f}  reward_low_fp {result['reward_low_fp']:.2f}  "
                   f"reward_low_fn {result['reward_low_fn']:.2f}  ({result['files']} files, "
                   f"{result['points']} points, results in {out})")
