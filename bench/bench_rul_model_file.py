"""Cost of keeping the default RUL model as a file (``tvilling rul train`` / ``predict``): fit it on a C-MAPSS
training file, write it (:mod:`tvilling.ml.rul.artifact`), read it back, and compare the read-back model's
predictions and their time with the in-memory model's, in the same run. Only the training file is read (its
histories are also the prediction input: every row, each estimate from the unit's rows up to it); no test file.
Prints one JSON object; exits non-zero if the two models' estimates differ.

    OMP_NUM_THREADS=1 nice -n 19 .venv/bin/python bench/bench_rul_model_file.py [--train FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

from tvilling.app.offline_rul import read_cmapss
from tvilling.ml.rul import LightGbmRul
from tvilling.ml.rul.artifact import dump_lgbm_rul, load_lgbm_rul

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "cmapss" / "train_FD001.txt"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--train", type=Path, default=DEFAULT)
    args = ap.parse_args()
    frame = read_cmapss(args.train)
    c0 = time.process_time()
    model = LightGbmRul().fit(frame)
    fit_cpu = time.process_time() - c0
    t1 = time.perf_counter()
    data = dump_lgbm_rul(model)
    t2 = time.perf_counter()
    loaded, _ = load_lgbm_rul(data)
    t3 = time.perf_counter()
    fitted_est = model.predict_history(frame)
    t4 = time.perf_counter()
    loaded_est = loaded.predict_history(frame)
    t5 = time.perf_counter()
    identical = fitted_est == loaded_est
    print(json.dumps({
        "train": args.train.name, "units": int(frame["unit"].nunique()), "rows": len(frame),
        "cpus": os.cpu_count(), "python": platform.python_version(),
        "fit_cpu_s": round(fit_cpu, 1),
        "bytes": len(data), "write_s": round(t2 - t1, 3), "read_s": round(t3 - t2, 3),
        "predict_rows_fitted_s": round(t4 - t3, 3), "predict_rows_loaded_s": round(t5 - t4, 3),
        "identical": identical}))
    if not identical:
        raise SystemExit("error: the read-back model's estimates differ from the fitted model's")


if __name__ == "__main__":
    main()
