"""/api/v1/maintenance/plan: when should each maintenance task be done so the expected cost is lowest?

``GET`` — the site's live plan: ``planning.yaml``'s tasks and calendar, each twin's latest RUL estimate (viewer).
``POST`` — any planning document (what-if: other costs, another calendar, tasks of your own), planned and returned,
nothing stored (operator: a plan costs up to the solver's time limit of CPU). docs/maintenance-planning.md.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from tvilling.api.deps import require, services
from tvilling.api.errors import errors
from tvilling.app.auth import Principal
from tvilling.app.maintenance_planning import MaintenancePlanner, maintenance_planner
from tvilling.core.roles import Role

router = APIRouter(prefix="/api/v1", tags=["maintenance planning"])
Alternatives = Annotated[int, Query(ge=0, le=10, description="other days to list per task, cheapest first")]
Money = Annotated[float, Field(ge=0, le=1e9)]


class TaskBody(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    id: str | None = Field(default=None, min_length=1, max_length=512, description="default: the asset")
    asset: str | None = Field(default=None, min_length=1, max_length=512, description="the twin the task is on")
    title: str = Field(default="", max_length=500)
    line: str | None = Field(default=None, max_length=200, description="the line the task stops (none: nothing)")
    line_delay_hours: float = Field(default=0.0, ge=0, le=10_000,
                                    description="the line stops this long after the asset (a buffer runs dry)")
    duration_hours: float = Field(gt=0, le=24, description="how long the line stands still")
    crew_hours: float = Field(default=0.0, ge=0, le=1000)
    preventive_cost: Money = 0.0
    failure_cost: Money = Field(default=0.0, description="repair and consequences, lost production excluded")
    failure_downtime_hours: float = Field(default=0.0, ge=0, le=10_000)
    failure: dict[str, Any] = Field(description="{rul_hours: {lower, upper, level}}, {quantiles_hours: [...]}, "
                                                "{weibull: {shape, scale_hours, age_hours}} or {none: true}")
    earliest_day: int | None = Field(default=None, ge=0, le=366)
    latest_day: int | None = Field(default=None, ge=0, le=366)
    life_hours: float | None = Field(default=None, gt=0, le=1e7,
                                     description="a new part's expected life (default: a Weibull curve's mean)")


class PlanBody(BaseModel):
    """A planning document (the form of planning files; docs/maintenance-planning.md)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    version: Literal[1] = 1
    start: str | None = Field(default=None, max_length=64, description="ISO 8601; day 0 starts here (default: now)")
    horizon_days: int = Field(default=90, ge=1, le=366)
    risk_limit: float = Field(default=1.0, gt=0, le=1, description="largest P(failure before maintenance) allowed")
    allow_defer: bool = True
    calendar: dict[str, Any] = Field(default_factory=dict,
                                     description="downtime_cost_per_hour, crew_hours_per_day (a number or "
                                                 "{default, weekday, date}), shutdowns")
    tasks: list[TaskBody] = Field(min_length=1, max_length=500)


def _planner(request: Request) -> MaintenancePlanner:
    return maintenance_planner(request.app.state, services(request))


@router.get("/maintenance/plan", response_model=None, responses=errors(),
            summary="The site's live maintenance plan (planning.yaml and the twins' latest RUL estimates)")
async def get_plan(request: Request, principal: Annotated[Principal, Depends(require(Role.VIEWER))],
                   alternatives: Alternatives = 3) -> Response:
    out = await run_in_threadpool(_planner(request).live_plan, principal.tenant, alternatives=alternatives)
    return JSONResponse(out)


@router.post("/maintenance/plan", response_model=None, responses=errors(),
             summary="Plan a maintenance document (what-if); nothing is stored")
async def post_plan(request: Request, body: PlanBody,
                    principal: Annotated[Principal, Depends(require(Role.OPERATOR))],
                    alternatives: Alternatives = 3) -> Response:
    doc = body.model_dump(exclude_none=True)
    out = await run_in_threadpool(_planner(request).plan_document, doc, alternatives=alternatives)
    return JSONResponse(out)
