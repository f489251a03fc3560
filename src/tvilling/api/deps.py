"""Request dependencies: the caller's identity, role checks, JSON hygiene and the services."""

from __future__ import annotations

import math
import types
import typing
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection

from tvilling.api.errors import audit_denial
from tvilling.app.auth import Principal
from tvilling.app.errors import RateLimitedError
from tvilling.app.group_commit import GroupCommitter, WriteOp, run_now
from tvilling.app.ratelimit import Limit, RateLimiter
from tvilling.app.security_audit import MARK
from tvilling.app.services import Services
from tvilling.core.errors import AuthenticationError, PermissionDeniedError, ValidationError
from tvilling.core.roles import Role
from tvilling.ports.clock import Clock
from tvilling.settings import Settings

MAX_JSON_DEPTH = 64
ID_PATTERN = r"^[^\x00-\x1f\x7f/\\?#]{1,512}$"  # no control characters, no URL delimiters
T = TypeVar("T")


def services(conn: HTTPConnection) -> Services:
    svc: Services = conn.app.state.services
    return svc


def rate_limiter(settings: Settings, clock: Clock) -> RateLimiter | None:
    if not settings.rate_limit_enabled:
        return None
    return RateLimiter(clock, per_token=Limit(settings.rate_limit_token_per_s, settings.rate_limit_token_burst),
                       per_address=Limit(settings.rate_limit_anonymous_per_s, settings.rate_limit_anonymous_burst))


def group_committer(settings: Settings, svc: Services) -> GroupCommitter | None:
    if not settings.group_commit:
        return None
    return GroupCommitter(svc.store, svc.bus, window_s=settings.group_commit_window_ms / 1000,
                          max_batch=settings.group_commit_max_batch,
                          parallel=1 if svc.store.engine.dialect.name == "sqlite" else settings.group_commit_parallel)


async def run_write(request: Request, op: WriteOp[T]) -> T:
    """Run a twin/relationship write: group-committed with concurrent ones, or alone in a worker thread."""
    committer: GroupCommitter | None = getattr(request.app.state, "writes", None)
    if committer is not None:
        return await committer.submit(op)
    svc = services(request)
    return await run_in_threadpool(run_now, svc.store, svc.bus, op)


def limit_address(conn: HTTPConnection) -> None:
    """Charge an unauthenticated request to its client address (429 when over the limit)."""
    limiter: RateLimiter | None = getattr(conn.app.state, "limiter", None)
    if limiter is not None:
        limiter.check_address(conn.client.host if conn.client else "unknown")


def bearer(conn: HTTPConnection) -> str | None:
    header = conn.headers.get("authorization")
    if header is None:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise AuthenticationError("the Authorization header is not a bearer token",
                                  hint="send 'Authorization: Bearer tvl_…'")
    return value.strip()


def require(role: Role) -> Callable[[Request], Awaitable[Principal]]:
    """A dependency that authenticates the caller and checks its role.

    ``async`` on purpose: a cached token check is a dict lookup, not worth a thread hop per request.
    """

    async def dependency(request: Request) -> Principal:
        try:
            principal = services(request).tokens.verify(bearer(request))
        except AuthenticationError as failed:
            try:
                limit_address(request)  # failed logins count against the address: floods get 429, not DB lookups
            except RateLimitedError as limited:  # answered 429, but a failed authentication: counted once, as that
                audit_denial(request, 401, f"{failed.message} (answered 429: too many from this address)")
                limited.extra.pop(MARK, None)
                raise
            raise
        request.state.principal = principal  # before the rate and role checks: a 429 or 403 is audited in its tenant
        limiter: RateLimiter | None = getattr(request.app.state, "limiter", None)
        # Not twice for one request: the read fast lane (api/fastlane.py) may have charged it before falling through.
        if limiter is not None and getattr(request.state, "rate_limit_charged", None) != principal.token_id:
            limiter.check_token(principal.token_id)
        reject_unknown_query(request)
        if not principal.role.allows(role):
            raise PermissionDeniedError(f"the {principal.role.value} role cannot do this; it needs {role.value}",
                                        hint="use a token with a higher role (tvilling token create --role …)")
        return principal

    dependency.__name__ = f"require_{role.value}"
    return dependency


_QUERY_NAMES: dict[int, dict[str, bool]] = {}  # route -> query parameter name -> repeatable (a list)


def reject_unknown_query(request: Request) -> None:
    """Unknown query parameters are refused, not ignored: ``?modle=…`` should fail loudly, not list everything.
    A single-valued one given twice is refused too: which of ``?twin=a&twin=b`` counts would be a guess."""
    if not request.query_params:
        return
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return
    key = id(route)
    names = _QUERY_NAMES.get(key)
    if names is None:
        names = _query_names(dependant)
        _QUERY_NAMES[key] = names
    for name in request.query_params:
        if name not in names:
            raise ValidationError(f"unknown query parameter {name!r}", where=f"query.{name}",
                                  hint="known: " + (", ".join(sorted(names)) or "(none)"))
        if not names[name] and len(request.query_params.getlist(name)) > 1:
            raise ValidationError(f"query parameter {name!r} is given more than once", where=f"query.{name}",
                                  hint="give it once")


def _repeatable(annotation: Any) -> bool:
    """``list[str]``, ``list[str] | None``: a query parameter FastAPI collects from every occurrence."""
    origin = typing.get_origin(annotation)
    if origin in (list, tuple, set, frozenset):
        return True
    return origin in (typing.Union, types.UnionType) and any(_repeatable(a) for a in typing.get_args(annotation))


def _query_names(dependant: Any) -> dict[str, bool]:
    names = {str(p.alias): _repeatable(p.field_info.annotation)
             for p in getattr(dependant, "query_params", [])}
    for sub in getattr(dependant, "dependencies", []):
        names |= _query_names(sub)
    return names


def clean_json(value: Any, where: str = "body", depth: int = 0) -> Any:
    """Refuse what the stores cannot hold faithfully: NaN/Infinity, NUL and lone surrogates, deep nesting."""
    if depth > MAX_JSON_DEPTH:
        raise ValidationError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels", where=where,
                              hint="flatten the document")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValidationError("NaN and Infinity are not JSON numbers", where=where,
                                  hint="send null or a finite number")
    elif isinstance(value, str):
        _clean_str(value, where)
    elif isinstance(value, dict):
        for k, v in value.items():
            _clean_str(k, where)
            clean_json(v, f"{where}.{k}", depth + 1)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            clean_json(v, f"{where}[{i}]", depth + 1)
    return value


def _clean_str(value: str, where: str) -> None:
    if "\x00" in value:
        raise ValidationError("strings may not contain NUL characters", where=where, hint="remove \\u0000")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValidationError("strings must be valid Unicode (no lone surrogates)", where=where,
                              hint="send UTF-8 text") from exc


def require_principal(conn: HTTPConnection) -> Principal:
    principal = getattr(conn.state, "principal", None)
    if principal is None:  # pragma: no cover - routes always depend on require()
        raise AuthenticationError("no credentials")
    assert isinstance(principal, Principal)
    return principal
