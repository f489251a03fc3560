"""FMUs (FMI 2.0 and 3.0 co-simulation) through FMPy, behind the :class:`tvilling.ports.physics.PhysicsModel` port.

FMPy is imported inside the functions: importing it loads a native logging library, which the platform should
not pay for unless an FMU is used (architecture guideline 10). An FMU is native code: run untrusted ones in a
separate process (the API does, :mod:`tvilling.app.fmus`).
"""

from __future__ import annotations

import contextlib
import functools
import re
import shutil
import struct
import zipfile
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tvilling.core.errors import SimulationError, ValidationError
from tvilling.core.physics import Experiment, Variable, check_values

# FMI type → the FMPy setter/getter suffix; FMI 2 and FMI 3 names side by side. Strings, binaries and clocks are
# not numbers and cannot be set or recorded as such.
_SUFFIX = {"Real": "Real", "Integer": "Integer", "Boolean": "Boolean", "Enumeration": "Integer",
           "Float64": "Float64", "Float32": "Float32", "Int8": "Int8", "UInt8": "UInt8", "Int16": "Int16",
           "UInt16": "UInt16", "Int32": "Int32", "UInt32": "UInt32", "Int64": "Int64", "UInt64": "UInt64"}
_SETTABLE = ("parameter", "input")
# What a failed FMI call means to someone who never read the standard (the call itself stays in ``extra``).
_PLAIN_CALLS = {"exitInitializationMode": "the model refused its start values",
                "enterInitializationMode": "the model could not start", "setupExperiment": "the model could not start",
                "instantiate": "the model could not be loaded", "doStep": "the model failed a step",
                "reset": "the model could not be reset"}
_FMI_PREFIX = re.compile(r"^\[(error|fatal|warning|discard)\]\s*(fmi[23]\w+:\s*)?", re.IGNORECASE)
_LOG_LINES = 20


@dataclass(frozen=True)
class FmuInfo:
    """What an FMU says about itself (its modelDescription.xml), without running it."""

    fmi_version: str
    model_name: str
    description: str
    generation_tool: str
    co_simulation: bool
    model_exchange: bool
    platforms: tuple[str, ...]
    can_snapshot: bool
    default_experiment: Experiment
    variables: tuple[Variable, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"fmiVersion": self.fmi_version, "modelName": self.model_name, "description": self.description,
                "generationTool": self.generation_tool,
                "interfaces": [k for k, on in (("coSimulation", self.co_simulation),
                                               ("modelExchange", self.model_exchange)) if on],
                "platforms": list(self.platforms), "canSnapshot": self.can_snapshot,
                "defaultExperiment": self.default_experiment.as_dict(),
                "variables": [v.as_dict() for v in self.variables]}


def read_info(path: str | Path, *, label: str | None = None) -> FmuInfo:
    """Read and validate an FMU's model description; a file that is not a usable FMU raises ValidationError.

    ``label`` names the file in messages (default: its file name), for a file saved under a temporary name.
    """
    return _info(_read_description(Path(path), label), Path(path))


def _info(md: Any, path: Path) -> FmuInfo:
    import fmpy

    cs = md.coSimulation
    exp = md.defaultExperiment
    return FmuInfo(
        fmi_version=str(md.fmiVersion), model_name=str(md.modelName or ""), description=str(md.description or ""),
        generation_tool=str(md.generationTool or ""), co_simulation=cs is not None,
        model_exchange=md.modelExchange is not None, platforms=tuple(fmpy.supported_platforms(str(path))),
        can_snapshot=bool(cs is not None and cs.canGetAndSetFMUstate and cs.canSerializeFMUstate),
        default_experiment=Experiment(_float(exp.startTime), _float(exp.stopTime), _float(exp.stepSize))
        if exp is not None else Experiment(),
        variables=tuple(_variable(v) for v in md.modelVariables))


def runs_here(info: FmuInfo) -> bool:
    """True when the FMU has a binary for this machine (FMI 2 names it ``linux64``, FMI 3 ``x86_64-linux``)."""
    import fmpy

    return fmpy.platform in info.platforms or fmpy.platform_tuple in info.platforms


