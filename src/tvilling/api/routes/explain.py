"""/api/v1/twins/{id}/explain/{name}: why did this signal change? (docs/explain.md)

Viewer role; read-only. The answer ranks the signals of the twins around this one by how well they account for the
change between a reference window and the incident, with the evidence for each, and lists the commands, alarms and
work orders on those twins in the same span.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from tvilling.api.deps import ID_PATTERN, require, services
from tvilling.api.errors import errors
from tvilling.api.responses import Json
from tvilling.api.routes.telemetry import parse_time
from tvilling.app.auth import Principal
from tvilling.app.explain import MAX_HOPS, ExplainService
from tvilling.core.errors import ValidationError
from tvilling.core.roles import Role

router = APIRouter(prefix="/api/v1", tags=["explain"])
Time = Annotated[str | None, Query(max_length=64, description="ISO 8601 with a zone, e.g. 2026-11-24T02:00:00Z")]


def _at(value: str | None, where: str) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=parse_time(value, datetime.now(UTC), where))
    except OverflowError:  # an offset that leaves the calendar (year 1 at +14:00)
        raise ValidationError(f"{where} is outside the calendar once in UTC", where=where) from None


@router.get("/twins/{twin_id}/explain/{name}", response_model=None, responses=errors(404, 422),
            summary="Why did this signal change? Related signals ranked, with evidence, and what happened meanwhile")
async def explain(request: Request, principal: Annotated[Principal, Depends(require(Role.VIEWER))],
                  twin_id: Annotated[str, Path(pattern=ID_PATTERN)],
                  name: Annotated[str, Path(min_length=1, max_length=512)],
                  start: Time = None, end: Time = None,
                  reference_start: Annotated[str | None, Query(alias="referenceStart", max_length=64, description=(
                      "default: as long before start as the incident lasts"))] = None,
                  reference_end: Annotated[str | None, Query(alias="referenceEnd", max_length=64,
                                                             description="default: start")] = None,
                  hops: Annotated[int, Query(ge=0, le=MAX_HOPS, description="graph distance walked")] = 2,
                  bucket: Annotated[int | None, Query(description="seconds: 60, 300, 900, 3600, 21600 or 86400; "
                                                                  "default: the smallest that fits")] = None,
                  direction: Annotated[Literal["down", "up", "any"], Query()] = "any",
                  top: Annotated[int, Query(ge=1, le=100)] = 10) -> Response:
    now = datetime.now(UTC)
    t_end = _at(end, "end") or now
    t_start = _at(start, "start") or t_end - timedelta(hours=1)
    ref_start, ref_end = _at(reference_start, "referenceStart"), _at(reference_end, "referenceEnd")
    if (ref_start is None) != (ref_end is None):
        raise ValidationError("give both referenceStart and referenceEnd, or neither", where="referenceStart")
    reference = (ref_start, ref_end) if ref_start is not None and ref_end is not None else None
    svc = ExplainService(services(request))
    body = await run_in_threadpool(lambda: svc.explain(principal.tenant, twin_id, name, t_start, t_end,
                                                       reference=reference, hops=hops, bucket_s=bucket,
                                                       direction=direction, top=top))
    return Json(body)
