"""``tvilling bench rul``: fit the default RUL estimator on a C-MAPSS training file, predict each test unit
at its last cycle and score against the truth file (protocol in shared/README.md)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tvilling.cli.output import emit_json, fail
from tvilling.core.errors import TvillingError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from tvilling.ml.rul import LightGbmRul

TRUTH_CAP = 125.0  # the cap most published C-MAPSS tables apply to the truth


def read_cmapss(path: Path) -> pd.DataFrame:
    """A C-MAPSS history file (:func:`tvilling.app.offline_rul.read_cmapss`; imported when used, so that the CLI
    starts without pandas and LightGBM)."""
    from tvilling.app.offline_rul import read_cmapss as read
    return read(path)


def read_truth(path: Path) -> np.ndarray:
    """RUL_*.txt: one true RUL per test unit, in unit order."""
    import numpy as np
    import pandas as pd

    from tvilling.app.offline_rul import read_whitespace
    values = read_whitespace(path, "a RUL truth file")
    if values.shape[1] != 1 or not pd.api.types.is_numeric_dtype(values.iloc[:, 0]):
        raise TvillingError(f"{path}: expected one numeric value per line")
    return np.asarray(values.iloc[:, 0].to_numpy(dtype=float))


def evaluate(model: LightGbmRul, train_frame: pd.DataFrame, test_frame: pd.DataFrame,
             true: np.ndarray) -> dict[str, object]:
    """Fit ``model`` on the training histories only, predict each test unit at its last cycle, score."""
    import numpy as np

    from tvilling.ml.rul import interval_coverage, phm08_score, rmse
    n_units = test_frame["unit"].nunique()
    if len(true) != n_units:
        raise TvillingError(f"truth has {len(true)} values for {n_units} test units")
    started, cpu = time.perf_counter(), time.process_time()
    model.fit(train_frame)
    fit_seconds, fit_cpu = time.perf_counter() - started, time.process_time() - cpu
    est = model.predict(test_frame)
    mean = np.array([e.mean for e in est])
    lower = np.array([e.lower for e in est])
    upper = np.array([e.upper for e in est])
    capped = np.minimum(true, TRUTH_CAP)
    return {
        "rmse": rmse(mean, true), "score": phm08_score(mean, true),
        "rmse_capped": rmse(mean, capped), "score_capped": phm08_score(mean, capped),
        "units": int(n_units), "fit_seconds": round(fit_seconds, 2),
        "fit_cpu_seconds": round(fit_cpu, 2),  # wall time depends on the load of a shared machine
        "interval_level": model.level,
        "interval_coverage": interval_coverage(lower, upper, true),
        "interval_coverage_capped": interval_coverage(lower, upper, capped),
        "mean_interval_width": float(np.mean(upper - lower)),
        "cap": model.cap_, "cv_rmse": {str(k): round(v, 3) for k, v in model.cv_rmse_.items()},
        "n_bags": model.n_bags,
    }


def run_benchmark(train: Path, test: Path, truth: Path, *, seed: int = 0, cap: float | None = None,
                  folds: int = 5, jobs: int = 1) -> dict[str, object]:
    from tvilling.ml.rul import LightGbmRul
    train_frame, test_frame, true = read_cmapss(train), read_cmapss(test), read_truth(truth)
    if len(true) != test_frame["unit"].nunique():
        raise TvillingError(f"{truth}: {len(true)} values for {test_frame['unit'].nunique()} test units")
    model = LightGbmRul(cap=cap, n_splits=folds, seed=seed, n_jobs=jobs)
    return evaluate(model, train_frame, test_frame, true)


def rul(
    train: Annotated[Path, typer.Option(help="run-to-failure training file")] = Path(
        "../shared/datasets/cmapss/train_FD001.txt"),
    test: Annotated[Path, typer.Option(help="truncated test histories")] = Path(
        "../shared/datasets/cmapss/test_FD001.txt"),
    truth: Annotated[Path, typer.Option(help="true RUL per test unit")] = Path(
        "../shared/datasets/cmapss/RUL_FD001.txt"),
    seed: Annotated[int, typer.Option(help="random seed of the estimator")] = 0,
    cap: Annotated[float | None, typer.Option(help="fixed RUL target cap (default: chosen by internal CV)")] = None,
    folds: Annotated[int, typer.Option(min=2, help="folds of the internal grouped CV")] = 5,
    jobs: Annotated[int, typer.Option(min=1, max=2, help="LightGBM threads")] = 1,
    json_out: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Fit on --train only, predict every --test unit at its last cycle, score against --truth."""
    try:
        result = run_benchmark(train, test, truth, seed=seed, cap=cap, folds=folds, jobs=jobs)
    except TvillingError as exc:
        fail(str(exc))
    if json_out:
        emit_json(result)
    else:
        for key, value in result.items():
            typer.echo(f"{key}: {value}")
