"""Delivery of event routes: every enabled route's events, in log order, to its receiver, at least once.

One asyncio task per route (a slow or failing receiver holds up only its own route). A route reads the ``events``
table after its durable cursor (``event_routes.cursor_seq``), up to the log's safe horizon
(:class:`~tvilling.adapters.sql.event_log.LogHorizon`: never past an event still being committed), applies its
filter, and POSTs each matching event as a signed CloudEvent. The cursor moves in the same transaction as the
delivery's log row, after the receiver's 2xx, so a restart re-sends at most the event in flight; events the
filter skips move it too (written every few seconds, not per event).

Failures (connection errors, timeouts, non-2xx) are retried after ``webhook_backoff_initial_s`` doubling to
``webhook_backoff_max_s`` with jitter (or the receiver's ``Retry-After`` on 429/503); after
``webhook_max_attempts`` the event is dead-lettered (kept in the log with the reason) and the route moves on.
A 410 Gone pauses the route, as does a URL whose host is no longer allowed. Redeliveries queued through the API go
before the next new event.

The bus only wakes routes early (after a commit in this process); a poll every ``webhook_poll_s`` finds what other
servers committed. Two servers sharing a database never deliver one route side by side: a route is leased
(``lease_owner``, ``webhook_lease_s``), and an attempt starts only while the lease outlasts its overall time limit
(``webhook_timeout_s``, under a third of the lease) plus a margin. The lease is renewed in the database when a
third of it has passed (between rounds, during backoffs) and before an attempt only when less than that is left,
not before every attempt; state is written only under it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
from collections.abc import Callable
from datetime import datetime
from typing import Any

from tvilling.adapters.sql.event_log import LogHorizon
from tvilling.adapters.sql.event_routes import SqlEventRouteRepo
from tvilling.adapters.webhook_http import WebhookSender
from tvilling.app.event_filter import EventFilter
from tvilling.app.event_route_worker import Policy, RouteWorker
from tvilling.app.event_routes import EventRouteService, event_route_service
from tvilling.app.events import run_attached
from tvilling.core.errors import TvillingError
from tvilling.core.event_routes import EventRoute
from tvilling.core.events import Event
from tvilling.core.roles import Role
from tvilling.protocols import webhooks

log = logging.getLogger(__name__)

PING_KIND = "ping"


async def send_ping(sender: WebhookSender, routes: EventRouteService, route: EventRoute, key: bytes,
                    now: datetime) -> dict[str, Any]:
    """A ``ping`` CloudEvent (type ``io.tvilling.ping``) to the route's URL: the receiver's status and latency."""
    event_id = "ping-" + secrets.token_hex(8)
    body = webhooks.encode(webhooks.cloud_event(
        event_id=event_id, tenant=route.tenant, kind=PING_KIND, subject=f"event-routes/{route.id}",
        time=now.isoformat().replace("+00:00", "Z"), data={"route": route.id, "name": route.name}))
    answer = await sender.post(route.url, body, webhooks.headers(key, event_id, int(now.timestamp()), body))
    routes.answered(route, answer)  # a redirect not followed is a security event, as in a delivery
    return {"ok": answer.ok, "statusCode": answer.status_code, "error": answer.error,
            "latencyMs": round(answer.latency_s * 1000, 1), "eventId": event_id}


async def ping_route(routes: EventRouteService, tenant: str, route_id: str, *, role: Role) -> dict[str, Any]:
    """``POST …/test``: a ping through a short-lived client (tests are rare), its URL checked against the allow-list
    again (the setting may have changed since the route was made)."""
    route, key = await asyncio.to_thread(routes.test_target, tenant, route_id, role=role)
    sender = WebhookSender(routes.settings.webhook_timeout_s)
    try:
        result = await send_ping(sender, routes, route, key, routes.clock.now())
    finally:
        await sender.aclose()
    return {"route": route.id, "url": route.url, **result}


class EventDelivery:
    """The background service: starts, restarts and stops one :class:`RouteWorker` per enabled route."""

    def __init__(self, services: Any, routes: EventRouteService, settings: Any, *,
                 sender: WebhookSender | None = None, draw: Callable[[], float] = random.random) -> None:
        self.services, self.routes, self.settings = services, routes, settings
        self.policy = Policy.from_settings(settings)
        self.owner = secrets.token_hex(8)  # this server's name on the leases it holds
        self.horizon = LogHorizon(services.store.engine)
        self.sender = sender
        self.draw = draw
        self._workers: dict[tuple[str, str], RouteWorker] = {}
        self._interest: dict[str, list[EventFilter]] = {}  # tenant -> filters; replaced whole (read off-loop)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._changed: asyncio.Event | None = None
        self._wake_pending = False
        self._unlisten: Callable[[], None] | None = None

    # -- BusConsumer ------------------------------------------------------------------------------------------
    def attach(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._changed = asyncio.Event()
        self._unlisten = self.services.bus.listen(self._on_event)
        self.routes.on_change = self.changed

    async def run(self) -> None:
        assert self._changed is not None
        if self.sender is None:
            self.sender = WebhookSender(self.settings.webhook_timeout_s)
        while True:
            try:
                await self._sync()
            except TvillingError as exc:  # the database may be briefly unavailable: try again at the next poll
                log.warning("event routes: cannot read the routes: %s", exc)
            except Exception:  # a bug must not end delivery for every route: say so, try again at the next poll
                log.exception("event routes: the routes could not be synchronised")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout=self.policy.poll_s)
            self._changed.clear()

    def detach(self) -> None:
        if self._unlisten is not None:
            self._unlisten()
        self.routes.on_change = None
        for worker in self._workers.values():
            worker.task.cancel()

    async def drain(self) -> None:
        await asyncio.gather(*(w.task for w in self._workers.values()), return_exceptions=True)
        self._workers.clear()
        with contextlib.suppress(Exception):  # let another server (or our next start) take over at once
            await asyncio.to_thread(self._release)
        if self.sender is not None:
            await self.sender.aclose()

    # -- wiring -----------------------------------------------------------------------------------------------
    def changed(self) -> None:
        """A route was created, changed or deleted (any thread): re-read the routes now."""
        loop, flag = self._loop, self._changed
        if loop is not None and flag is not None and not loop.is_closed():
            loop.call_soon_threadsafe(flag.set)

    def _on_event(self, event: Event) -> None:
        """Bus listener (the publisher's thread): wake the routes that may want this event. Cheap: a dict lookup
        and, at most once per loop turn, one call onto the loop."""
        filters = self._interest.get(event.tenant)
        if not filters or not any(f.kind_ok(event.kind) for f in filters):
            return
        loop = self._loop
        if loop is not None and not self._wake_pending and not loop.is_closed():
            self._wake_pending = True
            loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        self._wake_pending = False
        for worker in self._workers.values():
            worker.wake.set()

    async def _sync(self) -> None:
        routes = await asyncio.to_thread(self._enabled)
        wanted = {(r.tenant, r.id): r for r in routes}
        for key, worker in list(self._workers.items()):
            current = wanted.get(key)
            if current is None or current.fingerprint() != worker.route.fingerprint() or worker.task.done():
                worker.task.cancel()
                # Wait for it: the next worker of this route must not send while the old one is still sending.
                await asyncio.gather(worker.task, return_exceptions=True)
                del self._workers[key]
        for key, route in wanted.items():
            if key not in self._workers:
                self._workers[key] = RouteWorker(self, route)
        for worker in self._workers.values():  # a redelivery queued through the API goes out now, not at a poll
            worker.wake.set()
        interest: dict[str, list[EventFilter]] = {}
        for worker in self._workers.values():
            interest.setdefault(worker.route.tenant, []).append(worker.filter)
        self._interest = interest

    def _enabled(self) -> list[EventRoute]:
        with self.services.store.read() as tx:
            return SqlEventRouteRepo(tx.conn).enabled()

    def _release(self) -> None:
        with self.services.store.write() as tx:
            SqlEventRouteRepo(tx.conn).release(self.owner)


def delivery_service(platform: Any) -> EventDelivery:
    state = platform.app.state
    service = EventDelivery(platform.services, event_route_service(state, platform.services), platform.settings)
    state.event_delivery = service
    return service


async def run_event_routes(platform: Any) -> None:
    """Background factory for ``bootstrap.BACKGROUND``: deliver every enabled route until cancelled."""
    await run_attached(delivery_service(platform))
