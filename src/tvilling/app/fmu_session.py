"""A long-lived FMU in a child process, for a model coupled to a live twin (:mod:`tvilling.app.physics_live`).

A one-off run has :mod:`tvilling.app.fmu_runner` (a fresh process per request); a live coupling steps its model
every few minutes for months, so it keeps one child per coupled twin: ``python -m tvilling.app.fmu_session DIR``,
the FMU in ``DIR/model.fmu``, speaking one JSON object per line on stdin/stdout (never pickles, which code in the
child could forge). A crash, a hang past ``timeout_s`` or garbage on the pipe costs that coupling its session — the
parent kills the child and raises :class:`SimulationError` — never the server.

Requests and answers::

    {"op": "variables"}                                   -> {"ok": true, "variables": [{name, causality, unit}, …]}
    {"op": "init", "values": {…}, "start_time": t}        -> {"ok": true, "time": t, "outputs": {…}}
    {"op": "steps", "dt": s, "inputs": [{…}, {…}, …]}     -> {"ok": true, "time": t, "outputs": [{…}, …]}
    {"op": "close"}                                       -> (the child exits)
    any failure                                           -> {"ok": false, "error": [kind, message, where, hint]}
"""

from __future__ import annotations

import json
import math
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from tvilling.core.errors import SimulationError, TvillingError, ValidationError

MAX_LINE = 16 * 1024 * 1024


class FmuSession:
    """The parent's handle on one child. Blocking calls: use it from a worker thread."""

    def __init__(self, artifact: bytes, *, timeout_s: float = 30.0, label: str = "the FMU") -> None:
        self.timeout_s, self.label = timeout_s, label
        self._dir = Path(tempfile.mkdtemp(prefix="tvilling-fmu-session-"))
        (self._dir / "model.fmu").write_bytes(artifact)
        self._proc: subprocess.Popen[bytes] | None = subprocess.Popen(
            [sys.executable, "-m", "tvilling.app.fmu_session", str(self._dir)], cwd=self._dir,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self._buffer = b""
        self.calls = 0

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def variables(self) -> list[dict[str, Any]]:
        return list(self._call({"op": "variables"})["variables"])

    def initialize(self, values: Mapping[str, float], start_time: float) -> dict[str, float]:
        return dict(self._call({"op": "init", "values": dict(values), "start_time": start_time})["outputs"])

    def steps(self, dt: float, inputs: Sequence[Mapping[str, float]]) -> list[dict[str, float]]:
        """Advance ``len(inputs)`` steps of ``dt`` s, each with its inputs held; the outputs after each step."""
        return [dict(o) for o in self._call({"op": "steps", "dt": dt, "inputs": [dict(i) for i in inputs]})["outputs"]]

    def close(self) -> None:
        """Ask the child to exit, kill it if it does not, remove its folder; idempotent."""
        proc, self._proc = self._proc, None
        if proc is not None:
            try:
                if proc.poll() is None and proc.stdin is not None:
                    proc.stdin.write(b'{"op": "close"}\n')
                    proc.stdin.flush()
                proc.wait(timeout=2.0)
            except (OSError, subprocess.TimeoutExpired):
                proc.kill()
                proc.wait()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> FmuSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the pipe --------------------------------------------------------------------------------------------
    def _call(self, request: dict[str, Any]) -> dict[str, Any]:
        proc = self._proc
        if proc is None or proc.stdin is None or proc.stdout is None:
            raise SimulationError(f"the session of {self.label} is closed", where="fmu")
        self.calls += 1
        try:
            proc.stdin.write(json.dumps(request).encode() + b"\n")
            proc.stdin.flush()
            line = self._read_line(proc.stdout, time.monotonic() + self.timeout_s)
            answer = json.loads(line)
            if not isinstance(answer, dict):
                raise ValueError("not an object")
        except (OSError, ValueError) as exc:
            self._fail(f"the process of {self.label} stopped answering ({self._exit(exc)})")
        if not answer.get("ok"):
            kind, message, where, hint = answer.get("error") or ("SimulationError", "failed", "fmu", "")
            error = ValidationError if kind == "ValidationError" else SimulationError
            raise error(str(message), where=str(where), hint=str(hint))
        return dict(answer)

    def _read_line(self, stdout: IO[bytes], deadline: float) -> bytes:
        fd = stdout.fileno()
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                self._fail(f"{self.label} did not answer within {self.timeout_s:g} s and was stopped")
            chunk = os.read(fd, 65536)
            if not chunk:
                raise OSError("end of output")
            self._buffer += chunk
            if len(self._buffer) > MAX_LINE:
                raise ValueError("answer too long")
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line

    def _exit(self, exc: Exception) -> str:
        proc = self._proc
        code = None
        if proc is not None:
            try:  # the pipe closes a moment before the exit status is there
                code = proc.wait(timeout=1.0)
            except subprocess.TimeoutExpired:
                code = None
        if code is None:
            return str(exc)
        from tvilling.app.fmu_runner import _exit as describe

        return describe(code)

    def _fail(self, message: str) -> None:
        self.close()
        raise SimulationError(message, where="fmu", hint="the coupling starts a new session on a later reading")


# -- the child ---------------------------------------------------------------------------------------------------
def main(workdir: Path) -> int:
    from tvilling.adapters.fmu import FmuModel

    out = sys.stdout.buffer
    with FmuModel(workdir / "model.fmu") as model:
        for raw in sys.stdin.buffer:
            try:
                request = json.loads(raw)
                op = request.get("op")
                if op == "close":
                    return 0
                answer = {"ok": True, **_serve(model, op, request)}
            except TvillingError as exc:
                answer = {"ok": False, "error": [type(exc).__name__, exc.message, exc.where, exc.hint]}
            except Exception as exc:  # anything else from the FMU library: a failed call, reported
                answer = {"ok": False, "error": ["SimulationError", f"the FMU failed: {exc}", "fmu", ""]}
            out.write(json.dumps(answer).encode() + b"\n")
            out.flush()
    return 0


def _serve(model: Any, op: Any, request: dict[str, Any]) -> dict[str, Any]:
    if op == "variables":
        return {"variables": [{"name": v.name, "causality": v.causality, "unit": v.unit} for v in model.variables]}
    if op == "init":
        model.initialize(request.get("values") or {}, start_time=float(request.get("start_time", 0.0)))
        return {"time": model.time, "outputs": _clean(model.outputs())}
    if op == "steps":
        dt = float(request["dt"])
        outputs = [_clean(model.step(dt, inputs)) for inputs in request.get("inputs") or []]
        return {"time": model.time, "outputs": outputs}
    raise ValidationError(f"unknown request {op!r}", where="op")


def _clean(values: Mapping[str, float]) -> dict[str, float | None]:
    return {k: v if math.isfinite(v) else None for k, v in values.items()}


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
