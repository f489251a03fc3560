"""/api/v1/alarms and /api/v1/alarm-rules: alarm instances (viewer reads, operator acknowledges) and the rules.

States: ``active`` (condition present, unacknowledged), ``acknowledged`` (present, acknowledged), ``returned``
(condition gone, still unacknowledged), ``cleared`` (closed). ``?state=open`` is shorthand for the first three.
Everything is scoped to the caller's tenant; another tenant's alarm ids answer 404.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from tvilling.alarms.lifecycle import OPEN_STATES
from tvilling.api.deps import ID_PATTERN, require, services
from tvilling.api.errors import errors
from tvilling.app.alarms import AlarmService, alarm_service
from tvilling.app.auth import Principal
from tvilling.core.roles import Role

router = APIRouter(prefix="/api/v1", tags=["alarms"])
AlarmId = Annotated[str, Path(pattern=ID_PATTERN, description="The alarm's id")]
STATE_HELP = "active, acknowledged, returned, cleared, or open (= the first three); repeatable"


class AckBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    comment: str | None = Field(default=None, max_length=2000, description="Why, or what was done")


def _service(request: Request) -> AlarmService:
    return alarm_service(request.app.state, services(request))


@router.get("/alarms", response_model=None, responses=errors(),
            summary="Alarms of the caller's tenant, newest first, filtered by state, twin and severity")
async def list_alarms(request: Request, principal: Annotated[Principal, Depends(require(Role.VIEWER))],
                      state: Annotated[list[str] | None, Query(max_length=16, description=STATE_HELP)] = None,
                      twin: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
                      severity: Annotated[str | None, Query(max_length=16)] = None,
                      limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> Response:
    states: list[str] | None = None
    if state:
        states = sorted({s for v in state for s in (OPEN_STATES if v == "open" else (v,))})
    items = await run_in_threadpool(_service(request).query, principal.tenant, states=states, twin=twin,
                                    severity=severity, limit=limit)
    return JSONResponse({"value": [a.as_dict() for a in items]})


@router.get("/alarms/{alarm_id}", response_model=None, responses=errors(404),
            summary="One alarm with its transitions (raised, acknowledged, cleared)")
async def get_alarm(request: Request, alarm_id: AlarmId,
                    principal: Annotated[Principal, Depends(require(Role.VIEWER))]) -> Response:
    svc = _service(request)

    def read() -> dict[str, Any]:
        return {**svc.get(principal.tenant, alarm_id).as_dict(),
                "transitions": svc.transitions(principal.tenant, alarm_id)}

    return JSONResponse(await run_in_threadpool(read))


@router.post("/alarms/{alarm_id}/ack", response_model=None, responses=errors(404),
             summary="Acknowledge an alarm (operator and above), with an optional comment")
async def ack_alarm(request: Request, alarm_id: AlarmId,
                    principal: Annotated[Principal, Depends(require(Role.OPERATOR))],
                    body: AckBody | None = None) -> Response:
    comment = body.comment if body is not None else None
    alarm = await run_in_threadpool(lambda: _service(request).acknowledge(
        principal.tenant, alarm_id, role=principal.role, actor=principal.actor, comment=comment))
    return JSONResponse(alarm.as_dict())


@router.get("/alarm-rules", response_model=None, responses=errors(),
            summary="The declarative alarm rules in force for the caller's tenant, with reference problems")
async def list_rules(request: Request, principal: Annotated[Principal, Depends(require(Role.VIEWER))]) -> Response:
    svc = _service(request)
    problems = await run_in_threadpool(svc.targets.check, principal.tenant)
    return JSONResponse({"value": svc.targets.rule_list(principal.tenant), "problems": [p.as_dict() for p in problems]})
