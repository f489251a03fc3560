"""/api/v1/killswitch (engage, list, release) and /api/v1/audit (the hash-chained trail and its check).

Engaging a kill switch needs the operator role (anyone who may send a command may stop them all); releasing it,
engineer; reading the switches, viewer; the audit trail and its verification, engineer. ``scope`` is ``*`` (the
whole tenant) or a twin id.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from tvilling.api.deps import require
from tvilling.api.errors import errors
from tvilling.api.responses import Json
from tvilling.api.routes.commands import commands
from tvilling.app.auth import Principal
from tvilling.core.roles import Role

kill_router = APIRouter(prefix="/api/v1/killswitch", tags=["guarded control"])
audit_router = APIRouter(prefix="/api/v1/audit", tags=["guarded control"])
router = APIRouter()
Scope = Annotated[str, Query(min_length=1, max_length=512, description='"*" for the whole tenant, or a twin id')]


class EngageBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scope: str = Field(default="*", min_length=1, max_length=512)
    reason: str = Field(default="", max_length=1000)


@kill_router.get("", response_model=None, responses=errors(), summary="The engaged kill switches")
async def list_switches(request: Request, principal: Annotated[Principal, Depends(require(Role.VIEWER))]
                        ) -> Response:
    items = await run_in_threadpool(commands(request).kill_switches, principal.tenant)
    return Json({"value": [k.as_dict() for k in items]})


@kill_router.post("", response_model=None, responses=errors(404, 422),
                  summary="Engage a kill switch: refuse new commands, cancel those not yet sent")
async def engage(request: Request, body: EngageBody,
                 principal: Annotated[Principal, Depends(require(Role.OPERATOR))]) -> Response:
    switch, canceled = await commands(request).engage(principal.tenant, body.scope, principal.actor, body.reason)
    return Json({**switch.as_dict(), "canceled": canceled})


@kill_router.delete("", response_model=None, responses=errors(404),
                    summary="Release a kill switch (engineer)")
async def release(request: Request, principal: Annotated[Principal, Depends(require(Role.ENGINEER))],
                  scope: Scope = "*", reason: Annotated[str, Query(max_length=1000)] = "") -> Response:
    switch = await commands(request).release(principal.tenant, scope, principal.actor, reason)
    return Json({**switch.as_dict(), "released": True})


@audit_router.get("", response_model=None, responses=errors(), summary="The audit trail, newest first")
async def audit(request: Request, principal: Annotated[Principal, Depends(require(Role.ENGINEER))],
                before: Annotated[int, Query(ge=0, le=2**63 - 1,
                                             description="n of the last record of the previous page")] = 0,
                limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                subject: Annotated[str | None, Query(max_length=512)] = None,
                category: Annotated[str | None, Query(max_length=32)] = None) -> Response:
    items = await run_in_threadpool(lambda: commands(request).audit_page(
        principal.tenant, before=before, limit=limit, subject=subject, category=category))
    nxt = items[-1].n if len(items) == limit and items[-1].n > 1 else None
    return Json({"value": [r.as_dict() for r in items], "nextBefore": nxt})


@audit_router.get("/verify", response_model=None, responses=errors(),
                  summary="Recompute the hash chain; names the first record that does not check")
async def verify(request: Request, principal: Annotated[Principal, Depends(require(Role.ENGINEER))]) -> Response:
    result = await run_in_threadpool(commands(request).verify_audit, principal.tenant)
    return Json(result.as_dict())


router.include_router(kill_router)
router.include_router(audit_router)
