"""RFC 9457 problem+json from ONE exception -> status table (architecture guideline 7).

Every error names what went wrong (``title``/``detail``), where (``instance`` plus per-problem ``where``) and how to
fix it (``hint``). A new error type needs one row here, nowhere else.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import HTTPConnection

from tvilling.app.errors import NotImplementedYetError, RateLimitedError
from tvilling.app.security_audit import SECURITY_TENANT, Denial, claimed_id, denial_action
from tvilling.core.errors import (
    AuthenticationError,
    ConfigurationError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    PreconditionFailedError,
    QuerySyntaxError,
    SimulationError,
    TvillingError,
    UnavailableError,
    ValidationError,
)

log = logging.getLogger(__name__)
PROBLEM_JSON = "application/problem+json"

# (status, slug, title) per exception type; the most specific class wins (walk the MRO).
STATUS_TABLE: dict[type[TvillingError], tuple[int, str, str]] = {
    NotFoundError: (404, "not-found", "Not found"),
    ValidationError: (422, "validation", "The input is not valid"),
    ConflictError: (409, "conflict", "Conflict with the current state"),
    PreconditionFailedError: (412, "precondition-failed", "Precondition failed"),
    AuthenticationError: (401, "unauthenticated", "Authentication required"),
    PermissionDeniedError: (403, "forbidden", "Permission denied"),
    UnavailableError: (503, "unavailable", "Service unavailable"),
    QuerySyntaxError: (400, "query-syntax", "The query cannot be parsed"),
    NotImplementedYetError: (501, "not-implemented", "Not implemented"),
    RateLimitedError: (429, "rate-limited", "Too many requests"),
    ConfigurationError: (500, "configuration", "Server misconfigured"),
    SimulationError: (422, "simulation", "The model failed"),
    TvillingError: (500, "internal", "Internal error"),
}


class ProblemItem(BaseModel):
    message: str
    where: str | None = None
    hint: str | None = None
    file: str | None = None


class ProblemDetails(BaseModel):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    hint: str | None = None
    problems: list[ProblemItem] = Field(default_factory=list)


def problem_response(status: int, slug: str, title: str, detail: str, instance: str, *, hint: str = "",
                     problems: list[dict[str, Any]] | None = None,
                     headers: dict[str, str] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"type": f"urn:tvilling:problem:{slug}", "title": title, "status": status,
                            "detail": detail, "instance": instance, "problems": problems or []}
    if hint:
        body["hint"] = hint
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def lookup(exc: TvillingError) -> tuple[int, str, str]:
    for cls in type(exc).__mro__:
        if cls in STATUS_TABLE:
            return STATUS_TABLE[cls]
    return STATUS_TABLE[TvillingError]


def tvilling_error_response(request: Request, exc: TvillingError) -> JSONResponse:
    status, slug, title = lookup(exc)
    headers: dict[str, str] = {}
    marked = denial_action(exc)  # 429s, refused webhook targets, ... (app/security_audit.py)
    if status in (401, 403) or marked is not None:
        audit_denial(request, status, exc.message, marked)
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="tvilling"'
    if status in (429, 503):
        headers["Retry-After"] = str(int(exc.extra.get("retry_after", 1)))
    if status >= 500 and status != 501 and status != 503:
        log.error("internal error on %s %s: %s", request.method, request.url.path, exc)
    problems = [p.as_dict() for p in exc.problems]
    if not problems and (exc.where or exc.hint):
        problems = [{k: v for k, v in {"message": exc.message, "where": exc.where, "hint": exc.hint}.items() if v}]
    return problem_response(status, slug, title, str(exc.message), request.url.path, hint=exc.hint,
                            problems=problems, headers=headers)


def audit_denial(conn: HTTPConnection, status: int, reason: str, action: str | None = None,
                 token: str | None = None) -> None:
    """Count a denial (a 401/403, a 429, a refused or closed WebSocket, an error marked as one) for the security
    audit trail (app/security_audit.py); without ``action``, a 401 is ``auth.failed`` and anything else
    ``access.denied``."""
    audit = getattr(conn.app.state, "security", None)
    if audit is None:
        return
    principal = getattr(conn.state, "principal", None)
    route = conn.scope.get("route")
    header = conn.headers.get("authorization", "")
    known = principal if status != 401 else None
    audit.record(Denial(
        action=action or ("auth.failed" if status == 401 else "access.denied"),
        tenant=known.tenant if known is not None else SECURITY_TENANT,
        source=conn.client.host if conn.client else "unknown",
        actor=f"token:{known.token_id}" if known is not None else "anonymous",
        method=conn.scope.get("method", "WEBSOCKET"), path=getattr(route, "path", None) or conn.url.path,
        status=status, reason=reason[:200],
        claimed="" if known is not None else
        claimed_id(token if token is not None else header.partition(" ")[2].strip())))


def _where(loc: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(str(p) for p in loc)


async def _on_tvilling_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, TvillingError)
    return tvilling_error_response(request, exc)


async def _on_request_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [{"message": str(e.get("msg", "invalid")), "where": _where(e.get("loc", ())),
                 "hint": "see the OpenAPI description at /api/v1/openapi.json"} for e in exc.errors()]
    first = problems[0] if problems else {"message": "invalid request", "where": ""}
    return problem_response(422, "request-validation", "The request is not valid",
                            f"{first['message']} (at {first['where']})", request.url.path, problems=problems)


async def _on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400:  # FastAPI's "error parsing the body": the same 422 as our own JSON parsing
        return problem_response(422, "request-validation", "The request is not valid",
                                f"the body is not valid JSON ({exc.detail})", request.url.path,
                                hint="send UTF-8 JSON with Content-Type: application/json",
                                problems=[{"message": str(exc.detail), "where": "body"}])
    slug = {404: "not-found", 405: "method-not-allowed", 413: "too-large"}.get(exc.status_code, "http")
    hint = {404: "see /api/v1/docs for the routes", 405: "see /api/v1/docs for the allowed methods"}
    return problem_response(exc.status_code, slug, str(exc.detail), str(exc.detail), request.url.path,
                            hint=hint.get(exc.status_code, ""), headers=dict(exc.headers or {}))


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem_response(500, "internal", "Internal error", "an unexpected error occurred; it has been logged",
                            request.url.path, hint="retry; report it if it persists")


def install(app: FastAPI) -> None:
    app.add_exception_handler(TvillingError, _on_tvilling_error)
    app.add_exception_handler(RequestValidationError, _on_request_validation)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(Exception, _on_unexpected)


def problem_doc(description: str) -> dict[str, Any]:
    return {"description": description, "model": ProblemDetails,
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/ProblemDetails"}}}}


# Standard error responses documented on every authenticated operation.
COMMON_ERRORS: dict[int | str, dict[str, Any]] = {
    401: problem_doc("No valid bearer token"),
    403: problem_doc("The token's role does not allow this"),
    413: problem_doc("Request body too large"),
    422: problem_doc("The request or its content is not valid"),
    429: problem_doc("Rate limit exceeded; retry after Retry-After seconds"),
    503: problem_doc("The database is unavailable; retry after Retry-After seconds"),
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    extra = {404: "Not found (or another tenant's)", 409: "Conflicts with current state",
             412: "ETag precondition failed", 400: "The query cannot be parsed", 501: "Not available in this build"}
    out = dict(COMMON_ERRORS)
    for status in statuses:
        out[status] = problem_doc(extra.get(status, "Error"))
    return out
