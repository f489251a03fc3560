"""WebSocket /api/v1/events: committed changes of the caller's tenant, filtered by twin (id or model), property
and event kind.

Authentication (a browser cannot set headers on a WebSocket): ``?access_token=tvl_…``, or the subprotocol list
``tvilling, tvl_…`` (the server answers with ``tvilling``), or an ``Authorization: Bearer`` header. A foreign
``Origin`` is refused (reliability S-08) unless listed in TVILLING_WS_ALLOWED_ORIGINS. Close codes: 4401 no or bad
token, 4403 foreign origin, 4408 the client fell too far behind (reconnect and re-read state), 4422 an invalid
filter in the query string, 1009 a message over ``ws_max_message_bytes``, 4429 messages faster than
``ws_messages_per_s`` (:mod:`tvilling.api.ws_limits`). Refused handshakes and the 1009/4429 closes are counted in
the security audit trail (S-15).

Frames are JSON: ``{"kind", "subject", "time", "context": {"id", "parent_id", "actor"}, "data"}``.

Filters: the query string (``?twin=…&model=…&property=…&kind=…``, each repeatable) sets the first one; a client
may replace it at any time with a text frame ``{"type": "subscribe", "twins": [...], "models": [...],
"properties": [...], "kinds": [...]}`` (omitted = no restriction), answered by ``{"type": "subscribed",
"filter": {...}}`` or ``{"type": "error", "detail": ...}`` (the previous filter stays). A filter only narrows:
the stream is always the token's own tenant (see :mod:`tvilling.app.event_filter`).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketDisconnect

from tvilling.api.deps import bearer, services
from tvilling.api.errors import audit_denial
from tvilling.api.ws_limits import WsLimits
from tvilling.app.auth import Principal
from tvilling.app.event_filter import EventFilter, TwinModels
from tvilling.core.errors import AuthenticationError, TvillingError
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


class _Stream:
    """One connection's filter, bus subscription and twin -> model lookups (model filters need them)."""

    def __init__(self, ws: WebSocket, principal: Principal, flt: EventFilter) -> None:
        self.svc = services(ws)
        self.tenant = principal.tenant
        self.filter = flt
        self.sub = self._subscribe()
        self._models = TwinModels(self.svc, self.tenant)

    def _subscribe(self) -> Any:
        f = self.filter
        return self.svc.bus.subscribe(self.tenant, subjects=f.bus_subjects, kinds=f.kinds)

    def refilter(self, flt: EventFilter) -> None:
        self.sub.close()
        self.filter = flt
        self.sub = self._subscribe()

    def _shape(self, event: Event) -> Event | None:
        if event.kind.startswith("twin.") and event.kind not in ("twin.telemetry", "twin.quality"):
            self._models.forget(event.subject)  # created, replaced or deleted: look the model up again
        return self._models.apply(self.filter, event)

    async def shape(self, event: Event) -> Event | None:
        if not self.filter.needs_model:  # no lookups: cheap enough for the loop
            return self._shape(event)
        return await asyncio.to_thread(self._shape, event)


def _initial_filter(ws: WebSocket) -> EventFilter:
    q = ws.query_params
    return EventFilter.parse({k: v for k, v in (("twins", q.getlist("twin")), ("models", q.getlist("model")),
                                                ("properties", q.getlist("property")),
                                                ("kinds", q.getlist("kind"))) if v})


async def _control(ws: WebSocket, stream: _Stream, text: str) -> None:
    try:
        message = json.loads(text)
        if not isinstance(message, dict) or message.get("type") != "subscribe":
            raise ValueError('expected {"type": "subscribe", ...}')
        flt = EventFilter.parse(message)
    except (ValueError, TvillingError) as exc:
        detail = exc.message if isinstance(exc, TvillingError) else str(exc)
        await ws.send_text(json.dumps({"type": "error", "detail": detail[:500]}))
        return
    stream.refilter(flt)
    await ws.send_text(json.dumps({"type": "subscribed", "filter": flt.as_dict()}))


@router.websocket("/api/v1/events")
async def events_socket(ws: WebSocket) -> None:
    svc = services(ws)
    if not _origin_allowed(ws):
        audit_denial(ws, 403, "origin not allowed", "websocket.refused")
        await ws.close(code=4403, reason="origin not allowed")
        return
    token, subprotocol = _credentials(ws)
    try:
        principal: Principal = svc.tokens.verify(token)
        flt = _initial_filter(ws)
    except AuthenticationError as exc:
        audit_denial(ws, 401, exc.message, "websocket.refused", token=token)
        await ws.close(code=4401, reason=exc.message[:120])
        return
    except TvillingError as exc:
        await ws.close(code=4422, reason=exc.message[:120])
        return
    ws.state.principal = principal  # a close for abuse is audited in the caller's tenant
    limits = WsLimits(ws.app.state.settings, svc.clock)
    stream = _Stream(ws, principal, flt)
    metrics: Any = ws.app.state.metrics
    await ws.accept(subprotocol=subprotocol)
    metrics.websockets.inc()
    receiver = asyncio.create_task(ws.receive())
    getter: asyncio.Task[Event | None] | None = None
    try:
        while True:
            if getter is None:
                getter = asyncio.create_task(stream.sub.get())
            done, _ = await asyncio.wait({getter, receiver}, return_when=asyncio.FIRST_COMPLETED)
            if getter in done:  # first: an event already taken from the queue must not be lost
                event = getter.result()
                getter = None
                if event is None:
                    await ws.close(code=4408, reason="too slow: events dropped; reconnect and re-read state")
                    return
                shaped = await stream.shape(event)
                if shaped is not None:
                    await ws.send_text(event_frame(shaped))
            if receiver in done:
                message = receiver.result()
                close = limits.check(message)
                if close is not None:
                    audit_denial(ws, close.status, close.reason, "websocket.closed")
                    if not close.by_server:
                        await ws.close(code=close.code, reason=close.reason[:120])
                    return
                if message["type"] == "websocket.disconnect":
                    return
                if message.get("text"):
                    if getter is not None:  # a pending get() is safe to cancel: nothing was dequeued
                        getter.cancel()
                        getter = None
                    await _control(ws, stream, message["text"])
                receiver = asyncio.create_task(ws.receive())
    except (WebSocketDisconnect, RuntimeError):
        return
    finally:
        receiver.cancel()
        if getter is not None:
            getter.cancel()
        stream.sub.close()
        metrics.websockets.dec()
