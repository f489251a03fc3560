"""Request dependencies: the caller's identity, role checks, JSON hygiene and the services."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request
from starlette.requests import HTTPConnection

from tvilling.app.auth import Principal
from tvilling.app.services import Services
from tvilling.core.errors import AuthenticationError, PermissionDeniedError, ValidationError
from tvilling.core.roles import Role

MAX_JSON_DEPTH = 64
ID_PATTERN = r"^[^\x00-\x1f\x7f/\\?#]{1,512}$"  # no control characters, no URL delimiters


def services(conn: HTTPConnection) -> Services:
    svc: Services = conn.app.state.services
    return svc


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
        principal = services(request).tokens.verify(bearer(request))
        reject_unknown_query(request)
        if not principal.role.allows(role):
            raise PermissionDeniedError(f"the {principal.role.value} role cannot do this; it needs {role.value}",
                                        hint="use a token with a higher role (tvilling token create --role …)")
        request.state.principal = principal
        return principal

    dependency.__name__ = f"require_{role.value}"
    return dependency


_QUERY_NAMES: dict[int, frozenset[str]] = {}


def reject_unknown_query(request: Request) -> None:
    """Unknown query parameters are refused, not ignored: ``?modle=…`` should fail loudly, not list everything."""
    if not request.query_params:
        return
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return
    key = id(route)
    names = _QUERY_NAMES.get(key)
    if names is None:
        names = frozenset(_query_names(dependant))
        _QUERY_NAMES[key] = names
    for name in request.query_params:
        if name not in names:
            raise ValidationError(f"unknown query parameter {name!r}", where=f"query.{name}",
                                  hint="known: " + (", ".join(sorted(names)) or "(none)"))


def _query_names(dependant: Any) -> set[str]:
    names = {str(p.alias) for p in getattr(dependant, "query_params", [])}
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
