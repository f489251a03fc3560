"""Setpoint loops as data: ``setpoints.yaml`` beside a site's ``mappings.yaml`` (or ``settings.setpoints_file``)::

    version: 1
    tenant: default
    loops:
      - name: hall-comfort              # unique; names the loop in the API, CLI, audit and events
        twin: hall
        mode: auto                      # recommend | approve | auto (auto still needs an engineer to enable it)
        band: {low: 21, high: 23}       # air temperature to hold, degC
        margin: 0.2                     # K inside the band the loop aims for on the working side
        signals: {air: airTemperature, outdoor: outdoorTemperature, power: hvacPower, occupancy: occupancy,
                  heating_setpoint: heatingSetpoint, cooling_setpoint: coolingSetpoint}
        commands: {heating: set_heating_setpoint_c, cooling: set_cooling_setpoint_c}
        limits: {heating: [18, 24], cooling: [20, 26], min_gap: 1.0, step: 0.25, max_move: 2.0}
        period_s: 900                   # one decision per period of the zone's own (source) time
        history_days: 7                 # what the model is fitted on (at least 3)
        horizon_h: 6                    # forecast over which energy is predicted
        max_energy_error: 0.3           # confidence gate: held-out day's energy error above this -> approval
        outdoor_margin_k: 3             # out of distribution: outdoor beyond the fitted range by more -> approval
        max_failures: 2                 # commands failed / expired in a row before autonomy suspends itself
        max_input_age_s: 2700           # no air or power reading this long (quarter-hours) -> autonomy suspends
        lease_s: 20                     # auto only, optional: autonomous setpoints are leased; renewed every
                                        # lease_s/4 while autonomy is on, released when it goes off (C-13)

Docs: docs/setpoints.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tvilling.app.documents import read_yaml, validate_document
from tvilling.core.errors import ValidationError

MODES = ("recommend", "approve", "auto")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class BandSpec(_Strict):
    low: float
    high: float

    @model_validator(mode="after")
    def _ordered(self) -> BandSpec:
        if not self.high > self.low:
            raise ValueError(f"high ({self.high}) must be above low ({self.low})")
        return self


class Signals(_Strict):
    air: str = "airTemperature"
    outdoor: str = "outdoorTemperature"
    power: str = "hvacPower"
    occupancy: str = "occupancy"
    heating_setpoint: str = "heatingSetpoint"
    cooling_setpoint: str = "coolingSetpoint"


class Commands(_Strict):
    heating: str = "set_heating_setpoint_c"
    cooling: str = "set_cooling_setpoint_c"


class LimitSpec(_Strict):
    heating: tuple[float, float] = (16.0, 26.0)
    cooling: tuple[float, float] = (18.0, 30.0)
    min_gap: float = Field(default=1.0, ge=0)
    step: float = Field(default=0.25, gt=0)
    max_move: float = Field(default=2.0, gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> LimitSpec:
        for name in ("heating", "cooling"):
            lo, hi = getattr(self, name)
            if not hi >= lo:
                raise ValueError(f"{name}: the upper limit ({hi}) is below the lower ({lo})")
        return self


class LoopSpec(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$")
    twin: str = Field(min_length=1, max_length=512)
    mode: Literal["recommend", "approve", "auto"] = "recommend"
    band: BandSpec
    margin: float = Field(default=0.2, ge=0)
    signals: Signals = Signals()
    commands: Commands = Commands()
    limits: LimitSpec = LimitSpec()
    period_s: float = Field(default=900.0, ge=60, le=86400)
    history_days: float = Field(default=7.0, ge=3, le=60)
    horizon_h: float = Field(default=6.0, gt=0, le=72)
    max_energy_error: float = Field(default=0.3, gt=0, le=1.0)
    outdoor_margin_k: float = Field(default=3.0, ge=0, le=20)
    max_failures: int = Field(default=2, ge=1, le=100)
    max_input_age_s: float = Field(default=2700.0, ge=900, le=86400)
    # Wall-clock seconds (a crashed server is a wall-clock event, whatever the zone's pace): the device keeps an
    # autonomous setpoint only while the loop renews it, and falls back to its local value otherwise.
    lease_s: float | None = Field(default=None, ge=2, le=3600)

    @model_validator(mode="after")
    def _room(self) -> LoopSpec:
        if self.band.high - self.band.low <= 2 * self.margin:
            raise ValueError(f"the band {self.band.low}..{self.band.high} leaves no room inside a "
                             f"{self.margin} K margin")
        if self.lease_s is not None and self.mode != "auto":
            raise ValueError(f"lease_s leases autonomous setpoints: it needs mode auto (this loop is {self.mode})")
        return self


@dataclass(frozen=True)
class SetpointConfig:
    tenant: str = "default"
    loops: tuple[LoopSpec, ...] = ()

    def get(self, name: str) -> LoopSpec | None:
        return next((loop for loop in self.loops if loop.name == name), None)

    def for_twin(self, twin_id: str) -> list[LoopSpec]:
        """Asked for every committed reading of every twin (the telemetry path): a dict lookup, not a scan."""
        return self._by_twin.get(twin_id, [])

    @cached_property
    def _by_twin(self) -> dict[str, list[LoopSpec]]:
        index: dict[str, list[LoopSpec]] = {}
        for loop in self.loops:
            index.setdefault(loop.twin, []).append(loop)
        return index


class _Document(_Strict):
    version: Literal[1] = 1
    tenant: str = Field(default="default", min_length=1, max_length=64)
    loops: list[LoopSpec]


def parse_config(doc: Any) -> SetpointConfig:
    parsed = validate_document(_Document, doc, "setpoints", "docs/setpoints.md")
    names = [loop.name for loop in parsed.loops]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValidationError(f"loop name(s) used twice in the setpoints document: {', '.join(dupes)}",
                              where="setpoints.loops", hint="give every loop its own name")
    return SetpointConfig(parsed.tenant, tuple(parsed.loops))


def load_config(path: str | Path) -> SetpointConfig:
    return parse_config(read_yaml(path, "the setpoints document"))
