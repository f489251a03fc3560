"""/api/v1/twins/{id}/commands/{name} (send), /api/v1/commands/{id} and /api/v1/twins/{id}/commands (read),
/api/v1/commands/{id}/approve|reject and /api/v1/approvals (guarded commands).

Sending needs the operator role; reading, viewer; approving or rejecting a guarded command, engineer (and never the
requester: two-person rule). The body of a send is the command's request payload (any JSON
value matching the DTDL request schema), or empty for a command without request. ``commandId`` makes the send
idempotent; ``timeout`` (seconds) overrides the mapping's deadline. The answer is 202 with the command and a
``Location``; follow it to see the state move to acked / failed / expired.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from tvilling.api.deps import ID_PATTERN, clean_json, require
from tvilling.api.errors import errors
from tvilling.api.responses import Json, page
from tvilling.app import paging
from tvilling.app.auth import Principal
from tvilling.app.commands import CommandService
from tvilling.core.commands import COMMAND_ID_PATTERN
from tvilling.core.errors import UnavailableError, ValidationError
from tvilling.core.roles import Role

twin_router = APIRouter(prefix="/api/v1/twins", tags=["commands"])
command_router = APIRouter(prefix="/api/v1/commands", tags=["commands"])
approvals_router = APIRouter(prefix="/api/v1/approvals", tags=["commands"])
router = APIRouter()


class ApproveBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    digest: str = Field(pattern=r"^[0-9a-f]{64}$", description="The command's digest, as GET showed it")


class RejectBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(default="", max_length=1000)

TwinId = Annotated[str, Path(pattern=ID_PATTERN, description="The twin's $dtId")]
CommandName = Annotated[str, Path(pattern=r"^[A-Za-z][A-Za-z0-9_:]{0,511}$", description="DTDL command name")]
CommandId = Annotated[str, Path(pattern=COMMAND_ID_PATTERN, description="The command id")]
COMMAND_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["commandId", "twinId", "command", "state", "history"],
    "properties": {"commandId": {"type": "string"}, "twinId": {"type": "string"}, "command": {"type": "string"},
                   "payload": {}, "state": {"type": "string",
                                            "enum": ["pending_approval", "requested", "sent", "acked", "failed",
                                                     "expired", "rejected", "canceled"]},
                   "digest": {"type": "string", "description": "SHA-256 of the request; what an approval binds"},
                   "approvalsRequired": {"type": "integer"}, "approvals": {"type": "array"},
                   "reason": {"type": "string"}, "history": {"type": "array", "items": {"type": "object"}}}}
SEND_BODY = {"requestBody": {"required": False, "description": "The request payload (JSON), or nothing",
                             "content": {"application/json": {"schema": {}}}}}


def commands(request: Request) -> CommandService:
    svc: CommandService | None = getattr(request.app.state, "commands", None)
    if svc is None:
        raise UnavailableError("the command service is not running on this server")
    return svc


async def _payload(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        return None
    try:
        return clean_json(json.loads(raw))
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ValidationError(f"the body is not valid JSON: {exc}", where="body",
                              hint="send the request payload as JSON, or no body") from exc


@twin_router.post("/{twin_id}/commands/{name}", status_code=202, response_model=None, openapi_extra=SEND_BODY,
                  responses={202: {"description": "Accepted; follow Location for the outcome",
                                   "content": {"application/json": {"schema": COMMAND_SCHEMA}}},
                             **errors(404, 409, 422, 503)},
                  summary="Send a DTDL command to the device behind a twin")
async def send_command(request: Request, twin_id: TwinId, name: CommandName,
                       principal: Annotated[Principal, Depends(require(Role.OPERATOR))],
                       commandId: Annotated[str | None, Query(pattern=COMMAND_ID_PATTERN)] = None,
                       timeout: Annotated[float | None, Query(gt=0, le=86_400)] = None) -> Response:
    payload = await _payload(request)
    cmd, created = await commands(request).request(principal.tenant, twin_id, name, payload, principal.context(),
                                                   command_id=commandId, timeout_s=timeout)
    headers = {"Location": f"/api/v1/commands/{cmd.id}"}
    if not created:
        headers["Idempotent-Replayed"] = "true"
    return Json(cmd.as_dict(), status_code=202, headers=headers)


@command_router.get("/{command_id}", response_model=None,
                    responses={200: {"content": {"application/json": {"schema": COMMAND_SCHEMA}}}, **errors(404)},
                    summary="Get a command with its state history")
async def get_command(request: Request, command_id: CommandId,
                      principal: Annotated[Principal, Depends(require(Role.VIEWER))]) -> Response:
    cmd = await run_in_threadpool(commands(request).get, principal.tenant, command_id)
    return Json(cmd.as_dict())


@twin_router.get("/{twin_id}/commands", response_model=None, responses=errors(404),
                 summary="List a twin's commands, newest first")
async def list_commands(request: Request, twin_id: TwinId,
                        principal: Annotated[Principal, Depends(require(Role.VIEWER))],
                        maxItemsPerPage: Annotated[int | None, Query(ge=1)] = None,
                        continuationToken: Annotated[str | None, Query(pattern=paging.TOKEN_PATTERN)] = None
                        ) -> Response:
    s = request.app.state.settings
    limit = paging.clamp(maxItemsPerPage, s.default_page_size, s.max_page_size)
    after = paging.decode(continuationToken)
    position: tuple[datetime, str] | None = None
    if after is not None:
        try:
            position = (datetime.fromisoformat(after[0]), str(after[1]))
        except (TypeError, ValueError, IndexError, KeyError) as exc:
            raise ValidationError("the continuation token is not valid", where="continuationToken",
                                  hint="pass back the continuationToken from the previous page unchanged") from exc
    items = await run_in_threadpool(commands(request).list_for_twin, principal.tenant, twin_id, after=position,
                                    limit=limit)
    token = paging.encode([items[-1].requested_at.isoformat(), items[-1].id]) if len(items) == limit else None
    return page([c.as_dict() for c in items], token)


@command_router.post("/{command_id}/approve", response_model=None,
                     responses={200: {"content": {"application/json": {"schema": COMMAND_SCHEMA}}},
                                **errors(403, 404, 409, 422)},
                     summary="Approve a command that waits for approval (bound to its digest)")
async def approve_command(request: Request, command_id: CommandId, body: ApproveBody,
                          principal: Annotated[Principal, Depends(require(Role.ENGINEER))]) -> Response:
    cmd = await commands(request).approve(principal.tenant, command_id, principal.actor, body.digest)
    return Json(cmd.as_dict())


@command_router.post("/{command_id}/reject", response_model=None,
                     responses={200: {"content": {"application/json": {"schema": COMMAND_SCHEMA}}},
                                **errors(404, 409, 422)},
                     summary="Reject a command that waits for approval")
async def reject_command(request: Request, command_id: CommandId, body: RejectBody,
                         principal: Annotated[Principal, Depends(require(Role.ENGINEER))]) -> Response:
    cmd = await commands(request).reject(principal.tenant, command_id, principal.actor, body.reason)
    return Json(cmd.as_dict())


@approvals_router.get("", response_model=None, responses=errors(),
                      summary="Commands waiting for approval, oldest first")
async def list_approvals(request: Request, principal: Annotated[Principal, Depends(require(Role.VIEWER))],
                         limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> Response:
    items = await run_in_threadpool(commands(request).pending, principal.tenant, limit)
    return Json({"value": [c.as_dict() for c in items]})


router.include_router(twin_router)
router.include_router(command_router)
router.include_router(approvals_router)
