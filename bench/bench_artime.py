"""Per-point cost of ``ARTimeDetector`` (goal for a live default: < 20 µs/point), against the default
``EnsembleDetector`` in the same run, on the stream of ``bench/bench_anomaly.py``; and the cost of a whole live
monitor update (``TwinMonitor.update``: quality and time checks, the 5-point median filter, scoring, alerting) per
detector kind on 50 000 points of that stream; with ``--memory-regimes R``, ARTime's memory (categories) and cost
block by block on a stream of R ever-new regimes, unbounded and with the live monitors' bound. Prints one JSON
object. CPU time of this process, best of three
(the CI-class VM is shared; wall time mostly measures neighbours).

    nice -n 19 .venv/bin/python bench/bench_artime.py [--points N] [--memory-regimes R]
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np

from bench_anomaly import _best_of, _stream  # the same stream and timing (the script's folder is on sys.path)
from tvilling.app.monitoring_config import parse_config
from tvilling.app.monitoring_twin import LIVE_ARTIME_CATEGORIES, TwinMonitor, iso
from tvilling.ml.anomaly import EnsembleDetector
from tvilling.ml.anomaly.artime import ARTimeDetector


def regimes(n_regimes: int, length: int = 20_000) -> np.ndarray:
    """A stream that keeps moving to new regimes (level, oscillation period, noise drawn afresh every ``length``
    points): the worst case for ARTime's memory, which gains categories with every new pattern."""
    rng = np.random.default_rng(0)
    t = np.arange(length)
    return np.concatenate([rng.uniform(0, 1) + rng.uniform(0.01, 0.2) * np.sin(2 * np.pi * t / rng.uniform(5, 200))
                           + rng.uniform(0.005, 0.1) * rng.normal(size=length) for _ in range(n_regimes)])


def memory(n_regimes: int, block: int = 100_000) -> dict[str, object]:
    """ARTime's categories and CPU cost per point, block by block, unbounded and with the live monitors' bound."""
    v = regimes(n_regimes)
    out: dict[str, object] = {"memory_stream_points": len(v)}
    for name, cap in (("unbounded", None), ("live_bound", LIVE_ARTIME_CATEGORIES)):
        det, blocks = ARTimeDetector(max_categories=cap), []
        for k in range(0, len(v), block):
            t0 = time.process_time()
            det.score_learn_many(v[k:k + block])
            blocks.append({"points": k + block, "categories": det.categories,
                           "us_per_point": round(1e6 * (time.process_time() - t0) / block, 1)})
        out[f"memory_{name}"] = blocks
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--points", type=int, default=200_000)
    ap.add_argument("--memory-regimes", type=int, default=0,
                    help="also run the memory test on a stream of this many 20 000-point regimes (0: skip)")
    args = ap.parse_args()
    v = _stream(args.points)
    lo, hi = float(v.min()), float(v.max())

    def artime_one_by_one() -> None:
        det = ARTimeDetector(min_value=lo, max_value=hi)
        for x in v[:50_000].tolist():
            det.score_one({"v": x})
            det.learn_one({"v": x})

    live = [{"v": {"new": x, "quality": "good", "source_time": iso(1.7e9 + 60.0 * i)}}
            for i, x in enumerate(v[:50_000].tolist())]

    def monitor(kind: str) -> None:
        spec = parse_config({"monitors": [{"model": "dtmi:x:Y;1", "signals": ["v"], "detector": kind,
                                           "warmup": 750}]}).monitors[0]
        mon = TwinMonitor(spec)
        for change in live:
            mon.update(change)

    runs = {
        "artime_batch": (_best_of(lambda: ARTimeDetector(min_value=lo, max_value=hi).score_learn_many(v)),
                         len(v)),
        "artime_causal_batch": (_best_of(lambda: ARTimeDetector().score_learn_many(v)), len(v)),
        "artime_score_one_learn_one": (_best_of(artime_one_by_one, 1), 50_000),
        "ensemble_batch_baseline": (_best_of(lambda: EnsembleDetector().score_learn_many(v)), len(v)),
        **{f"live_monitor_{kind}": (_best_of(lambda kind=kind: monitor(kind), 3), len(live))
           for kind in ("artime", "univariate", "baseline")},
    }
    out: dict[str, object] = {"points": len(v), "python": platform.python_version()}
    for name, ((cpu, wall), n) in runs.items():
        out[f"{name}_us_per_point"] = round(1e6 * cpu / n, 2)
        out[f"{name}_wall_us_per_point"] = round(1e6 * wall / n, 2)
    if args.memory_regimes:
        out.update(memory(args.memory_regimes))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
