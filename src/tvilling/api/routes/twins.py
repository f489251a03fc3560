"""/api/v1/twins: ADT digital-twin operations.

Roles: viewer reads; operator may PATCH properties of existing twins (operating a plant means setting values,
not changing its structure); engineer creates, replaces and deletes twins.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from tvilling.api.body import JSON_PATCH_SCHEMA, json_body, read_json
from tvilling.api.deps import ID_PATTERN, require, run_write, services
from tvilling.api.errors import errors
from tvilling.api.responses import page, with_etag
from tvilling.api.schemas import TwinDocument, TwinPage
from tvilling.app import paging
from tvilling.app.auth import Principal
from tvilling.core.roles import Role

router = APIRouter(prefix="/api/v1/twins", tags=["twins"])
TwinId = Annotated[str, Path(pattern=ID_PATTERN, description="The twin's $dtId")]
IfMatch = Annotated[str | None, Header(alias="If-Match", max_length=200)]
TWIN_BODY = json_body({"type": "object", "required": ["$metadata"],
                       "properties": {"$metadata": {"type": "object", "required": ["$model"],
                                                    "properties": {"$model": {"type": "string"}}}},
                       "additionalProperties": True})


@router.get("", response_model=None, responses={200: {"model": TwinPage}, **errors()},
            summary="List twins, optionally of one model (and models extending it)")
def list_twins(request: Request, principal: Annotated[Principal, Depends(require(Role.VIEWER))],
               model: Annotated[str | None, Query(max_length=512)] = None,
               maxItemsPerPage: Annotated[int | None, Query(ge=1)] = None,
               continuationToken: Annotated[str | None, Query(pattern=paging.TOKEN_PATTERN)] = None) -> Response:
    svc = services(request)
    settings = request.app.state.settings
    limit = paging.clamp(maxItemsPerPage, settings.default_page_size, settings.max_page_size)
    items, last = svc.twins.list(principal.tenant, model_id=model, after=paging.decode_str(continuationToken),
                                 limit=limit)
    return page(items, paging.encode(last) if last is not None else None)


@router.get("/{twin_id}", response_model=None, responses={200: {"model": TwinDocument}, **errors(404)},
            summary="Get a twin")
async def get_twin(request: Request, twin_id: TwinId,
                   principal: Annotated[Principal, Depends(require(Role.VIEWER))]) -> Response:
    svc = services(request)
    if svc.store.inline_point_reads:
        return with_etag(svc.twins.get(principal.tenant, twin_id))
    return with_etag(await run_in_threadpool(svc.twins.get, principal.tenant, twin_id))


@router.put("/{twin_id}", response_model=None, openapi_extra=TWIN_BODY,
            responses={200: {"model": TwinDocument, "description": "Replaced"},
                       201: {"model": TwinDocument, "description": "Created"}, **errors(412)},
            summary="Create or replace a twin (If-None-Match: * to create only; If-Match to replace a version)")
async def put_twin(request: Request, twin_id: TwinId,
                   principal: Annotated[Principal, Depends(require(Role.ENGINEER))], if_match: IfMatch = None,
                   if_none_match: Annotated[str | None, Header(alias="If-None-Match", max_length=200)] = None
                   ) -> Response:
    body = await read_json(request)
    doc, created = await run_write(request, services(request).twins.put_op(
        principal.tenant, twin_id, body, principal.context(), if_match=if_match, if_none_match=if_none_match))
    return with_etag(doc, 201 if created else 200)


@router.patch("/{twin_id}", response_model=None,
              openapi_extra=json_body(JSON_PATCH_SCHEMA, media_types=("application/json-patch+json",
                                                                      "application/json")),
              responses={200: {"model": TwinDocument}, **errors(404, 412)},
              summary="Update a twin with a JSON Patch (RFC 6902), validated against its model")
async def patch_twin(request: Request, twin_id: TwinId,
                     principal: Annotated[Principal, Depends(require(Role.OPERATOR))],
                     if_match: IfMatch = None) -> Response:
    body = await read_json(request)
    doc = await run_write(request, services(request).twins.patch_op(principal.tenant, twin_id, body,
                                                                    principal.context(), if_match=if_match))
    return with_etag(doc)


@router.delete("/{twin_id}", status_code=204, response_model=None, responses=errors(404, 409, 412),
               summary="Delete a twin (refused while it has relationships)")
def delete_twin(request: Request, twin_id: TwinId, principal: Annotated[Principal, Depends(require(Role.ENGINEER))],
                if_match: IfMatch = None) -> Response:
    services(request).twins.delete(principal.tenant, twin_id, principal.context(), if_match=if_match)
    return Response(status_code=204)
