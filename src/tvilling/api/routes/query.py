"""POST /api/v1/query: the ADT query language over the caller's tenant."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from tvilling.api.deps import clean_json, require, services
from tvilling.api.errors import errors
from tvilling.api.responses import Json
from tvilling.api.schemas import QueryRequest, QueryResponse
from tvilling.app import paging
from tvilling.app.auth import Principal
from tvilling.core.roles import Role

router = APIRouter(prefix="/api/v1", tags=["query"])


@router.post("/query", response_model=None, responses={200: {"model": QueryResponse}, **errors(400, 501)},
             summary="Run a query (SELECT … FROM DIGITALTWINS …), paged by continuationToken")
def run_query(request: Request, body: QueryRequest,
              principal: Annotated[Principal, Depends(require(Role.VIEWER))]) -> Response:
    clean_json(body.query, "query")
    s = request.app.state.settings
    result = services(request).query.run(principal.tenant, body.query,
                                         page_size=paging.clamp(body.maxItemsPerPage, s.default_page_size,
                                                                s.max_page_size),
                                         continuation=body.continuationToken)
    return Json({"value": result.items, "continuationToken": result.continuation})
