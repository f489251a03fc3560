"""RUL models trained by the platform: ``POST /api/v1/ml/rul/jobs`` fits a fleet model on run-to-failure histories
sent as the body and registers it (model registry, kind ``rul``); ``GET /api/v1/ml/rul/jobs[/{id}]`` follows the
jobs; ``POST /api/v1/ml/models/{name}/predict`` estimates each unit's RUL from histories sent as the body, with the
production version (or ``version``).

Bodies are data files (CSV, or NASA C-MAPSS text with ``format=cmapss``), up to ``max_upload_bytes`` (64 MiB by
default; every other route keeps the smaller ``max_body_bytes``). A table is checked before a job is queued, so bad
input is a 422 problem+json at once. Training and promotion are for engineers; estimates and job records for
viewers. Jobs and estimates are per tenant (another tenant's job or model is 404).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from tvilling.api.deps import require, services
from tvilling.api.errors import errors
from tvilling.api.responses import Json
from tvilling.app.auth import Principal
from tvilling.app.offline_rul import HistoryOptions, TrainSettings
from tvilling.app.registry import registry_for
from tvilling.app.rul_jobs import RulJobs, jobs_for, predict_registered
from tvilling.core.roles import Role

router = APIRouter(tags=["rul"])
UPLOAD_PATHS = (r"/api/v1/ml/rul/jobs", r"/api/v1/ml/models/[^/]+/predict")
Name = Annotated[str, Path(pattern=r"^[^\x00-\x1f\x7f/\\?#]{1,600}$", description="Registered model name")]
HISTORY_BODY = {"requestBody": {"required": True, "description": "History table: a CSV with a header row (one row "
                                "per unit and time step), or a C-MAPSS text file with format=cmapss",
                                "content": {"text/csv": {"schema": {"type": "string"}},
                                            "text/plain": {"schema": {"type": "string"}}}}}
Format = Annotated[str, Query(pattern=r"^(csv|cmapss)$", description="csv, or cmapss (NASA C-MAPSS text)")]
Sep = Annotated[str, Query(min_length=1, max_length=1, description="CSV field separator")]


def jobs(request: Request) -> RulJobs:
    return jobs_for(services(request))


def _columns(text: str) -> tuple[str, ...]:
    return tuple(c for c in text.split(",") if c)


@router.post("/api/v1/ml/rul/jobs", response_model=None, status_code=202, openapi_extra=HISTORY_BODY,
             responses=errors(409, 413), summary="Train a fleet RUL model on run-to-failure histories "
             "(checked now, fitted in the background, registered as the next version of `name`)")
async def submit_rul_job(
    request: Request,
    principal: Annotated[Principal, Depends(require(Role.ENGINEER))],
    name: Annotated[str, Query(min_length=1, max_length=600, description="model name in the registry")],
    format: Format = "csv",
    sep: Sep = ",",
    unit_col: Annotated[str, Query(alias="unitCol", max_length=200)] = "unit",
    time_col: Annotated[str, Query(alias="timeCol", max_length=200)] = "cycle",
    settings: Annotated[str | None, Query(max_length=4000, description="comma-separated setting columns "
                                          "(default: those named setting*)")] = None,
    exclude: Annotated[str, Query(max_length=4000, description="comma-separated columns to ignore")] = "",
    horizon: Annotated[float, Query(gt=0, le=1e9, description="CV and calibration on time steps at most this "
                                    "far from failure")] = 150.0,
    level: Annotated[float, Query(gt=0, lt=1, description="interval coverage")] = 0.8,
    folds: Annotated[int, Query(ge=2, le=20, description="cross-validation folds, by unit")] = 5,
    promote: Annotated[bool, Query(description="make the new version the production one when it is "
                                   "registered")] = False,
) -> Response:
    raw = await request.body()
    options = HistoryOptions(format=format, sep=sep, unit_col=unit_col, time_col=time_col,
                             settings=None if settings is None else _columns(settings), exclude=_columns(exclude))
    job = await run_in_threadpool(jobs(request).submit, principal.tenant, name, raw, options,
                                  TrainSettings(horizon=horizon, level=level, folds=folds), principal.context(),
                                  promote=promote)
    return Json(job.as_dict(), status_code=202, headers={"Location": f"/api/v1/ml/rul/jobs/{job.id}"})


@router.get("/api/v1/ml/rul/jobs", response_model=None, responses=errors(),
            summary="Training jobs, newest first (the last 100 of the tenant)")
def list_rul_jobs(request: Request, principal: Annotated[Principal, Depends(require(Role.VIEWER))]) -> Response:
    return Json({"value": [j.as_dict() for j in jobs(request).list(principal.tenant)]})


@router.get("/api/v1/ml/rul/jobs/{job_id}", response_model=None, responses=errors(404),
            summary="One training job: queued, running, succeeded (with the registered version) or failed (why)")
def get_rul_job(request: Request, job_id: Annotated[str, Path(max_length=64)],
                principal: Annotated[Principal, Depends(require(Role.VIEWER))]) -> Response:
    return Json(jobs(request).get(principal.tenant, job_id).as_dict())


@router.post("/api/v1/ml/models/{name}/predict", response_model=None, openapi_extra=HISTORY_BODY,
             responses=errors(404, 409, 413), summary="Each unit's RUL, interval and P(failure within) from its "
             "history so far, with a registered RUL model")
async def predict_rul(
    request: Request,
    name: Name,
    principal: Annotated[Principal, Depends(require(Role.VIEWER))],
    within: Annotated[float, Query(ge=0, le=1e9, description="horizon of P(failure within), in the time "
                                   "column's unit")] = 30.0,
    version: Annotated[int | None, Query(ge=1, le=2_147_483_647, description="default: the production "
                                         "version")] = None,
    every_row: Annotated[bool, Query(alias="everyRow", description="an estimate at every row, not only at "
                                     "each unit's last")] = False,
    format: Format = "csv",
    sep: Sep = ",",
) -> Response:
    raw = await request.body()
    used, table, summary = await run_in_threadpool(
        predict_registered, registry_for(services(request)), principal.tenant, name, raw, version=version,
        options=HistoryOptions(format=format, sep=sep), within=within, every_row=every_row)
    body: dict[str, Any] = {"name": name, "version": used, **summary,
                            "estimates": table.to_dict("records")}
    return Json(body)
