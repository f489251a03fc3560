"""/api/v1/fmus: the FMU library — upload a co-simulation FMU, list it, read its variables, simulate it, run a
Monte Carlo ensemble on it, calibrate it on measurements, compare measurements with it (residuals).

Viewers list and read; operators simulate, run ensembles and analyse residuals; engineers upload, delete and
calibrate (an FMU is native code that this server will run, and a calibration decides what the model is: modelling
decisions, not an operator's). The upload body is the .fmu file itself (up to ``max_upload_bytes``). Every run is
one child process with a wall-clock limit (``fmu_timeout_s``); nothing is stored. Other tenants' FMUs are 404.
docs/physics.md.
"""

from __future__ import annotations

import dataclasses
import math
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from tvilling.api.deps import ID_PATTERN, require, services
from tvilling.api.errors import errors
from tvilling.api.routes.telemetry import parse_bucket, parse_time, runtime
from tvilling.app.auth import Principal
from tvilling.app.fmu_runner import SimulationRequest
from tvilling.app.fmus import FmuLibrary, fmu_library, measurements_from_history
from tvilling.core.errors import ValidationError
from tvilling.core.roles import Role

router = APIRouter(prefix="/api/v1", tags=["fmus"])
UPLOAD_PATHS = (r"/api/v1/fmus",)
FmuId = Annotated[str, Path(pattern=r"^fmu-[0-9a-f]{16}$", description="The FMU's id (fmu- and 16 hex digits)")]
FMU_BODY = {"requestBody": {"required": True, "description": "The .fmu file (a zip archive)",
                            "content": {"application/octet-stream": {"schema": {"type": "string",
                                                                                 "format": "binary"}}}}}
Number = float | bool


class InputSeries(BaseModel):
    """Inputs over time: ``columns[name][k]`` holds from ``time[k]`` until the next time (zero-order hold)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    time: list[float] = Field(min_length=1, max_length=100_000, description="seconds, increasing")
    columns: dict[str, list[float]] = Field(min_length=1, max_length=200, description="one list per input")


class SimulationBody(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    startTime: float | None = Field(default=None, description="s (default: the FMU's default experiment)")
    stopTime: float | None = Field(default=None, description="s (default: the FMU's default experiment)")
    step: float | None = Field(default=None, gt=0, description="communication step, s (default: the FMU's)")
    values: dict[str, Number] = Field(default_factory=dict, max_length=1000,
                                      description="start values of parameters and inputs, by variable name")
    inputs: InputSeries | None = None
    record: list[str] = Field(default_factory=list, max_length=1000, description="outputs to keep (default: all)")

    @model_validator(mode="after")
    def _lengths(self) -> SimulationBody:
        if self.inputs is not None:
            for name, values in self.inputs.columns.items():
                if len(values) != len(self.inputs.time):
                    raise ValueError(f"inputs.columns.{name} has {len(values)} values for "
                                     f"{len(self.inputs.time)} times")
        return self

    def request(self) -> SimulationRequest:
        return SimulationRequest(
            start_time=self.startTime, stop_time=self.stopTime, step=self.step, values=dict(self.values),
            input_times=list(self.inputs.time) if self.inputs is not None else None,
            input_columns=dict(self.inputs.columns) if self.inputs is not None else {}, record=list(self.record))


class Spread(BaseModel):
    """An uncertain value: ``dist`` and its parameters (normal: mean, sd; uniform: low, high; triangular: low,
    mode, high; lognormal: median, sigma), in the variable's unit."""

    model_config = ConfigDict(extra="allow", allow_inf_nan=False)
    dist: Literal["normal", "uniform", "triangular", "lognormal"]


