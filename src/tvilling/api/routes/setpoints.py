"""/api/v1/setpoint-loops: the zone setpoint loops of setpoints.yaml, their proposals, and their autonomy.

Reading needs the viewer role; disabling a loop's autonomy, operator (anyone who may stop commands may stop a
loop); enabling it, engineer (as releasing a kill switch). A loop in ``recommend`` or ``approve`` mode has no
autonomy to enable (409).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from tvilling.api.deps import require
from tvilling.api.errors import errors
from tvilling.api.responses import Json
from tvilling.app.auth import Principal
from tvilling.app.setpoint_loops import SetpointLoopService
from tvilling.core.errors import UnavailableError, ValidationError
from tvilling.core.roles import Role

router = APIRouter(prefix="/api/v1/setpoint-loops", tags=["setpoint loops"])
Name = Annotated[str, Path(min_length=1, max_length=100, description="the loop's name in setpoints.yaml")]


def setpoints(request: Request) -> SetpointLoopService:
    svc: SetpointLoopService | None = getattr(request.app.state, "setpoints", None)
    if svc is None:
        raise UnavailableError("the setpoint loop service is not running on this server")
    return svc


class ReasonBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(default="", max_length=1000)


@router.get("", response_model=None, responses=errors(), summary="The setpoint loops, their autonomy and last proposal")
async def list_loops(request: Request, principal: Annotated[Principal, Depends(require(Role.VIEWER))]) -> Response:
    items = await run_in_threadpool(setpoints(request).list_loops, principal.tenant)
    return Json({"value": items})


@router.get("/{name}", response_model=None, responses=errors(404), summary="One setpoint loop")
async def get_loop(request: Request, name: Name,
                   principal: Annotated[Principal, Depends(require(Role.VIEWER))]) -> Response:
    return Json(await run_in_threadpool(setpoints(request).describe, principal.tenant, name))


@router.get("/{name}/proposals", response_model=None, responses=errors(404, 422),
            summary="A loop's proposals, newest first")
async def proposals(request: Request, name: Name, principal: Annotated[Principal, Depends(require(Role.VIEWER))],
                    limit: Annotated[int, Query(ge=1, le=500)] = 50,
                    before: Annotated[str | None, Query(max_length=100, description=(
                        "the previous page's nextBefore"))] = None) -> Response:
    cursor = _cursor(before)
    items = await run_in_threadpool(lambda: setpoints(request).proposals(principal.tenant, name, limit=limit,
                                                                         before=cursor))
    nxt = f"{items[-1]['createdAt']}|{items[-1]['id']}" if len(items) == limit else None
    return Json({"value": items, "nextBefore": nxt})


def _cursor(before: str | None) -> tuple[datetime, str] | None:
    if before is None:
        return None
    at, sep, pid = before.partition("|")
    parsed: datetime | None
    try:  # in UTC, as stored: SQLite compares the times as text, without their offsets
        parsed = datetime.fromisoformat(at.replace("Z", "+00:00"))
        parsed = parsed.astimezone(UTC) if parsed.tzinfo is not None else None
    except (ValueError, OverflowError):  # OverflowError: an offset that leaves the calendar (year 1 or 9999)
        parsed = None
    if not sep or not pid or parsed is None:
        raise ValidationError(f"before {before!r} is not a page cursor", where="before",
                              hint="pass the nextBefore of the previous page as it was returned")
    return parsed, pid


@router.post("/{name}/enable", response_model=None, responses=errors(404, 409),
             summary="Enable an auto loop's autonomy (engineer)")
async def enable(request: Request, name: Name,
                 principal: Annotated[Principal, Depends(require(Role.ENGINEER))]) -> Response:
    return Json(await run_in_threadpool(setpoints(request).enable, principal.tenant, name, principal.actor))


@router.post("/{name}/disable", response_model=None, responses=errors(404, 409, 422),
             summary="Disable a loop's autonomy (operator): it goes on proposing, sends nothing")
async def disable(request: Request, name: Name, principal: Annotated[Principal, Depends(require(Role.OPERATOR))],
                  body: ReasonBody | None = None) -> Response:
    reason = body.reason if body is not None else ""
    return Json(await run_in_threadpool(setpoints(request).disable, principal.tenant, name, principal.actor, reason))
