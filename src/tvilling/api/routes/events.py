"""WebSocket /api/v1/events: committed changes of the caller's tenant, optionally filtered by twin id and kind.

Authentication (a browser cannot set headers on a WebSocket): ``?access_token=tvl_…``, or the subprotocol list
``tvilling, tvl_…`` (the server answers with ``tvilling``), or an ``Authorization: Bearer`` header. A foreign
``Origin`` is refused (reliability S-08) unless listed in TVILLING_WS_ALLOWED_ORIGINS. Close codes: 4401 no or bad
token, 4403 foreign origin, 4408 the client fell too far behind (reconnect and re-read state).

Frames are JSON: ``{"kind", "subject", "time", "context": {"id", "parent_id", "actor"}, "data"}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketDisconnect

from tvilling.api.deps import bearer, services
from tvilling.app.auth import Principal
from tvilling.core.errors import AuthenticationError
from tvilling.core.events import Event
from tvilling.ports.documents import iso

router = APIRouter()
SUBPROTOCOL = "tvilling"


def event_frame(event: Event) -> str:
    return json.dumps({"kind": event.kind, "subject": event.subject, "time": iso(event.time),
                       "context": {"id": event.context_id, "parent_id": event.parent_id, "actor": event.actor},
                       "data": event.data}, allow_nan=False, default=str)


def _origin_allowed(ws: WebSocket) -> bool:
    origin = ws.headers.get("origin")
    if origin is None:  # non-browser clients send none
        return True
    allowed: list[str] = list(ws.app.state.settings.ws_allowed_origins)
    if origin in allowed:
        return True
    return urlsplit(origin).netloc == ws.headers.get("host", "")


def _credentials(ws: WebSocket) -> tuple[str | None, str | None]:
    """(token, subprotocol to answer with)."""
    token = ws.query_params.get("access_token")
    if token:
        return token, None
    offered = [p.strip() for p in ws.headers.get("sec-websocket-protocol", "").split(",") if p.strip()]
    if SUBPROTOCOL in offered:
        for proto in offered:
            if proto.startswith("tvl_"):
                return proto, SUBPROTOCOL
    try:
        return bearer(ws), None
    except AuthenticationError:
        return None, None


@router.websocket("/api/v1/events")
async def events_socket(ws: WebSocket) -> None:
    svc = services(ws)
    if not _origin_allowed(ws):
        await ws.close(code=4403, reason="origin not allowed")
        return
    token, subprotocol = _credentials(ws)
    try:
        principal: Principal = svc.tokens.verify(token)
    except AuthenticationError as exc:
        await ws.close(code=4401, reason=exc.message[:120])
        return
    twins = ws.query_params.getlist("twin") or None
    kinds = ws.query_params.getlist("kind") or None
    sub = svc.bus.subscribe(principal.tenant, subjects=twins, kinds=kinds)
    metrics: Any = ws.app.state.metrics
    await ws.accept(subprotocol=subprotocol)
    metrics.websockets.inc()

    async def drain_client() -> None:
        # We only need to notice the client leaving; inbound frames are ignored.
        with contextlib.suppress(WebSocketDisconnect):
            while True:
                message = await ws.receive()
                if message["type"] == "websocket.disconnect":
                    return

    reader = asyncio.create_task(drain_client())
    try:
        while True:
            getter = asyncio.create_task(sub.get())
            done, _ = await asyncio.wait({getter, reader}, return_when=asyncio.FIRST_COMPLETED)
            if reader in done:
                getter.cancel()
                return
            event = getter.result()
            if event is None:
                await ws.close(code=4408, reason="too slow: events dropped; reconnect and re-read state")
                return
            await ws.send_text(event_frame(event))
    except (WebSocketDisconnect, RuntimeError):
        return
    finally:
        reader.cancel()
        sub.close()
        metrics.websockets.dec()
