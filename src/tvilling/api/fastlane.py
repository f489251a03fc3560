"""A fast lane for the hottest request, ``GET /api/v1/twins/{id}``: answered without routing and dependency solving.

FastAPI's routing (dozens of routes matched in order), dependency solving and exception middleware cost about
three quarters of a twin read on this machine. This pure ASGI middleware answers the *ordinary* case itself: a GET
with no query string, a well-formed id, a bearer token already in the token cache whose role may read, within its
rate limit, for a twin that exists. The response is byte-for-byte what the route sends (same body, ETag,
content type). Anything else — no or unknown token, 404, 429, a database error, an unusual path — goes down the
normal route untouched, which answers exactly as it always did; so error semantics live in one place only.

The token bucket charged here is remembered in the request state, so a request that falls through after being
charged is not charged twice (``api.deps.require``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from tvilling.api.deps import ID_PATTERN
from tvilling.api.responses import JSON_OPTIONS
from tvilling.core.roles import Role

PREFIX = "/api/v1/twins/"
CHARGED = "rate_limit_charged"  # request-state key: the token id already charged for this request
_ID = re.compile(ID_PATTERN)


@dataclass(frozen=True)
class _Template:
    """Stands in for the route in ``scope["route"]``: the metrics middleware labels requests by its ``path``."""

    path: str = PREFIX + "{twin_id}"


_ROUTE = _Template()


class TwinReadFastLane:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] == "http" and scope["method"] == "GET" and not scope.get("query_string")
                and not scope.get("root_path")):
            path: str = scope["path"]
            if path.startswith(PREFIX):
                body = await self._answer(scope, path[len(PREFIX):])
                if body is not None:
                    await send({"type": "http.response.start", "status": 200, "headers": body[1]})
                    await send({"type": "http.response.body", "body": body[0]})
                    return
        await self.app(scope, receive, send)

    async def _answer(self, scope: Scope, twin_id: str) -> tuple[bytes, list[tuple[bytes, bytes]]] | None:
        """The response for the ordinary case, or None to let the route handle the request."""
        if not _ID.fullmatch(twin_id):
            return None
        token = _bearer(scope)
        app: Any = scope.get("app")
        if token is None or app is None:
            return None
        svc = app.state.services
        principal = svc.tokens.cached(token)
        if principal is None or not principal.role.allows(Role.VIEWER):
            return None
        limiter = getattr(app.state, "limiter", None)
        try:
            if limiter is not None:
                limiter.check_token(principal.token_id)
                scope.setdefault("state", {})[CHARGED] = principal.token_id
            if svc.store.inline_point_reads:
                doc = svc.twins.get(principal.tenant, twin_id)
            else:  # a network database read could stall the event loop
                doc = await run_in_threadpool(svc.twins.get, principal.tenant, twin_id)
        except Exception:  # 404, 429, 503, anything unexpected: the route answers it (and logs it if it is a bug)
            return None
        scope["route"] = _ROUTE
        content = orjson.dumps(doc, option=JSON_OPTIONS)
        return content, [(b"etag", str(doc.get("$etag", "")).encode("latin-1")),
                         (b"content-length", str(len(content)).encode()),
                         (b"content-type", b"application/json")]


def _bearer(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            token = token.strip()
            return token if scheme.lower() == "bearer" and token else None
    return None
