"""Cascade impact through the twin graph (docs/impact.md): what a twin's stop takes with it, and which likely
failures would cost most. Viewer role; read-only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import StringConstraints
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from tvilling.api.deps import ID_PATTERN, require
from tvilling.api.errors import errors
from tvilling.api.responses import Json
from tvilling.app.auth import Principal
from tvilling.app.impact import MAX_ALSO, ImpactService
from tvilling.core.errors import UnavailableError
from tvilling.core.roles import Role

router = APIRouter(prefix="/api/v1", tags=["impact"])
AlsoId = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
ALSO_HELP = (f"Another twin failing at the same time (repeat it, at most {MAX_ALSO}): what if both pumps stop? "
             "Each must exist in the tenant")


def impact_service(request: Request) -> ImpactService:
    svc: ImpactService | None = getattr(request.app.state, "impact", None)
    if svc is None:
        raise UnavailableError("the impact service is not running on this server")
    return svc


@router.get("/twins/{twin_id}/impact", response_model=None, responses=errors(404, 503),
            summary="If this twin stops (with the `also` twins): what else stops or slows, along which relationships, "
                    "at what cost per hour")
async def twin_impact(request: Request, principal: Annotated[Principal, Depends(require(Role.VIEWER))],
                      twin_id: Annotated[str, Path(pattern=ID_PATTERN)],
                      also: Annotated[list[AlsoId] | None, Query(max_length=MAX_ALSO, description=ALSO_HELP)] = None,
                      ) -> Response:
    return Json(await run_in_threadpool(impact_service(request).impact, principal.tenant, twin_id, also or ()))


@router.get("/impact/risks", response_model=None, responses=errors(404, 503),
            summary="Twins with a live RUL estimate ranked by expected cost: P(failure) x cost per hour x repair hours")
async def risks(request: Request, principal: Annotated[Principal, Depends(require(Role.VIEWER))],
                limit: Annotated[int, Query(ge=1, le=500)] = 50) -> Response:
    return Json(await run_in_threadpool(impact_service(request).risks, principal.tenant, limit))
