"""/api/v1/event-routes: outbound webhooks — the tenant's events pushed to an outside receiver (a CMMS) as signed
CloudEvents, with a delivery log and dead letters.

Viewers read routes and their delivery logs; operators pause and resume (PATCH ``enabled``), test and redeliver;
engineers create, change, delete and rotate secrets (a route sends the tenant's data out of the platform). The
signing secret is in the answer of a create or a rotation only. A URL whose host is not in the server's
``webhook_allowed_hosts`` is refused. Other tenants' routes answer 404. docs/integrations.md.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from tvilling.api.deps import require, services
from tvilling.api.errors import errors
from tvilling.api.responses import Json, page
from tvilling.app import paging
from tvilling.app.auth import Principal
from tvilling.app.event_delivery import ping_route
from tvilling.app.event_routes import EventRouteService, event_route_service
from tvilling.core.errors import ValidationError
from tvilling.core.roles import Role

router = APIRouter(prefix="/api/v1/event-routes", tags=["event routes"])
RouteId = Annotated[str, Path(pattern=r"^rt-[0-9a-f]{16}$", description="The route's id (rt- and 16 hex digits)")]
DeliveryId = Annotated[int, Path(ge=1, le=2**62, description="The delivery's id, from the delivery log")]
Items = list[Annotated[str, Field(min_length=1, max_length=512)]]


class RouteFilter(BaseModel):
    """Which events: kinds as prefixes (``workorder`` matches ``workorder.created``), twins by id, models by the
    twin's model or a model it extends. Omitted or empty = no restriction."""

    model_config = ConfigDict(extra="forbid")
    kinds: Items | None = Field(default=None, max_length=100, examples=[["workorder", "alarm", "insight.rul"]])
    twins: Items | None = Field(default=None, max_length=1000)
    models: Items | None = Field(default=None, max_length=1000)


class NewRoute(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200, description="Unique within the tenant")
    url: str = Field(min_length=1, max_length=2000, description="http(s) URL on an allowed host",
                     examples=["http://127.0.0.1:9000/hooks/tvilling"])
    filter: RouteFilter = Field(default_factory=RouteFilter)
    enabled: bool = True
    start: Literal["now", "beginning"] = Field(default="now", description="now: events from now on; beginning: "
                                                                          "replay the whole event log first")


class RouteChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1, max_length=200)
    url: str | None = Field(default=None, min_length=1, max_length=2000)
    filter: RouteFilter | None = None
    enabled: bool | None = Field(default=None, description="false pauses the route, true resumes it")


def _service(request: Request) -> EventRouteService:
    return event_route_service(request.app.state, services(request))


@router.post("", status_code=201, response_model=None, responses=errors(409),
             summary="Create a route (engineer); the answer carries its signing secret, shown only now")
async def create_route(request: Request, body: NewRoute,
                       principal: Annotated[Principal, Depends(require(Role.ENGINEER))]) -> Response:
    view, secret = await run_in_threadpool(lambda: _service(request).create(
        principal.tenant, name=body.name, url=body.url, filter=body.filter.model_dump(), enabled=body.enabled,
        start=body.start, role=principal.role, actor=principal.actor))
    return Json({**view, "secret": secret}, status_code=201,
                headers={"Location": f"/api/v1/event-routes/{view['id']}"})


@router.get("", response_model=None, responses=errors(),
            summary="The tenant's routes with their delivery status (last success, last error, backlog)")
async def list_routes(request: Request, principal: Annotated[Principal, Depends(require(Role.VIEWER))]) -> Response:
    return Json({"value": await run_in_threadpool(_service(request).list, principal.tenant)})


@router.get("/{route_id}", response_model=None, responses=errors(404),
            summary="One route with its delivery status")
async def get_route(request: Request, route_id: RouteId,
                    principal: Annotated[Principal, Depends(require(Role.VIEWER))]) -> Response:
    return Json(await run_in_threadpool(_service(request).get, principal.tenant, route_id))