class FmuModel:
    """A co-simulation FMU instance. Implements :class:`tvilling.ports.physics.PhysicsModel`.

    Every FMU call that fails raises :class:`SimulationError` carrying the FMU's own last log messages, so the
    reason a model gives ("C must be > 0") reaches the user instead of "status 3".
    """

    def __init__(self, path: str | Path, *, instance_name: str = "tvilling") -> None:
        import fmpy

        self._md = _read_description(Path(path))  # validated once; the info and the instance share it
        self._info = _info(self._md, Path(path))
        if not self._info.co_simulation:
            raise ValidationError(f"{Path(path).name} is a model-exchange FMU; only co-simulation FMUs can be run",
                                  where=str(path), hint="export the model as an FMI 2.0 or 3.0 co-simulation FMU")
        if not runs_here(self._info):
            raise ValidationError(f"{Path(path).name} has no binary for this machine ({fmpy.platform_tuple})",
                                  where=str(path), hint="it has: " + (", ".join(self._info.platforms) or "none")
                                  + "; export it for this platform or include its sources")
        self._by_name = {v.name: v for v in self._md.modelVariables}
        self._log: deque[str] = deque(maxlen=_LOG_LINES)
        self._dir = fmpy.extract(str(path))
        self._fmi3 = self._info.fmi_version.startswith("3")
        self._t = 0.0
        self._ready = False
        self._instance: Any = None
        self._name = instance_name
        self._used = False  # an instance that began initialising must be reset (or replaced) before the next start
        try:
            self._instance = self._instantiate(instance_name)
        except BaseException:
            shutil.rmtree(self._dir, ignore_errors=True)
            raise
        self._outputs = [v for v in self._info.variables if v.causality == "output" and v.type in _SUFFIX]

    @property
    def info(self) -> FmuInfo:
        return self._info

    @property
    def variables(self) -> Sequence[Variable]:
        return self._info.variables

    @property
    def default_experiment(self) -> Experiment:
        return self._info.default_experiment

    @property
    def time(self) -> float:
        return self._t

    def initialize(self, values: Mapping[str, float], *, start_time: float = 0.0,
                   stop_time: float | None = None) -> None:
        given = check_values(self._settable(), values, causalities=_SETTABLE, what="start values")
        fmu = self._fresh()
        self._ready, self._used = False, True
        if not self._fmi3:
            self._call("setupExperiment", lambda: fmu.setupExperiment(startTime=start_time, stopTime=stop_time))
        self._set(given, "start values")
        if self._fmi3:
            self._call("enterInitializationMode",
                       lambda: fmu.enterInitializationMode(startTime=start_time, stopTime=stop_time))
        else:
            self._call("enterInitializationMode", fmu.enterInitializationMode)
        self._call("exitInitializationMode", fmu.exitInitializationMode)
        self._t, self._ready = float(start_time), True

    def step(self, dt: float, inputs: Mapping[str, float] | None = None) -> dict[str, float]:
        fmu = self._ready_instance()
        if inputs:
            self._set(check_values(self._settable(), inputs, causalities=("input",), what="inputs"), "inputs")
        result = self._call(f"doStep at t={self._t:g} s", lambda: fmu.doStep(self._t, dt))
        if self._fmi3 and result[1]:
            raise SimulationError(f"the FMU ended the simulation at t={self._t + dt:g} s", where="doStep",
                                  hint=self._hint())
        self._t += dt
        return self.outputs()

    def outputs(self) -> dict[str, float]:
        self._ready_instance()
        return self._get(self._outputs)

    def snapshot(self) -> bytes:
        fmu = self._ready_instance()
        self._require_snapshots()
        state = self._call("getFMUState", fmu.getFMUState)
        try:
            data = self._call("serializeFMUState", lambda: fmu.serializeFMUState(state))
        finally:
            self._call("freeFMUState", lambda: fmu.freeFMUState(state))
        # The wrapper's clock travels with the FMU's own state: doStep needs the communication point.
        return struct.pack("<d", self._t) + bytes(data)

    def restore(self, state: bytes) -> None:
        fmu = self._live()
        self._require_snapshots()
        if len(state) < 8:
            raise ValidationError("not a snapshot of this FMU: too short", where="state",
                                  hint="pass bytes returned by snapshot() of the same model")
        (t,) = struct.unpack("<d", state[:8])
        deserialize = fmu.deserializeFMUState if self._fmi3 else fmu.deSerializeFMUstate
        handle = self._call("deserializeFMUState", lambda: deserialize(state[8:]))
        try:
            self._call("setFMUState", lambda: fmu.setFMUState(handle))
        finally:
            self._call("freeFMUState", lambda: fmu.freeFMUState(handle))
        self._t, self._ready = t, True

    def close(self) -> None:
        instance, self._instance, self._ready = self._instance, None, False
        if instance is not None:
            with contextlib.suppress(Exception):  # terminate may be refused in some states; freeing must happen
                instance.terminate()
            try:
                instance.freeInstance()
            finally:
                shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> FmuModel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals -----------------------------------------------------------------------------------------------

    def _instantiate(self, name: str) -> Any:
        md = self._md
        ident = md.coSimulation.modelIdentifier
        if self._fmi3:
            from fmpy.fmi3 import FMU3Slave

            fmu3 = FMU3Slave(guid=md.instantiationToken, unzipDirectory=self._dir, modelIdentifier=ident,
                             instanceName=name)
            self._call("instantiate", lambda: fmu3.instantiate(logMessage=self._on_log3))
            return fmu3
        from ctypes import byref

        from fmpy.fmi2 import (
            FMU2Slave,
            calloc,
            fmi2CallbackAllocateMemoryTYPE,
            fmi2CallbackFreeMemoryTYPE,
            fmi2CallbackFunctions,
            fmi2CallbackLoggerTYPE,
            free,
        )
        from fmpy.logging import addLoggerProxy

        callbacks = fmi2CallbackFunctions()
        callbacks.logger = fmi2CallbackLoggerTYPE(self._on_log2)
        callbacks.allocateMemory = fmi2CallbackAllocateMemoryTYPE(calloc)
        callbacks.freeMemory = fmi2CallbackFreeMemoryTYPE(free)
        addLoggerProxy(byref(callbacks))  # formats the FMU's printf-style messages before they reach Python
        self._callbacks = callbacks  # the FMU keeps a pointer to them: they must outlive the instance
        fmu2 = FMU2Slave(guid=md.guid, unzipDirectory=self._dir, modelIdentifier=ident, instanceName=name)
        self._call("instantiate", lambda: fmu2.instantiate(callbacks=callbacks))
        return fmu2

    def _on_log2(self, _env: Any, _name: bytes, status: int, _category: bytes, message: bytes) -> None:
        self._log.append(_log_line(status, message))

    def _on_log3(self, _env: Any, status: int, _category: bytes, message: bytes) -> None:
        self._log.append(_log_line(status, message))

    def _call(self, what: str, fn: Callable[[], Any]) -> Any:
        self._log.clear()
        try:
            return fn()
        except Exception as exc:  # FMPy raises FMICallException and bare Exceptions alike
            said = "; ".join(_plain(line) for line in self._log) or str(exc)
            raise SimulationError(f"{_PLAIN_CALLS.get(what.split()[0], 'the model failed')}"
                                  f"{what[len(what.split()[0]):]}: {said}", where=self._info.model_name,
                                  hint="check the parameter and input values against the model's documentation",
                                  extra={"fmuLog": list(self._log), "fmiCall": what}) from exc

    def _hint(self) -> str:
        return "; ".join(self._log)

    def _settable(self) -> list[Variable]:
        return [v for v in self._info.variables if v.type in _SUFFIX]

    def _set(self, values: Mapping[str, float], what: str) -> None:
        fmu = self._live()
        for name, value in values.items():
            var = self._by_name[name]
            suffix = _SUFFIX[var.type]
            typed: Any = bool(value) if suffix == "Boolean" else (value if suffix.startswith(("Real", "Float"))
                                                                  else round(value))
            setter: Callable[[list[int], list[Any]], Any] = getattr(fmu, "set" + suffix)
            ref: int = var.valueReference
            self._call(f"set{suffix}({name}) for the {what}", functools.partial(setter, [ref], [typed]))

    def _get(self, variables: Sequence[Variable]) -> dict[str, float]:
        fmu = self._live()
        out: dict[str, float] = {}
        for var in variables:
            getter: Callable[[list[int]], list[Any]] = getattr(fmu, "get" + _SUFFIX[var.type])
            ref: int = self._by_name[var.name].valueReference
            out[var.name] = float(self._call(f"get {var.name}", functools.partial(getter, [ref]))[0])
        return out

    def _require_snapshots(self) -> None:
        if not self._info.can_snapshot:
            raise SimulationError(f"{self._info.model_name} cannot save and restore its state",
                                  where="canGetAndSetFMUstate",
                                  hint="snapshots (and what-if forks) need an FMU exported with "
                                       "canGetAndSetFMUstate and canSerializeFMUstate")

    def _fresh(self) -> Any:
        """An instance ready to initialise: reset after a run; replaced when a refused start left it in the
        error state, where FMI allows no reset (FMI 2.0 §2.1.6)."""
        fmu = self._live()
        if not self._used:
            return fmu
        try:
            self._call("reset", fmu.reset)
            return fmu
        except SimulationError:
            self._instance = None
            with contextlib.suppress(Exception):
                fmu.freeInstance()
            self._instance = self._instantiate(self._name)
            self._used = False
            return self._instance

    def _live(self) -> Any:
        if self._instance is None:
            raise SimulationError("the FMU is closed", hint="create a new FmuModel")
        return self._instance

    def _ready_instance(self) -> Any:
        fmu = self._live()
        if not self._ready:
            raise SimulationError("the FMU is not initialised", hint="call initialize() first")
        return fmu


