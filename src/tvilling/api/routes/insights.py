"""/api/v1/insights and /api/v1/twins/{id}/insights: what the live predictive layer concluded (viewer role).

Insights are events (``insight.anomaly``, ``insight.cleared``, ``insight.rul``), newest first, scoped to the
caller's tenant. The per-twin form also returns the monitor's live state (current score, open alert, latest RUL)
when the twin is monitored.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from tvilling.api.deps import ID_PATTERN, require, services
from tvilling.api.errors import errors
from tvilling.app.auth import Principal
from tvilling.app.monitoring import list_insights
from tvilling.core.roles import Role

router = APIRouter(prefix="/api/v1", tags=["insights"])
Kind = Annotated[str | None, Query(max_length=64, description="anomaly, cleared or rul (default: all)")]
Limit = Annotated[int, Query(ge=1, le=1000)]


@router.get("/insights", response_model=None, responses=errors(),
            summary="Insights of the predictive layer (anomaly alerts, RUL), newest first")
async def get_insights(request: Request, principal: Annotated[Principal, Depends(require(Role.VIEWER))],
                       twin: Annotated[str | None, Query(pattern=ID_PATTERN)] = None, kind: Kind = None,
                       limit: Limit = 100) -> Response:
    items = await run_in_threadpool(list_insights, services(request), principal.tenant, twin=twin, kind=kind,
                                    limit=limit)
    return JSONResponse({"value": items})


@router.get("/twins/{twin_id}/insights", response_model=None, responses=errors(404),
            summary="One twin's insights and its monitor's live state")
async def get_twin_insights(request: Request, twin_id: Annotated[str, Path(pattern=ID_PATTERN)],
                            principal: Annotated[Principal, Depends(require(Role.VIEWER))], kind: Kind = None,
                            limit: Limit = 100) -> Response:
    svc = services(request)
    await run_in_threadpool(svc.twins.get, principal.tenant, twin_id)  # 404 for unknown / other tenants' twins
    items = await run_in_threadpool(list_insights, svc, principal.tenant, twin=twin_id, kind=kind, limit=limit)
    monitoring: Any = getattr(request.app.state, "monitoring", None)
    live = monitoring.snapshot(principal.tenant, twin_id) if monitoring is not None else None
    return JSONResponse({"twin": twin_id, "monitor": live, "value": items})