@router.patch("/{route_id}", response_model=None, responses=errors(404, 409),
              summary="Pause or resume (enabled; operator), or change name, URL or filter (engineer)")
async def change_route(request: Request, route_id: RouteId, body: RouteChange,
                       principal: Annotated[Principal, Depends(require(Role.OPERATOR))]) -> Response:
    changes: dict[str, Any] = body.model_dump(exclude_unset=True)
    for key in ("name", "url", "enabled"):
        if key in changes and changes[key] is None:
            raise ValidationError(f"{key} cannot be null", where=key, hint="leave it out to keep it")
    if "filter" in changes and changes["filter"] is None:
        changes["filter"] = {}
    return Json(await run_in_threadpool(lambda: _service(request).update(
        principal.tenant, route_id, changes, role=principal.role, actor=principal.actor)))


@router.delete("/{route_id}", status_code=204, response_model=None, responses=errors(404),
               summary="Delete a route and its delivery log (engineer)")
async def delete_route(request: Request, route_id: RouteId,
                       principal: Annotated[Principal, Depends(require(Role.ENGINEER))]) -> Response:
    await run_in_threadpool(lambda: _service(request).delete(principal.tenant, route_id, role=principal.role,
                                                             actor=principal.actor))
    return Response(status_code=204)


@router.post("/{route_id}/rotate-secret", response_model=None, responses=errors(404),
             summary="A new signing secret (engineer), shown only now; the old one stops signing at once")
async def rotate_secret(request: Request, route_id: RouteId,
                        principal: Annotated[Principal, Depends(require(Role.ENGINEER))]) -> Response:
    view, secret = await run_in_threadpool(lambda: _service(request).rotate_secret(
        principal.tenant, route_id, role=principal.role, actor=principal.actor))
    return Json({**view, "secret": secret})


@router.post("/{route_id}/test", response_model=None, responses=errors(404),
             summary="Send a signed ping event (type io.tvilling.ping) now: the receiver's status code and latency")
async def test_route(request: Request, route_id: RouteId,
                     principal: Annotated[Principal, Depends(require(Role.OPERATOR))]) -> Response:
    return Json(await ping_route(_service(request), principal.tenant, route_id, role=principal.role))


@router.get("/{route_id}/deliveries", response_model=None, responses=errors(404),
            summary="The route's delivery log, newest first: event, attempts, status code or error, times")
async def list_deliveries(request: Request, route_id: RouteId,
                          principal: Annotated[Principal, Depends(require(Role.VIEWER))],
                          status: Annotated[Literal["pending", "delivered", "dead", "queued"] | None,
                                            Query(description="only deliveries in this state")] = None,
                          maxItemsPerPage: Annotated[int | None, Query(ge=1)] = None,
                          continuationToken: Annotated[str | None, Query(pattern=paging.TOKEN_PATTERN)] = None
                          ) -> Response:
    s = request.app.state.settings
    limit = paging.clamp(maxItemsPerPage, s.default_page_size, s.max_page_size)
    before = paging.decode_int(continuationToken)
    items = await run_in_threadpool(lambda: _service(request).deliveries(principal.tenant, route_id, status=status,
                                                                         before=before, limit=limit))
    return page([d.as_dict() for d in items], paging.encode(items[-1].id) if len(items) == limit else None)


@router.post("/{route_id}/deliveries/{delivery_id}/redeliver", status_code=202, response_model=None,
             responses=errors(404, 409),
             summary="Queue a dead-lettered delivery again (operator); the route sends it before its next event")
async def redeliver(request: Request, route_id: RouteId, delivery_id: DeliveryId,
                    principal: Annotated[Principal, Depends(require(Role.OPERATOR))]) -> Response:
    queued = await run_in_threadpool(lambda: _service(request).redeliver(
        principal.tenant, route_id, delivery_id, role=principal.role, actor=principal.actor))
    return Json(queued.as_dict(), status_code=202)
