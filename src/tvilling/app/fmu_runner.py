"""Run one FMU simulation in a child process, with a wall-clock limit.

An FMU is native code from outside the platform: a segmentation fault or an endless loop in it must cost one
request, not the server. Each run gets a fresh spawned interpreter (no state shared with the server, nothing
inherited from its threads), talks back over a pipe, and is killed when it runs past its limit.
"""

from __future__ import annotations

import multiprocessing
import shutil
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


def simulate_isolated(artifact: bytes, request: SimulationRequest, *, timeout_s: float) -> dict[str, Any]:
    """The result of :func:`tvilling.simulation.cosim.simulate` as a dict, computed in a child process.

    Raises ValidationError / SimulationError as the model would in-process, and SimulationError when the child
    crashes or runs past ``timeout_s``.
    """
    workdir = Path(tempfile.mkdtemp(prefix="tvilling-fmu-"))
    path = workdir / "model.fmu"
    path.write_bytes(artifact)
    ctx = multiprocessing.get_context("spawn")
    receiver, sender = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_child, args=(sender, str(path), request), daemon=True, name="tvilling-fmu")
    began = time.perf_counter()
    try:
        child.start()
        sender.close()
        if not receiver.poll(timeout_s):
            child.kill()
            raise SimulationError(f"the simulation ran past its limit of {timeout_s:g} s and was stopped",
                                  where="fmu", hint="run a shorter span or a larger step; the limit is the "
                                  "server setting TVILLING_FMU_TIMEOUT_S")
        try:
            status, payload = receiver.recv()
        except EOFError:
            child.join(timeout=5)
            raise SimulationError(f"the FMU crashed the simulation process (exit code {child.exitcode})",
                                  where="fmu", hint="its native code failed; run it with `tvilling fmu simulate` "
                                  "to see the FMU's own messages") from None
    finally:
        receiver.close()
        child.join(timeout=5)
        if child.is_alive():
            child.kill()
            child.join(timeout=5)
        shutil.rmtree(workdir, ignore_errors=True)
    if status == "error":
        kind, message, where, hint = payload
        error = ValidationError if kind == "ValidationError" else SimulationError
        raise error(message, where=where, hint=hint)
    payload["seconds"] = round(time.perf_counter() - began, 4)
    return dict(payload)


def _child(sender: Any, path: str, request: SimulationRequest) -> None:
    """Runs in the spawned process: simulate, send ("ok", result) or ("error", (kind, message, where, hint))."""
    try:
        from tvilling.adapters.fmu import FmuModel
        from tvilling.simulation.cosim import InputTable, resolve_span, simulate

        inputs = (InputTable.from_rows(request.input_times, request.input_columns, where="inputs")
                  if request.input_times is not None else None)
        with FmuModel(path) as model:
            span = resolve_span(model, start_time=request.start_time, stop_time=request.stop_time,
                                step=request.step, max_steps=request.max_steps)
            result = simulate(model, span, values=request.values, inputs=inputs, record=request.record)
        sender.send(("ok", {"startTime": span.start, "stopTime": span.stop, "step": span.step,
                            "steps": span.steps, "time": result.times, "columns": result.columns,
                            "units": result.units, "final": result.final()}))
    except TvillingError as exc:
        sender.send(("error", (type(exc).__name__, exc.message, exc.where, exc.hint)))
    except Exception as exc:  # anything else the FMU library raises is a failed run, reported
        sender.send(("error", ("SimulationError", f"the simulation failed: {exc}", "fmu", "")))
    finally:
        sender.close()