def _read_description(path: Path, label: str | None = None) -> Any:
    from fmpy import read_model_description

    name = label or path.name
    where = label or str(path)
    if not path.is_file():
        raise ValidationError(f"no such FMU file: {path}", where=str(path), hint="give the path of a .fmu file")
    try:
        return read_model_description(str(path), validate=True)
    except (zipfile.BadZipFile, KeyError) as exc:
        raise ValidationError(f"{name} is not an FMU: {exc}", where=where,
                              hint="an FMU is a zip archive with a modelDescription.xml at its root") from exc
    except Exception as exc:  # FMPy reports schema problems with its own exception types
        problems = getattr(exc, "problems", None)
        detail = "; ".join(str(p) for p in problems[:3]) if problems else str(exc)
        raise ValidationError(f"{name} has an invalid modelDescription.xml: {detail}", where=where,
                              hint="re-export the FMU from its tool; FMPy's `fmpy validate` lists every problem") \
            from exc


def _variable(v: Any) -> Variable:
    unit = v.unit or (v.declaredType.unit if getattr(v, "declaredType", None) is not None else None) or ""
    start: Any = v.start
    if v.type in _SUFFIX and start is not None and not getattr(v, "dimensions", None):
        start = _float(start) if v.type != "Boolean" else str(start).lower() in ("true", "1")
    # An FMI 3 array is listed with its element type marked, so it is never set or read as one number.
    kind = f"{v.type}[]" if getattr(v, "dimensions", None) else v.type
    return Variable(name=v.name, causality=v.causality or "local", type=kind, unit=unit, start=start,
                    description=v.description or "", variability=v.variability or "continuous")


def _float(raw: Any) -> float | None:
    try:
        return None if raw is None else float(raw)
    except (TypeError, ValueError):
        return None


def _plain(line: str) -> str:
    """A log line without its status label and FMI function name: "[error] fmi2DoStep: h < 0" → "h < 0"."""
    return _FMI_PREFIX.sub("", line)


def _log_line(status: int, message: bytes) -> str:
    label = ["ok", "warning", "discard", "error", "fatal", "pending"][status] if 0 <= status < 6 else str(status)
    return f"[{label}] {message.decode('utf-8', 'replace').strip()}"
