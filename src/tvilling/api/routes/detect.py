"""POST /api/v1/detect: offline anomaly detection on a CSV sent as the body — ``tvilling detect`` over HTTP.

The body is the CSV itself (any content type; the server-wide body limit applies, 1 MiB by default: use the CLI
for larger files). Query parameters mirror the CLI's options. The answer is the CLI's ``--json`` summary
(episodes with their signals and reasons; with ``labelCol``, the flags scored against that column);
``rows=true`` adds every row's time, score and flag. The table is scored in a worker thread, so a large one does
not stall other requests. Nothing is stored. Viewer role.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from tvilling.api.deps import require
from tvilling.api.errors import errors
from tvilling.api.responses import Json
from tvilling.app.auth import Principal
from tvilling.app.offline_detect import DetectOptions, DetectReport, detect, read_table
from tvilling.core.roles import Role

router = APIRouter(prefix="/api/v1", tags=["detect"])
CSV_BODY = {"requestBody": {"required": True, "description": "The CSV: a header row, then one row per time step",
                            "content": {"text/csv": {"schema": {"type": "string"}}}}}


@router.post("/detect", response_model=None, openapi_extra=CSV_BODY, responses=errors(413),
             summary="Score every row of a CSV for anomalies (the table is not stored)")
async def detect_csv(
    request: Request,
    principal: Annotated[Principal, Depends(require(Role.VIEWER))],
    sep: Annotated[str, Query(min_length=1, max_length=1, description="field separator, one character")] = ",",
    decimal: Annotated[str, Query(pattern=r"^[.,]$", description="decimal mark: '.' or ','")] = ".",
    time_col: Annotated[str | None, Query(alias="timeCol", max_length=200,
                                          description="time column (default: one named like a time)")] = None,
    exclude: Annotated[str, Query(max_length=4000, description="comma-separated columns to ignore")] = "",
    train_rows: Annotated[int | None, Query(alias="trainRows", ge=0, le=100_000_000,
                                            description="leading rows of normal operation (default 20 %)")] = None,
    label_col: Annotated[str | None, Query(alias="labelCol", max_length=200,
                                           description="column of known labels, scored against")] = None,
    ewma: Annotated[float, Query(ge=0.0, lt=1.0, description="weight of the lasting-shift chart (0: off)")] = 0.1,
    rows: Annotated[bool, Query(description="also return every row's time, score and flag")] = False,
) -> Response:
    raw = await request.body()
    options = DetectOptions(sep=sep, decimal=decimal, time_col=time_col, exclude=exclude.split(","),
                            train_rows=train_rows, ewma=ewma, label_col=label_col)
    report = await run_in_threadpool(_run, raw, options)
    body: dict[str, Any] = report.summary()
    if rows:
        body["scores"] = [{"time": t, "anomaly_score": round(float(s), 6), "is_anomaly": bool(f)}
                               for t, s, f in zip(report.times, report.result.scores, report.result.is_anomaly,
                                                  strict=True)]
    return Json(body)


def _run(raw: bytes, options: DetectOptions) -> DetectReport:
    options.check()
    return detect(read_table(raw, options.sep, name="the request body", decimal=options.decimal), options,
                  name="the request body")
