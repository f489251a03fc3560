"""/api/v1/tokens: API token administration within the caller's tenant (admin only). Secrets are shown once."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from starlette.responses import Response

from tvilling.api.deps import require, services
from tvilling.api.errors import errors
from tvilling.api.responses import Json
from tvilling.api.schemas import IssuedTokenOut, TokenCreate, TokenInfo
from tvilling.app.auth import Principal, parse_role
from tvilling.core.roles import Role
from tvilling.ports.documents import iso

router = APIRouter(prefix="/api/v1/tokens", tags=["tokens"])


@router.get("", response_model=None, responses={200: {"model": list[TokenInfo]}, **errors()},
            summary="List the tenant's tokens (never their secrets)")
def list_tokens(request: Request, principal: Annotated[Principal, Depends(require(Role.ADMIN))]) -> Response:
    return Json([{"id": t.id, "tenant": t.tenant, "role": t.role, "name": t.name, "created_at": iso(t.created_at),
                  "revoked": t.revoked_at is not None} for t in services(request).tokens.list(principal.tenant)])


@router.post("", status_code=201, response_model=None, responses={201: {"model": IssuedTokenOut}, **errors()},
             summary="Create a token in the caller's tenant; the token is shown only in this response")
def create_token(request: Request, body: TokenCreate,
                 principal: Annotated[Principal, Depends(require(Role.ADMIN))]) -> Response:
    issued = services(request).tokens.create(principal.tenant, parse_role(body.role), body.name)
    return Json({"token": issued.token, "id": issued.id, "tenant": issued.tenant, "role": issued.role.value,
                 "name": issued.name}, status_code=201, headers={"Cache-Control": "no-store"})


@router.delete("/{token_id}", status_code=204, response_model=None, responses=errors(404),
               summary="Revoke a token (effective within the token cache TTL, 10 s by default)")
def revoke_token(request: Request, token_id: Annotated[str, Path(pattern=r"^[0-9a-f]{16}$")],
                 principal: Annotated[Principal, Depends(require(Role.ADMIN))]) -> Response:
    services(request).tokens.revoke(principal.tenant, token_id)
    return Response(status_code=204)
