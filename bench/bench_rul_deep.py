"""The optional deep RUL model (1-D CNN, tvilling[deep]) on C-MAPSS, with the default LightGBM estimator as the
baseline in the same run. Fits on the training file only; one prediction per test unit at its last cycle.

    python bench/bench_rul_deep.py --fd FD001 --epochs 8        # prints one JSON object

Needs PyTorch (an interpreter with the ``deep`` extra); runs on a GPU when one is visible.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from tvilling.cli.bench_rul import TRUTH_CAP, read_cmapss, read_truth
from tvilling.ml.rul import LightGbmRul, interval_coverage, phm08_score, rmse
from tvilling.ml.rul.deep import CnnRul

DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "cmapss"


def score(model: Any, train: Any, test: Any, true: np.ndarray) -> dict[str, Any]:
    started, cpu = time.perf_counter(), time.process_time()
    model.fit(train)
    fit_s, fit_cpu = time.perf_counter() - started, time.process_time() - cpu
    est = model.predict(test)
    mean, lower, upper = (np.array([getattr(e, k) for e in est]) for k in ("mean", "lower", "upper"))
    capped = np.minimum(true, TRUTH_CAP)
    return {"rmse": round(rmse(mean, true), 3), "score": round(phm08_score(mean, true), 1),
            "rmse_capped": round(rmse(mean, capped), 3), "units": len(est),
            "interval_level": model.level, "interval_coverage": round(interval_coverage(lower, upper, true), 3),
            "fit_seconds": round(fit_s, 1), "fit_cpu_seconds": round(fit_cpu, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fd", default="FD001")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-baseline", action="store_true", help="skip the LightGBM baseline")
    parser.add_argument("--config", default="{}", help="JSON: CnnRul settings (override --epochs)")
    parser.add_argument("--config-from", type=Path, default=None,
                        help="the JSON printed by bench/tune_rul_deep.py: use its CV-chosen settings")
    args = parser.parse_args()
    train = read_cmapss(args.data / f"train_{args.fd}.txt")
    test = read_cmapss(args.data / f"test_{args.fd}.txt")
    true = read_truth(args.data / f"RUL_{args.fd}.txt")
    config: dict[str, Any] = {"epochs": args.epochs, **json.loads(args.config)}
    if args.config_from is not None:
        config.update(json.loads(args.config_from.read_text())["choice_config"])
    deep = CnnRul(seed=args.seed, device=args.device, threads=args.threads, **config)
    out: dict[str, Any] = {"dataset": args.fd, "cnn": score(deep, train, test, true)}
    out["cnn"].update(config=config, final_train_loss=round(deep.losses_[-1], 5), device=deep.device_)
    if not args.no_baseline:
        out["lightgbm"] = score(LightGbmRul(seed=args.seed), train, test, true)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
