"""/api/v1/work-orders and /api/v1/work-order-policy: maintenance work orders (viewer reads, operator acts).

States: ``proposed`` (waits for approval), ``open`` (released to maintenance), ``done``, ``rejected``,
``cancelled``. ``?state=live`` is shorthand for the first two. Rules in ``maintenance.yaml`` create them from
predictive insights (docs/work-orders.md); people create them here too. Everything is scoped to the caller's
tenant; another tenant's ids answer 404.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from tvilling.api.deps import ID_PATTERN, require, services
from tvilling.api.errors import errors
from tvilling.app.auth import Principal
from tvilling.app.work_orders import WorkOrderService, work_order_service
from tvilling.core.roles import Role
from tvilling.policy.work_orders import LIVE_STATES

router = APIRouter(prefix="/api/v1", tags=["work orders"])
OrderId = Annotated[str, Path(pattern=ID_PATTERN, description="The work order's id")]
STATE_HELP = "proposed, open, done, rejected, cancelled, or live (= proposed and open); repeatable"


class NewWorkOrder(BaseModel):
    model_config = ConfigDict(extra="forbid")
    twinId: str = Field(pattern=ID_PATTERN, max_length=512, description="The twin the work is on")
    title: str = Field(min_length=1, max_length=500, description="What is to be done")
    priority: Literal["low", "medium", "high", "urgent"] = "medium"
    description: str = Field(default="", max_length=5000)
    dueBy: AwareDatetime | None = Field(default=None, description="When it must be done by (with a time zone)")


class ActionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    comment: str | None = Field(default=None, max_length=2000, description="Why, or what was done")


def _service(request: Request) -> WorkOrderService:
    return work_order_service(request.app.state, services(request))


@router.get("/work-orders", response_model=None, responses=errors(),
            summary="Work orders of the caller's tenant, newest first, filtered by state and twin")
async def list_work_orders(request: Request, principal: Annotated[Principal, Depends(require(Role.VIEWER))],
                           state: Annotated[list[str] | None, Query(max_length=16, description=STATE_HELP)] = None,
                           twin: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
                           limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> Response:
    states: list[str] | None = None
    if state:
        states = sorted({s for v in state for s in (LIVE_STATES if v == "live" else (v,))})
    items = await run_in_threadpool(_service(request).list, principal.tenant, states=states, twin=twin, limit=limit)
    return JSONResponse({"value": [o.as_dict() for o in items]})


@router.post("/work-orders", status_code=201, response_model=None, responses=errors(),
             summary="Create a work order by hand (operator and above); it is released at once")
async def create_work_order(request: Request, body: NewWorkOrder,
                            principal: Annotated[Principal, Depends(require(Role.OPERATOR))]) -> Response:
    due: datetime | None = body.dueBy
    order = await run_in_threadpool(lambda: _service(request).create(
        principal.tenant, body.twinId, body.title, role=principal.role, actor=principal.actor,
        priority=body.priority, description=body.description, due=due))
    return JSONResponse(order.as_dict(), status_code=201)


@router.get("/work-orders/{order_id}", response_model=None, responses=errors(404),
            summary="One work order with its evidence and transitions (created, approved, completed, ...)")
async def get_work_order(request: Request, order_id: OrderId,
                         principal: Annotated[Principal, Depends(require(Role.VIEWER))]) -> Response:
    svc = _service(request)

    def read() -> dict[str, Any]:
        return {**svc.get(principal.tenant, order_id).as_dict(),
                "transitions": svc.transitions(principal.tenant, order_id)}

    return JSONResponse(await run_in_threadpool(read))


@router.post("/work-orders/{order_id}/{action}", response_model=None, responses=errors(404, 409),
             summary="approve or reject a proposed work order; complete an open one; cancel a live one (operator)")
async def act_on_work_order(request: Request, order_id: OrderId,
                            action: Annotated[Literal["approve", "reject", "complete", "cancel"], Path()],
                            principal: Annotated[Principal, Depends(require(Role.OPERATOR))],
                            body: ActionBody | None = None) -> Response:
    comment = body.comment if body is not None else None
    order = await run_in_threadpool(lambda: _service(request).act(
        principal.tenant, order_id, action, role=principal.role, actor=principal.actor, comment=comment))
    return JSONResponse(order.as_dict())


@router.get("/work-order-policy", response_model=None, responses=errors(),
            summary="The work-order rules and guardrails in force, with this server's counters")
async def get_policy(request: Request, principal: Annotated[Principal, Depends(require(Role.VIEWER))]) -> Response:
    return JSONResponse(await run_in_threadpool(_service(request).policy_view, principal.tenant))


class ModeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mode: Literal["off", "approve", "auto"] = Field(description="off: the kill switch; approve: every rule proposes")
    comment: str | None = Field(default=None, max_length=2000, description="Why")


@router.put("/work-order-policy/mode", response_model=None, responses=errors(),
            summary="Cap the work-order mode for the tenant (off = kill switch): operators lower, engineers raise")
async def set_mode(request: Request, body: ModeBody,
                   principal: Annotated[Principal, Depends(require(Role.OPERATOR))]) -> Response:
    view = await run_in_threadpool(lambda: _service(request).set_mode(
        principal.tenant, body.mode, role=principal.role, actor=principal.actor, comment=body.comment))
    return JSONResponse(view)
