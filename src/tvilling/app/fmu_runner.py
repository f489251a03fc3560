"""Run one FMU simulation in a child process, with a wall-clock limit.

An FMU is native code from outside the platform: a segmentation fault or an endless loop in it must cost one
request, not the server. Each run is a fresh interpreter (``python -m tvilling.app.fmu_runner DIR``: nothing shared
with the server, nothing inherited from its threads, none of the server's own modules re-imported), killed when it
runs past its limit. Request and answer travel as JSON files in a private temporary folder — never pickles, which
code in the child (the FMU's) could forge to run code in the server.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tvilling.core.errors import SimulationError, TvillingError, ValidationError


@dataclass(frozen=True)
class SimulationRequest:
    """One run: the span (None = the FMU's default experiment), start values, inputs over time, outputs to keep."""

    start_time: float | None = None
    stop_time: float | None = None
    step: float | None = None
    values: dict[str, Any] = field(default_factory=dict)
    input_times: list[float] | None = None
    input_columns: dict[str, list[float]] = field(default_factory=dict)
    record: list[str] = field(default_factory=list)
    max_steps: int = 200_000
    # A Monte Carlo ensemble when ``vary`` is given: {name: {"dist": ..., params}}; ``max_steps`` then bounds
    # samples × steps, and ``limits`` maps an output to ("above" | "below", level).
    vary: dict[str, Any] = field(default_factory=dict)
    samples: int = 100
    seed: int = 0
    limits: dict[str, tuple[str, float]] = field(default_factory=dict)
    # A calibration when ``fit`` is given: {parameter: [low, high]}; the measured outputs are ``measured``
    # ({output: [values]}) at ``input_times``, driven by ``input_columns``.
    fit: dict[str, list[float]] = field(default_factory=dict)
    measured: dict[str, list[float]] = field(default_factory=dict)
    # A residual analysis when ``residuals`` is set: the model driven by ``input_columns`` at ``input_times`` is
    # compared with ``measured`` and the residuals scored, the first ``reference_rows`` taken as healthy.
    residuals: bool = False
    reference_rows: int | None = None


def simulate_isolated(artifact: bytes, request: SimulationRequest, *, timeout_s: float) -> dict[str, Any]:
    """The result of :func:`tvilling.simulation.cosim.simulate` (or of an ensemble) as a dict, computed in a child
    process.

    Raises ValidationError / SimulationError as the model would in-process, and SimulationError when the child
    crashes or runs past ``timeout_s``.
    """
    workdir = Path(tempfile.mkdtemp(prefix="tvilling-fmu-"))
    began = time.perf_counter()
    try:
        (workdir / "model.fmu").write_bytes(artifact)
        (workdir / "request.json").write_text(json.dumps(dataclasses.asdict(request)))
        try:
            done = subprocess.run([sys.executable, "-m", "tvilling.app.fmu_runner", str(workdir)], cwd=workdir,
                                  stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired:  # run() has killed the child
            raise SimulationError(f"the simulation ran past its limit of {timeout_s:g} s and was stopped",
                                  where="fmu", hint="run a shorter span or a larger step; the limit is the "
                                  "server setting TVILLING_FMU_TIMEOUT_S") from None
        answer = workdir / "answer.json"
        if done.returncode != 0 or not answer.is_file():
            raise SimulationError(f"the FMU crashed the simulation process ({_exit(done.returncode)})", where="fmu",
                                  hint=_last_line(done.stderr) or "its native code failed; run it with "
                                  "`tvilling fmu simulate` to see the FMU's own messages")
        status, payload = json.loads(answer.read_text())
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if status == "error":
        kind, message, where, hint = payload
        error = ValidationError if kind == "ValidationError" else SimulationError
        raise error(message, where=where, hint=hint)
    payload["seconds"] = round(time.perf_counter() - began, 4)
    return dict(payload)


def _exit(code: int) -> str:
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"


def _last_line(stderr: bytes) -> str:
    lines = [line.strip() for line in stderr.decode("utf-8", "replace").splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


def main(workdir: Path) -> int:
    """The child: read the request, simulate, write ("ok", result) or ("error", (kind, message, where, hint))."""
    raw = json.loads((workdir / "request.json").read_text())
    raw["limits"] = {name: (side, level) for name, (side, level) in raw.get("limits", {}).items()}
    request = SimulationRequest(**raw)
    try:
        answer: tuple[str, Any] = ("ok", _simulate(str(workdir / "model.fmu"), request))
    except TvillingError as exc:
        answer = ("error", (type(exc).__name__, exc.message, exc.where, exc.hint))
    except Exception as exc:  # anything else the FMU library raises is a failed run, reported
        answer = ("error", ("SimulationError", f"the simulation failed: {exc}", "fmu", ""))
    try:
        text = json.dumps(answer, allow_nan=False)
    except ValueError as exc:  # a non-finite number that slipped through: say so rather than crash
        text = json.dumps(["error", ["SimulationError", f"the result could not be sent: {exc}", "fmu", ""]])
    (workdir / "answer.json").write_text(text)
    return 0


def _simulate(path: str, request: SimulationRequest) -> dict[str, Any]:
    from tvilling.adapters.fmu import FmuModel
    from tvilling.simulation.cosim import InputTable, resolve_span, simulate

    inputs = (InputTable.from_rows(request.input_times, request.input_columns, where="inputs")
              if request.input_times is not None and not request.fit and not request.residuals else None)
    with FmuModel(path) as model:
        if request.fit:
            return _calibrate(model, request)
        if request.residuals:
            return _residuals(model, request)
        if request.vary:
            return _ensemble(model, request, inputs)
        span = resolve_span(model, start_time=request.start_time, stop_time=request.stop_time,
                            step=request.step, max_steps=request.max_steps)
        result = simulate(model, span, values=request.values, inputs=inputs, record=request.record)
    columns = {name: [_finite(v) for v in values] for name, values in result.columns.items()}
    return {"startTime": span.start, "stopTime": span.stop, "step": span.step, "steps": span.steps,
            "time": result.times, "columns": columns, "units": result.units,
            "final": {k: _finite(v) for k, v in result.final().items()}}


def _calibrate(model: Any, request: SimulationRequest) -> dict[str, Any]:
    from tvilling.simulation.calibrate import Measurements, calibrate, run

    data = Measurements.from_columns(request.input_times or [], inputs=request.input_columns,
                                     outputs=request.measured)
    if len(data.times) * (len(request.fit) + 1) * 20 > request.max_steps * 10:
        raise ValidationError(f"{len(data.times)} samples with {len(request.fit)} parameters is more than a "
                              "calibration may simulate here", where="time",
                              hint="resample the data to fewer rows or fit fewer parameters")
    result = calibrate(model, data, {k: (float(v[0]), float(v[1])) for k, v in request.fit.items()},
                       values=request.values)
    predicted = run(model, data, {**request.values, **result.values})
    return {**result.as_dict(), "time": list(data.times),
            "model": {k: [_finite(float(v)) for v in series] for k, series in predicted.items()},
            "rmseBefore": {k: _finite(v) for k, v in result.rmse_before.items()},
            "rmseAfter": {k: _finite(v) for k, v in result.rmse_after.items()},
            "intervals": {k: list(v) if v is not None else None for k, v in result.intervals.items()}}


def _residuals(model: Any, request: SimulationRequest) -> dict[str, Any]:
    from tvilling.simulation.calibrate import Measurements
    from tvilling.simulation.residuals import analyse_residuals

    data = Measurements.from_columns(request.input_times or [], inputs=request.input_columns,
                                     outputs=request.measured)
    if len(data.times) > request.max_steps:
        raise ValidationError(f"{len(data.times)} samples is more than a residual analysis may simulate here "
                              f"({request.max_steps})", where="time", hint="resample the data to fewer rows")
    return analyse_residuals(model, data, request.values, reference_rows=request.reference_rows).as_dict()


def _ensemble(model: Any, request: SimulationRequest, inputs: Any) -> dict[str, Any]:
    from tvilling.simulation.cosim import resolve_span
    from tvilling.simulation.ensemble import check_samples, parse_distribution, run_ensemble

    check_samples(request.samples, request.seed)
    spread = {name: parse_distribution(name, spec) for name, spec in request.vary.items()}
    # Every run counts against the step budget: a long span leaves room for fewer samples.
    try:
        span = resolve_span(model, start_time=request.start_time, stop_time=request.stop_time, step=request.step,
                            max_steps=max(request.max_steps // request.samples, 1))
    except ValidationError as exc:
        if exc.where != "step":
            raise
        raise ValidationError(f"{exc.message} per run for {request.samples} samples", where="step",
                              hint=f"{exc.hint}, or fewer samples") from None
    result = run_ensemble(model, span, spread, samples=request.samples, values=request.values, inputs=inputs,
                          record=request.record, limits=request.limits, seed=request.seed)
    out = result.as_dict()
    out["bands"] = {name: {k: [_finite(v) for v in vs] for k, vs in band.items()}
                    for name, band in result.bands.items()}
    out["final"] = {name: {k: _finite(v) for k, v in stats.items()} for name, stats in result.final.items()}
    return {"startTime": span.start, "stopTime": span.stop, "step": span.step, "steps": span.steps,
            "vary": {name: d.as_dict() for name, d in spread.items()}, "seed": request.seed, **out}


def _finite(value: float) -> float | None:
    """NaN and infinities (a model can output them) become null: strict JSON has no such numbers."""
    return value if math.isfinite(value) else None


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
