"""/health (public, no details beyond ok/degraded) and /metrics (Prometheus text; viewer token required unless
TVILLING_METRICS_PUBLIC=true)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from tvilling import __version__
from tvilling.api.deps import limit_address, require, services
from tvilling.api.errors import errors, problem_doc
from tvilling.api.responses import Json
from tvilling.api.schemas import Health
from tvilling.core.roles import Role

router = APIRouter(tags=["operations"])


@router.get("/health", response_model=None,
            responses={200: {"model": Health}, 503: {"model": Health, "description": "Degraded"},
                       429: problem_doc("Too many requests from this address; retry after Retry-After")},
            summary="Liveness and database reachability (public)")
async def health(request: Request) -> Response:
    limit_address(request)  # public, so limited per client address instead of per token (G7)
    svc = services(request)
    ok = await run_in_threadpool(svc.store.ping)
    body = {"status": "ok" if ok else "degraded", "database": "ok" if ok else "unreachable",
            "version": __version__, "schema_revision": svc.info.get("schema_revision")}
    return Json(body, status_code=200 if ok else 503, headers={} if ok else {"Retry-After": "5"})


@router.get("/metrics", response_model=None,
            responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "Metrics"},
                       401: problem_doc("No valid bearer token"), 403: problem_doc("Role too low"),
                       **{k: v for k, v in errors().items() if k not in (401, 403)}},
            summary="Prometheus metrics")
async def metrics(request: Request) -> Response:
    if not request.app.state.settings.metrics_public:
        await require(Role.VIEWER)(request)
    registry = request.app.state.metrics.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
