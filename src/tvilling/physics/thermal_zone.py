"""A building's thermal zone as a native physics model: one air node behind an envelope.

    C dT/dt = Q_hvac − UA (T − T_out)

The same equations as the FMU in ``examples/fmus/thermal_zone`` (FMI 2.0 and 3.0), so the two kinds of model can be
checked against each other through one port. Each step is integrated exactly with its inputs held constant, so the
result does not depend on the step size:

>>> zone = ThermalZone()
>>> zone.initialize({"T_start": 20.0, "T_out": 20.0})
>>> round(zone.step(3600.0, {"Q_hvac": 500.0})["T"], 4)   # 500 W into 5 MJ/K for an hour, less the loss
20.3023
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence

from tvilling.core.errors import SimulationError, ValidationError
from tvilling.core.physics import Experiment, Variable, check_values

VARIABLES: tuple[Variable, ...] = (
    Variable("C", "parameter", unit="J/K", start=5.0e6, description="heat capacity of the zone", variability="fixed"),
    Variable("UA", "parameter", unit="W/K", start=500.0, description="envelope conductance", variability="fixed"),
    Variable("T_start", "parameter", unit="degC", start=21.0, description="zone temperature at the start",
             variability="fixed"),
    Variable("Q_hvac", "input", unit="W", start=0.0, description="HVAC heat into the zone (negative: cooling)"),
    Variable("T_out", "input", unit="degC", start=10.0, description="outdoor temperature"),
    Variable("T", "output", unit="degC", description="zone air temperature"),
    Variable("Q_loss", "output", unit="W", description="heat from the zone to outside"),
)
_START = {v.name: float(v.start) for v in VARIABLES if v.start is not None}
_SETTABLE_AT_START = ("parameter", "input")


class ThermalZone:
    """Implements :class:`tvilling.ports.physics.PhysicsModel`."""

    def __init__(self) -> None:
        self._values: dict[str, float] = dict(_START)
        self._t = 0.0
        self._temp = _START["T_start"]
        self._ready = False

    @property
    def variables(self) -> Sequence[Variable]:
        return VARIABLES

    @property
    def default_experiment(self) -> Experiment:
        return Experiment(0.0, 86400.0, 60.0)

    @property
    def time(self) -> float:
        return self._t

    def initialize(self, values: Mapping[str, float], *, start_time: float = 0.0,
                   stop_time: float | None = None) -> None:
        given = check_values(VARIABLES, values, causalities=_SETTABLE_AT_START, what="start values")
        merged = {**_START, **given}
        for name in ("C", "UA"):
            if merged[name] <= 0.0:
                raise SimulationError(f"{name} must be > 0, got {merged[name]:g}", where=name,
                                      hint=f"the model's default is {_START[name]:g}")
        self._values, self._t, self._temp, self._ready = merged, float(start_time), merged["T_start"], True

    def step(self, dt: float, inputs: Mapping[str, float] | None = None) -> dict[str, float]:
        self._require_ready()
        if not (math.isfinite(dt) and dt >= 0.0):
            raise SimulationError(f"the step size must be a finite number >= 0, got {dt!r}", where="dt")
        if inputs:
            self._values.update(check_values(VARIABLES, inputs, causalities=("input",), what="inputs"))
        v = self._values
        equilibrium = v["T_out"] + v["Q_hvac"] / v["UA"]
        self._temp = equilibrium + (self._temp - equilibrium) * math.exp(-v["UA"] * dt / v["C"])
        self._t += dt
        return self.outputs()

    def outputs(self) -> dict[str, float]:
        self._require_ready()
        return {"T": self._temp, "Q_loss": self._values["UA"] * (self._temp - self._values["T_out"])}

    def snapshot(self) -> bytes:
        self._require_ready()
        return json.dumps({"model": "ThermalZone", "t": self._t, "T": self._temp, "values": self._values}).encode()

    def restore(self, state: bytes) -> None:
        try:
            data = json.loads(state)
            if data.get("model") != "ThermalZone":
                raise ValueError("not a ThermalZone snapshot")
            values = {str(k): float(v) for k, v in data["values"].items()}
            t, temp = float(data["t"]), float(data["T"])
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise ValidationError(f"not a snapshot of this model: {exc}", where="state",
                                  hint="pass bytes returned by snapshot() of a ThermalZone") from exc
        self._values, self._t, self._temp, self._ready = values, t, temp, True

    def close(self) -> None:
        self._ready = False

    def _require_ready(self) -> None:
        if not self._ready:
            raise SimulationError("the model is not initialised", hint="call initialize() first")
