"""/api/v1/insights and /api/v1/twins/{id}/insights: what the live predictive layer concluded (viewer role).

Insights are events (``insight.anomaly``, ``insight.cleared``, ``insight.rul``), newest first, scoped to the
caller's tenant. The per-twin form also returns the monitor's live state (current score, open alert, latest RUL)
when the twin is monitored, and its physics coupling's (``/twins/{id}/physics`` gives that alone, with the
coupling's configuration).
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
    return JSONResponse({"twin": twin_id, "monitor": live, "physics": _physics(request, principal.tenant, twin_id),
                         "value": items})


@router.get("/twins/{twin_id}/physics", response_model=None, responses=errors(404),
            summary="One twin's coupled physics model: configuration and live state (expected vs measured)")
async def get_twin_physics(request: Request, twin_id: Annotated[str, Path(pattern=ID_PATTERN)],
                           principal: Annotated[Principal, Depends(require(Role.VIEWER))]) -> Response:
    svc = services(request)
    await run_in_threadpool(svc.twins.get, principal.tenant, twin_id)  # 404 for unknown / other tenants' twins
    physics: Any = getattr(request.app.state, "physics", None)
    spec = await run_in_threadpool(physics.coupled_model, principal.tenant, twin_id) if physics is not None else None
    if spec is None:
        return JSONResponse({"twin": twin_id, "coupled": False, "coupling": None, "live": None})
    coupling = {"fmu": spec.fmu, "step": spec.step, "values": spec.values, "referenceHours": spec.reference_hours,
                "quietHours": spec.quiet_hours,
                "inputs": {k: vars(m) for k, m in spec.inputs.items()},
                "outputs": {k: vars(m) for k, m in spec.outputs.items()},
                "start": {k: vars(m) for k, m in spec.start.items()}}
    return JSONResponse({"twin": twin_id, "coupled": True, "coupling": coupling,
                         "live": _physics(request, principal.tenant, twin_id)})


def _physics(request: Request, tenant: str, twin_id: str) -> dict[str, Any] | None:
    """The live state of the twin's physics coupling, if one is running."""
    physics: Any = getattr(request.app.state, "physics", None)
    return physics.snapshot(tenant, twin_id) if physics is not None else None
