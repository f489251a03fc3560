"""/api/v1/fmus: the FMU library — upload a co-simulation FMU, list it, read its variables, simulate it.

Viewers list and read; operators simulate; engineers upload and delete (an FMU is native code that this server
will run: uploading one is a modelling decision, not an operator's). The upload body is the .fmu file itself (up to
``max_upload_bytes``). Simulations run in a child process each, with a wall-clock limit (``fmu_timeout_s``), and
return every recorded output at every communication step; nothing is stored. Other tenants' FMUs are 404.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from tvilling.api.deps import require, services
from tvilling.api.errors import errors
from tvilling.app.auth import Principal
from tvilling.app.fmu_runner import SimulationRequest
from tvilling.app.fmus import FmuLibrary, fmu_library
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
