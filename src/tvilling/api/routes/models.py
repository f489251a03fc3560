"""/api/v1/models: DTDL model upload, list, get, decommission, delete. Viewer reads; engineer changes."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from tvilling.api.body import json_body, read_json
from tvilling.api.deps import require, services
from tvilling.api.errors import errors
from tvilling.api.responses import Json, page
from tvilling.api.schemas import ModelData, ModelPage
from tvilling.app import paging
from tvilling.app.auth import Principal
from tvilling.core.errors import ValidationError
from tvilling.core.roles import Role

router = APIRouter(prefix="/api/v1/models", tags=["models"])
ModelId = Annotated[str, Path(pattern=r"^dtmi:[A-Za-z0-9_:;]{1,500}$", description="The model's DTMI")]
UPLOAD_BODY = json_body({"type": "array", "minItems": 1, "items": {"type": "object"}})
DECOMMISSION_BODY = json_body({
    "type": "array", "minItems": 1,
    "items": {"type": "object", "required": ["op", "path", "value"],
              "properties": {"op": {"type": "string", "enum": ["replace", "add"]},
                             "path": {"type": "string", "enum": ["/decommissioned"]},
                             "value": {"type": "boolean"}}}})


@router.get("", response_model=None, responses={200: {"model": ModelPage}, **errors(404)},
            summary="List models (optionally only those a set of models depends on)")
def list_models(request: Request, principal: Annotated[Principal, Depends(require(Role.VIEWER))],
                dependenciesFor: Annotated[list[str] | None, Query(max_length=100)] = None,
                includeModelDefinition: bool = False, maxItemsPerPage: Annotated[int | None, Query(ge=1)] = None,
                continuationToken: Annotated[str | None, Query(pattern=paging.TOKEN_PATTERN)] = None) -> Response:
    s = request.app.state.settings
    items, last = services(request).models.list(
        principal.tenant, dependencies_for=dependenciesFor, include_definition=includeModelDefinition,
        after=paging.decode_str(continuationToken), limit=paging.clamp(maxItemsPerPage, s.default_page_size,
                                                                        s.max_page_size))
    return page(items, paging.encode(last) if last is not None else None)


@router.post("", status_code=201, response_model=None, openapi_extra=UPLOAD_BODY,
             responses={201: {"model": list[ModelData], "description": "Uploaded"}, **errors(409)},
             summary="Upload DTDL interfaces (validated together with the tenant's existing models)")
async def upload_models(request: Request, principal: Annotated[Principal, Depends(require(Role.ENGINEER))]
                        ) -> Response:
    body = await read_json(request)
    if not isinstance(body, list):
        raise ValidationError("the body must be a JSON array of DTDL interfaces", where="body",
                              hint="wrap a single interface in [ ]")
    created = await run_in_threadpool(services(request).models.upload, principal.tenant, body, principal.context())
    return Json(created, status_code=201)


@router.get("/{model_id}", response_model=None, responses={200: {"model": ModelData}, **errors(404)},
            summary="Get a model")
def get_model(request: Request, model_id: ModelId, principal: Annotated[Principal, Depends(require(Role.VIEWER))],
              includeModelDefinition: bool = True) -> Response:
    return Json(services(request).models.get(principal.tenant, model_id, include_definition=includeModelDefinition))


@router.patch("/{model_id}", status_code=204, response_model=None, openapi_extra=DECOMMISSION_BODY,
              responses=errors(404), summary='Decommission: [{"op": "replace", "path": "/decommissioned", '
                                             '"value": true}]')
async def patch_model(request: Request, model_id: ModelId,
                      principal: Annotated[Principal, Depends(require(Role.ENGINEER))]) -> Response:
    body: Any = await read_json(request)
    ops = body if isinstance(body, list) else None
    if not ops or not all(isinstance(op, dict) and op.get("op") in ("replace", "add")
                          and op.get("path") == "/decommissioned" and isinstance(op.get("value"), bool)
                          for op in ops):
        raise ValidationError("only the decommissioned flag can be changed", where="body",
                              hint='send [{"op": "replace", "path": "/decommissioned", "value": true}]')
    await run_in_threadpool(services(request).models.set_decommissioned, principal.tenant, model_id,
                            bool(ops[-1]["value"]), principal.context())
    return Response(status_code=204)


@router.delete("/{model_id}", status_code=204, response_model=None, responses=errors(404, 409),
               summary="Delete a model (refused while twins or other models use it)")
def delete_model(request: Request, model_id: ModelId,
                 principal: Annotated[Principal, Depends(require(Role.ENGINEER))]) -> Response:
    services(request).models.delete(principal.tenant, model_id, principal.context())
    return Response(status_code=204)
