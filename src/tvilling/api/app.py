"""The FastAPI application factory. Routers are registered from one list: add yours to ``ROUTERS``."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from fastapi import APIRouter, FastAPI

from tvilling import __version__
from tvilling.api import errors
from tvilling.api.body import BodyLimit
from tvilling.api.deps import group_committer, rate_limiter
from tvilling.api.fastlane import TwinReadFastLane
from tvilling.api.metrics import ApiMetrics, MetricsMiddleware
from tvilling.api.routes import (
    alarms,
    commands,
    detect,
    event_routes,
    events,
    explain,
    fmus,
    guarded,
    health,
    impact,
    insights,
    maintenance,
    ml_models,
    models,
    query,
    relationships,
    rul,
    setpoints,
    telemetry,
    tokens,
    twins,
    work_orders,
)
from tvilling.app.services import Services
from tvilling.settings import Settings

ROUTERS: list[APIRouter] = [
    health.router,
    models.router,
    twins.router,
    relationships.router,
    query.router,
    tokens.router,
    events.router,
    telemetry.router,
    insights.router,
    ml_models.router,
    alarms.router,
    commands.router,
    guarded.router,
    detect.router,
    rul.router,
    work_orders.router,
    maintenance.router,
    fmus.router,
    event_routes.router,
    setpoints.router,
    explain.router,
    impact.router,
]

SECURITY_SCHEME = {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "tvl_<id>_<secret>"}}
PUBLIC_PATHS = {"/health"}


def create_app(services: Services, settings: Settings, *, extra_routers: list[APIRouter] | None = None,
               lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]] | None = None) -> FastAPI:
    app = FastAPI(lifespan=lifespan, title="Tvilling", version=__version__, openapi_url="/api/v1/openapi.json",
                  docs_url="/api/v1/docs", redoc_url=None, swagger_ui_oauth2_redirect_url=None,
                  description="Digital twins with Azure Digital Twins semantics. Errors are RFC 9457 "
                              "problem+json. Every route except /health needs 'Authorization: Bearer tvl_…'.")
    app.state.services = services
    app.state.settings = settings
    app.state.metrics = ApiMetrics()
    app.state.limiter = rate_limiter(settings, services.clock)
    app.state.writes = group_committer(settings, services)
    errors.install(app)
    for router in [*ROUTERS, *(extra_routers or [])]:
        app.include_router(router)
    if settings.fast_twin_reads:  # innermost of ours: metrics and the body limit still see its requests
        app.add_middleware(TwinReadFastLane)
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes, max_upload_bytes=settings.max_upload_bytes,
                       upload_paths=(*rul.UPLOAD_PATHS, *fmus.UPLOAD_PATHS))
    _document_security(app)
    return app


def _document_security(app: FastAPI) -> None:
    """Declare bearer auth on every operation except the public ones, in the generated OpenAPI."""
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = original()
        schema.setdefault("components", {}).setdefault("securitySchemes", {}).update(SECURITY_SCHEME)
        for path, item in schema.get("paths", {}).items():
            for operation in item.values():
                if isinstance(operation, dict) and path not in PUBLIC_PATHS:
                    operation["security"] = [{"bearerAuth": []}]
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