class Limit(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    above: float | None = None
    below: float | None = None

    @model_validator(mode="after")
    def _one(self) -> Limit:
        if (self.above is None) == (self.below is None):
            raise ValueError("give exactly one of above or below")
        return self


class EnsembleBody(SimulationBody):
    vary: dict[str, Spread] = Field(min_length=1, max_length=50, description="uncertain parameters and inputs")
    samples: int = Field(default=100, ge=2, le=1000, description="runs, drawn by Latin hypercube")
    seed: int = Field(default=0, ge=0, le=2**32 - 1, description="the same seed draws the same samples")
    limits: dict[str, Limit] = Field(default_factory=dict, max_length=50,
                                     description="per output: the share of runs that go above / below it")

    def request(self) -> SimulationRequest:
        return dataclasses.replace(
            super().request(), vary={k: v.model_dump() for k, v in self.vary.items()}, samples=self.samples,
            seed=self.seed, limits={k: ("above", v.above) if v.above is not None else ("below", float(v.below or 0))
                                    for k, v in self.limits.items()})


class PropertyRef(BaseModel):
    """A twin property as a model variable: ``value · scale + offset`` (e.g. kW → W: scale 1000)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    property: str = Field(min_length=1, max_length=512)
    scale: float = 1.0
    offset: float = 0.0


class HistorySource(BaseModel):
    """Calibration data from a twin's stored history: the mean of each mapped property per ``bucket``."""

    model_config = ConfigDict(extra="forbid")
    twin: str = Field(pattern=ID_PATTERN, max_length=512)
    start: str = Field(max_length=64, description="ISO 8601 with a zone")
    end: str | None = Field(default=None, max_length=64, description="ISO 8601 with a zone (default: now)")
    bucket: str = Field(default="5m", max_length=12, description="seconds, or 1m, 1h, 1d")
    inputs: dict[str, str | PropertyRef] = Field(default_factory=dict, max_length=200,
                                                 description="model input: twin property")
    outputs: dict[str, str | PropertyRef] = Field(min_length=1, max_length=50,
                                                  description="model output: the twin property that measured it")

    def refs(self, which: dict[str, str | PropertyRef]) -> dict[str, tuple[str, float, float]]:
        return {name: (ref, 1.0, 0.0) if isinstance(ref, str) else (ref.property, ref.scale, ref.offset)
                for name, ref in which.items()}


class MeasurementsBody(BaseModel):
    """Measurements of the asset: ``inputs`` drove it and ``outputs`` are what it showed, at ``time`` (s,
    increasing; null for a missing measured value) — or, instead of the three, ``history``: the same read from a
    twin's stored history. ``values``: the model's parameters and start values."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    time: list[float] | None = Field(default=None, min_length=3, max_length=200_000)
    inputs: dict[str, list[float]] = Field(default_factory=dict, max_length=200)
    outputs: dict[str, list[float | None]] = Field(default_factory=dict, max_length=50)
    history: HistorySource | None = None
    values: dict[str, Number] = Field(default_factory=dict, max_length=1000)

    @model_validator(mode="after")
    def _one_source(self) -> MeasurementsBody:
        given = self.time is not None or bool(self.outputs) or bool(self.inputs)
        if given == (self.history is not None):
            raise ValueError("give the measurements either as time, inputs and outputs, or as history")
        if self.history is None and (self.time is None or not self.outputs):
            raise ValueError("time and outputs are both needed")
        return self

    def measurements(self, data: dict[str, Any] | None = None) -> SimulationRequest:
        data = data or {"time": self.time, "inputs": self.inputs, "outputs": self.outputs}
        return SimulationRequest(
            input_times=list(data["time"] or []), input_columns=dict(data["inputs"]), values=dict(self.values),
            measured={k: [math.nan if v is None else v for v in vs] for k, vs in data["outputs"].items()})


class CalibrationBody(MeasurementsBody):
    """The measurements and the parameters to fit."""

    fit: dict[str, tuple[float, float]] = Field(min_length=1, max_length=20, description="parameter: [low, high]")

    def request(self, data: dict[str, Any] | None = None) -> SimulationRequest:
        return dataclasses.replace(self.measurements(data), fit={k: [lo, hi] for k, (lo, hi) in self.fit.items()})


class ResidualsBody(MeasurementsBody):
    """The measurements to compare with the model; the first ``referenceRows`` are a healthy period."""

    referenceRows: int | None = Field(default=None, ge=10, le=200_000,
                                      description="rows taken as healthy (default: the first 20 %)")

    def request(self, data: dict[str, Any] | None = None) -> SimulationRequest:
        return dataclasses.replace(self.measurements(data), reference_rows=self.referenceRows)


async def history_data(request: Request, principal: Principal, source: HistorySource | None) -> dict[str, Any] | None:
    """The measurements a history source names, read from the caller's tenant (404 for another tenant's twin)."""
    if source is None:
        return None
    await run_in_threadpool(services(request).twins.get, principal.tenant, source.twin)
    start_us = parse_time(source.start, datetime.now(UTC), "history.start")
    end_us = parse_time(source.end, datetime.now(UTC), "history.end")
    if end_us <= start_us:
        raise ValidationError("history.end must be after history.start", where="history.end")
    data: dict[str, Any] = await run_in_threadpool(lambda: measurements_from_history(
        runtime(request).history, principal.tenant, source.twin, start_us=start_us, end_us=end_us,
        bucket_s=parse_bucket(source.bucket), inputs=source.refs(source.inputs), outputs=source.refs(source.outputs)))
    return data


def _with_source(result: dict[str, Any], data: dict[str, Any] | None) -> dict[str, Any]:
    """For history-sourced runs: what was measured (a missing bucket is null) and the time of ``time`` 0."""
    if data is not None:
        result["measured"] = {k: [None if math.isnan(v) else v for v in vs] for k, vs in data["outputs"].items()}
        result["timeOrigin"] = datetime.fromtimestamp(data["origin_us"] / 1e6, UTC).isoformat().replace("+00:00", "Z")
    return result


def _library(request: Request) -> FmuLibrary:
    return fmu_library(request.app.state, services(request))


@router.get("/fmus", response_model=None, responses=errors(), summary="The FMU library of the caller's tenant")
async def list_fmus(request: Request, principal: Annotated[Principal, Depends(require(Role.VIEWER))]) -> Response:
    return JSONResponse({"value": await run_in_threadpool(_library(request).list, principal.tenant)})


@router.post("/fmus", status_code=201, response_model=None, openapi_extra=FMU_BODY, responses=errors(409, 413),
             summary="Upload a co-simulation FMU (FMI 2.0 or 3.0) with a binary for this server (engineer)")
async def upload_fmu(request: Request, principal: Annotated[Principal, Depends(require(Role.ENGINEER))],
                     name: Annotated[str | None, Query(min_length=1, max_length=200,
                                                       description="display name (default: the model's)")] = None,
                     ) -> Response:
    data = await request.body()
    entry = await run_in_threadpool(lambda: _library(request).upload(principal.tenant, data, principal.context(),
                                                                     role=principal.role, name=name))
    return JSONResponse(entry, status_code=201, headers={"Location": f"/api/v1/fmus/{entry['id']}"})


@router.get("/fmus/{fmu}", response_model=None, responses=errors(404),
            summary="One FMU: FMI version, default experiment and every variable (causality, unit, start)")
async def get_fmu(request: Request, fmu: FmuId,
                  principal: Annotated[Principal, Depends(require(Role.VIEWER))]) -> Response:
    return JSONResponse(await run_in_threadpool(_library(request).get, principal.tenant, fmu))


@router.delete("/fmus/{fmu}", status_code=204, response_model=None, responses=errors(404),
               summary="Remove an FMU from the library (engineer)")
async def delete_fmu(request: Request, fmu: FmuId,
                     principal: Annotated[Principal, Depends(require(Role.ENGINEER))]) -> Response:
    await run_in_threadpool(lambda: _library(request).delete(principal.tenant, fmu, principal.context(),
                                                             role=principal.role))
    return Response(status_code=204)


@router.post("/fmus/{fmu}/simulations", response_model=None, responses=errors(404, 503),
             summary="Simulate an FMU (operator): outputs at every communication step; nothing is stored")
async def simulate_fmu(request: Request, fmu: FmuId, body: SimulationBody,
                       principal: Annotated[Principal, Depends(require(Role.OPERATOR))]) -> Response:
    result: dict[str, Any] = await run_in_threadpool(lambda: _library(request).simulate(
        principal.tenant, fmu, body.request(), role=principal.role))
    return JSONResponse(result)


@router.post("/fmus/{fmu}/calibrations", response_model=None, responses=errors(404, 503),
             summary="Fit an FMU's parameters to measurements (engineer): values, intervals, error before/after")
async def calibrate_fmu(request: Request, fmu: FmuId, body: CalibrationBody,
                        principal: Annotated[Principal, Depends(require(Role.ENGINEER))]) -> Response:
    data = await history_data(request, principal, body.history)
    result: dict[str, Any] = await run_in_threadpool(lambda: _library(request).calibrate(
        principal.tenant, fmu, body.request(data), role=principal.role))
    return JSONResponse(_with_source(result, data))


@router.post("/fmus/{fmu}/residuals", response_model=None, responses=errors(404, 503),
             summary="Compare measurements with the model (operator): residuals, control charts, fault episodes")
async def fmu_residuals(request: Request, fmu: FmuId, body: ResidualsBody,
                        principal: Annotated[Principal, Depends(require(Role.OPERATOR))]) -> Response:
    data = await history_data(request, principal, body.history)
    result: dict[str, Any] = await run_in_threadpool(lambda: _library(request).residuals(
        principal.tenant, fmu, body.request(data), role=principal.role))
    return JSONResponse(_with_source(result, data))


@router.post("/fmus/{fmu}/ensembles", response_model=None, responses=errors(404, 503),
             summary="Monte Carlo what-if on an FMU (operator): percentile bands, final-value spread, exceedance")
async def run_ensemble(request: Request, fmu: FmuId, body: EnsembleBody,
                       principal: Annotated[Principal, Depends(require(Role.OPERATOR))]) -> Response:
    result: dict[str, Any] = await run_in_threadpool(lambda: _library(request).ensemble(
        principal.tenant, fmu, body.request(), role=principal.role))
    return JSONResponse(result)
