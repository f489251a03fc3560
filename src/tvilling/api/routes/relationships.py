"""/api/v1/twins/{id}/relationships and /incomingrelationships. Viewer reads; engineer changes the graph."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from starlette.responses import Response

from tvilling.api.body import JSON_PATCH_SCHEMA, json_body, read_json
from tvilling.api.deps import ID_PATTERN, require, run_write, services
from tvilling.api.errors import errors
from tvilling.api.responses import page, with_etag
from tvilling.api.schemas import IncomingPage, RelationshipDocument, RelationshipPage
from tvilling.app import paging
from tvilling.app.auth import Principal
from tvilling.core.errors import ValidationError
from tvilling.core.roles import Role

router = APIRouter(prefix="/api/v1/twins", tags=["relationships"])
TwinId = Annotated[str, Path(pattern=ID_PATTERN, description="The source twin's $dtId")]
RelId = Annotated[str, Path(pattern=ID_PATTERN, description="The relationship id (unique per source twin)")]
IfMatch = Annotated[str | None, Header(alias="If-Match", max_length=200)]
MaxItems = Annotated[int | None, Query(ge=1)]
Continuation = Annotated[str | None, Query(pattern=paging.TOKEN_PATTERN)]
REL_BODY = json_body({"type": "object", "required": ["$targetId", "$relationshipName"],
                      "properties": {"$targetId": {"type": "string"}, "$relationshipName": {"type": "string"}},
                      "additionalProperties": True})


def _limit(request: Request, requested: int | None) -> int:
    s = request.app.state.settings
    return paging.clamp(requested, s.default_page_size, s.max_page_size)


@router.get("/{twin_id}/relationships", response_model=None,
            responses={200: {"model": RelationshipPage}, **errors(404)}, summary="List a twin's outgoing relationships")
def list_outgoing(request: Request, twin_id: TwinId, principal: Annotated[Principal, Depends(require(Role.VIEWER))],
                  relationshipName: Annotated[str | None, Query(max_length=512)] = None,
                  maxItemsPerPage: MaxItems = None, continuationToken: Continuation = None) -> Response:
    items, last = services(request).relationships.list_outgoing(
        principal.tenant, twin_id, name=relationshipName, after=paging.decode_str(continuationToken),
        limit=_limit(request, maxItemsPerPage))
    return page(items, paging.encode(last) if last is not None else None)


@router.get("/{twin_id}/incomingrelationships", response_model=None,
            responses={200: {"model": IncomingPage}, **errors(404)}, summary="List relationships pointing at a twin")
def list_incoming(request: Request, twin_id: TwinId, principal: Annotated[Principal, Depends(require(Role.VIEWER))],
                  maxItemsPerPage: MaxItems = None, continuationToken: Continuation = None) -> Response:
    after = paging.decode(continuationToken)
    if after is not None and not (isinstance(after, list) and len(after) == 2
                                  and all(isinstance(x, str) for x in after)):
        raise ValidationError("the continuation token is not valid", where="continuationToken",
                              hint="pass back the continuationToken from the previous page unchanged")
    items, last = services(request).relationships.list_incoming(
        principal.tenant, twin_id, after=(after[0], after[1]) if after else None,
        limit=_limit(request, maxItemsPerPage))
    return page(items, paging.encode(last) if last is not None else None)


@router.get("/{twin_id}/relationships/{rel_id}", response_model=None,
            responses={200: {"model": RelationshipDocument}, **errors(404)}, summary="Get a relationship")
def get_relationship(request: Request, twin_id: TwinId, rel_id: RelId,
                     principal: Annotated[Principal, Depends(require(Role.VIEWER))]) -> Response:
    return with_etag(services(request).relationships.get(principal.tenant, twin_id, rel_id))


@router.put("/{twin_id}/relationships/{rel_id}", response_model=None, openapi_extra=REL_BODY,
            responses={200: {"model": RelationshipDocument, "description": "Replaced"},
                       201: {"model": RelationshipDocument, "description": "Created"}, **errors(404, 412)},
            summary="Create or replace a relationship, validated against the source twin's model")
async def put_relationship(request: Request, twin_id: TwinId, rel_id: RelId,
                           principal: Annotated[Principal, Depends(require(Role.ENGINEER))],
                           if_match: IfMatch = None,
                           if_none_match: Annotated[str | None, Header(alias="If-None-Match", max_length=200)] = None
                           ) -> Response:
    body = await read_json(request)
    doc, created = await run_write(request, services(request).relationships.put_op(
        principal.tenant, twin_id, rel_id, body, principal.context(), if_match=if_match,
        if_none_match=if_none_match))
    return with_etag(doc, 201 if created else 200)


@router.patch("/{twin_id}/relationships/{rel_id}", response_model=None,
              openapi_extra=json_body(JSON_PATCH_SCHEMA, media_types=("application/json-patch+json",
                                                                      "application/json")),
              responses={200: {"model": RelationshipDocument}, **errors(404, 412)},
              summary="Update a relationship's properties with a JSON Patch")
async def patch_relationship(request: Request, twin_id: TwinId, rel_id: RelId,
                             principal: Annotated[Principal, Depends(require(Role.ENGINEER))],
                             if_match: IfMatch = None) -> Response:
    body = await read_json(request)
    doc = await run_write(request, services(request).relationships.patch_op(
        principal.tenant, twin_id, rel_id, body, principal.context(), if_match=if_match))
    return with_etag(doc)


@router.delete("/{twin_id}/relationships/{rel_id}", status_code=204, response_model=None,
               responses=errors(404, 412), summary="Delete a relationship")
def delete_relationship(request: Request, twin_id: TwinId, rel_id: RelId,
                        principal: Annotated[Principal, Depends(require(Role.ENGINEER))],
                        if_match: IfMatch = None) -> Response:
    services(request).relationships.delete(principal.tenant, twin_id, rel_id, principal.context(), if_match=if_match)
    return Response(status_code=204)
