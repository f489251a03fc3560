"""One event route's delivery (:mod:`tvilling.app.event_delivery` runs one per enabled route): its events in log
order from the durable cursor, each retried until the receiver takes it or it is dead-lettered, under a lease so
that no two servers send the route side by side.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from tvilling.adapters.sql.event_routes import SqlEventRouteRepo
from tvilling.adapters.sql.schema_event_routes import event_routes
from tvilling.adapters.webhook_http import Answer
from tvilling.app.event_filter import TwinModels
from tvilling.app.event_routes import envelope, route_filter
from tvilling.core.errors import TvillingError
from tvilling.core.event_routes import Delivery, EventRoute
from tvilling.ports.store import StoredEvent
from tvilling.protocols import webhooks

if TYPE_CHECKING:
    from tvilling.app.event_delivery import EventDelivery

log = logging.getLogger(__name__)

BATCH = 100  # events read from the log at a time
SKIP_PERSIST_S = 5.0  # how often a cursor moved only by skipped events is written
PRUNE_EVERY = 100  # deliveries between prunes of a route's log
MODEL_CACHE_S = 30.0  # twin -> model lookups of model filters (a route does not see twin.* events to forget them)


@dataclass(frozen=True)
class Policy:
    """The retry settings, read once."""

    max_attempts: int
    initial_s: float
    max_s: float
    poll_s: float
    lease_s: float
    log_keep: int
    timeout_s: float  # one attempt's whole time limit

    @classmethod
    def from_settings(cls, s: Any) -> Policy:
        return cls(max_attempts=s.webhook_max_attempts, initial_s=s.webhook_backoff_initial_s,
                   max_s=s.webhook_backoff_max_s, poll_s=s.webhook_poll_s, lease_s=s.webhook_lease_s,
                   log_keep=s.webhook_log_keep, timeout_s=s.webhook_timeout_s)

    @property
    def attempt_lease_s(self) -> float:
        """What must be left on the lease for an attempt to start: its time limit and a third of the lease. The
        margin covers the steps between the check and the POST and, above all, the skew between the clocks of
        servers sharing the database (each writes and reads expiries on its own wall clock): up to a third of the
        lease (15 s by default) is tolerated. The time limit is under a third of the lease, so a fresh lease always
        lets an attempt start; a renewal costs one write every third of a lease or so, not one per delivery."""
        return self.timeout_s + self.lease_s / 3


class _LostLease(Exception):
    """Another server took the route over (or it was paused): stop delivering, try to claim it again."""


class _Paused(Exception):
    """The route paused itself (410 Gone, host no longer allowed): this worker ends."""


class RouteWorker:
    """Delivers one route's events in order; ends when cancelled (route changed, paused, deleted, shutdown)."""

    def __init__(self, service: EventDelivery, route: EventRoute) -> None:
        self.service, self.route = service, route
        self.store, self.clock, self.policy = service.services.store, service.services.clock, service.policy
        self.filter = route_filter(route)
        self.models = TwinModels(service.services, route.tenant, max_age_s=MODEL_CACHE_S)
        self.wake = asyncio.Event()
        self.scanned = self.persisted = route.cursor_seq  # read up to / written up to
        self.persisted_at = time.monotonic()
        # the lease's expiry as this worker last wrote it, on self.clock.monotonic() (None: not held); see _claim
        self.lease_expires: float | None = None
        self.resuming = True  # the next stream event may have a log row from an earlier holder (its attempts count)
        self.key: bytes | None = None
        self.delivered = 0  # this route's deliveries: every PRUNE_EVERY of them its log is pruned
        self.task = asyncio.create_task(self.run(), name=f"event-route {route.tenant}/{route.id}")

    async def run(self) -> None:
        while True:
            busy = False
            try:
                if await self._claim() is not None:
                    busy = await self._step()
                else:  # another server delivers it: look again when its lease may have run out
                    await self._idle(self.policy.lease_s / 3)
                    continue
            except _Paused:
                return
            except _LostLease:
                self.lease_expires = None
            except TvillingError as exc:  # e.g. the database is down: the cursor is safe, try again later
                log.warning("event route %s: %s", self.route.id, exc)
            except Exception:  # a bug must not end the route for good (nor spin): say so, retry after a poll
                log.exception("event route %s/%s failed; retrying", self.route.tenant, self.route.id)
            if not busy:
                await self._idle(self.policy.poll_s)

    async def _idle(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.wake.wait(), timeout=seconds)
        self.wake.clear()

    # -- the lease --------------------------------------------------------------------------------------------
    def _lease_left_s(self) -> float:
        """Seconds left on the lease as this worker last wrote it (0 when not held)."""
        return 0.0 if self.lease_expires is None else self.lease_expires - self.clock.monotonic()

    async def _claim(self, *, need_s: float | None = None) -> str | None:
        """Hold the route's lease: ``"kept"`` (held without a break), ``"taken"`` (newly ours, or ours again after it
        ran out: the scan restarts from the cursor in the database), None (another server holds it). Renewed in the
        database when a third of it has passed or, before an attempt, when less than ``need_s`` is left of it."""
        keep_s = self.policy.lease_s * 2 / 3 if need_s is None else need_s
        if self.lease_expires is not None and self._lease_left_s() > keep_s:
            return "kept"
        # The expiry written is ``now`` + the lease; the worker keeps it on the monotonic clock, read with ``now``
        # before the round trip (so never later than the one written): the time left is measured on the clock that
        # bounds the attempt (asyncio.timeout), and a step of this server's wall clock cannot stretch it.
        mono, now = self.clock.monotonic(), self.clock.now()
        until = now + timedelta(seconds=self.policy.lease_s)

        def claim() -> tuple[str | None, EventRoute | None]:
            with self.store.write() as tx:
                repo = SqlEventRouteRepo(tx.conn)
                got = repo.claim(self.route.tenant, self.route.id, self.service.owner, now, until)
                return got, repo.get(self.route.tenant, self.route.id) if got else None

        got, fresh = await asyncio.to_thread(claim)
        if got is None or fresh is None:
            self.lease_expires = None
            return None
        if got == "taken" or self.lease_expires is None:  # continue where the cursor in the database stands
            self.scanned = self.persisted = fresh.cursor_seq
            self.resuming = True
            got = "taken"
        self.lease_expires = mono + self.policy.lease_s
        return got

    async def _renew(self, *, need_s: float | None = None) -> None:
        """Keep the lease while delivering; a lease that was lost (even if taken again at once) ends the round:
        another server may have moved the cursor meanwhile. With ``need_s`` (before an attempt), so does a renewal
        that took so long that less than that is left."""
        if await self._claim(need_s=need_s) != "kept" or (need_s is not None and self._lease_left_s() <= need_s):
            raise _LostLease

    async def _pause_for(self, seconds: float) -> None:
        """Wait between attempts, renewing the lease (a backoff may be longer than the lease)."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            await asyncio.sleep(min(left, self.policy.lease_s / 3))
            await self._renew()

    # -- one round --------------------------------------------------------------------------------------------
    async def _step(self) -> bool:
        """Queued redeliveries first, then the next events of the log; True when something was sent."""
        queued = await asyncio.to_thread(self._queued)
        for entry, stored in queued:
            await self._deliver(stored, advance=False, queued=entry)
        if queued:
            return True
        upto = await asyncio.to_thread(self.service.horizon.safe)
        if upto <= self.scanned:
            return False
        flt = self.filter
        batch = await asyncio.to_thread(self._batch, upto)
        sent = False
        for stored in batch:
            wanted = await asyncio.to_thread(self.models.apply, flt, stored.event) if flt.needs_model \
                else self.models.apply(flt, stored.event)
            if wanted is not None:
                await self._deliver(stored, advance=True)
                sent = True
            self.scanned = max(self.scanned, stored.seq)
        if len(batch) < BATCH:
            self.scanned = max(self.scanned, upto)
        await self._persist_skipped()
        return sent or len(batch) == BATCH

    async def _persist_skipped(self) -> None:
        if self.scanned <= self.persisted or time.monotonic() - self.persisted_at < SKIP_PERSIST_S:
            return
        seq = self.scanned
        await asyncio.to_thread(self._write_state, {"cursor_seq": seq})
        self.persisted, self.persisted_at = seq, time.monotonic()

    # -- one event --------------------------------------------------------------------------------------------
    async def _deliver(self, stored: StoredEvent, *, advance: bool, queued: Delivery | None = None) -> None:
        """Send one event until the receiver takes it or the attempts run out; ``advance``: it is the stream's
        next event (the cursor moves with it), not a redelivery (``queued``: its log row, whose attempts count)."""
        if self.key is None:
            self.key = await asyncio.to_thread(self.service.routes.signing_key, self.route)
        previous = None
        if advance and self.resuming:  # the first event after taking the route over may have been tried already
            previous = await asyncio.to_thread(self._previous, stored.seq)
            self.resuming = False
        if previous is None or previous.status != "pending":
            previous = queued  # a redelivery resumed (interrupted by a restart, a lost lease, a route change)
        attempts = previous.attempts if previous is not None else 0
        first = previous.first_attempt_at if previous is not None and attempts else None
        if queued is not None and queued.next_attempt_at is not None:  # its backoff was under way: finish it
            await self._pause_for((queued.next_attempt_at - self.clock.now()).total_seconds())
        now = self.clock.now()
        entry: dict[str, Any] = {"event_id": f"{stored.seq}-{stored.event.context_id}",
                                 "kind": stored.event.kind[:64], "subject": stored.event.subject[:512]}
        try:
            event_id, body = envelope(stored.seq, stored.event)
        except ValueError as exc:  # defensive (the store writes no NaN): an unsendable event must not stall it
            await asyncio.to_thread(self._record, stored.seq, advance, {
                **entry, "status": "dead", "attempts": attempts, "error": f"not sendable as JSON: {exc}"[:1000],
                "first_attempt_at": first or now, "last_attempt_at": now, "next_attempt_at": None})
            return
        sender = self.service.sender
        assert sender is not None
        while True:
            try:
                self.service.routes.check_url(self.route.url)
            except TvillingError as exc:
                self.service.routes.delivery_refused(self.route, exc)
                await asyncio.to_thread(self._pause_route, f"not sent: {exc.message}; {exc.hint}")
                raise _Paused from None
            # An attempt starts only while the lease outlasts its whole time limit (plus a margin): then no other
            # server can take the route until it is over, so two never POST for it side by side. Renewing in the
            # database before every attempt cost a durable write per delivery (one route's throughput halved,
            # docs/benchmarks.md); it is renewed only when less than that is left. State writes still require it.
            await self._renew(need_s=self.policy.attempt_lease_s)
            attempts += 1
            now = self.clock.now()
            first = first or now
            answer = await sender.post(self.route.url, body, webhooks.headers(self.key, event_id,
                                                                              int(now.timestamp()), body))
            self.service.routes.answered(self.route, answer)
            entry.update(attempts=attempts, status_code=answer.status_code, error=answer.error, first_attempt_at=first,
                         last_attempt_at=now)
            if answer.ok:
                await asyncio.to_thread(self._record, stored.seq, advance, {**entry, "status": "delivered",
                                                                             "delivered_at": now,
                                                                             "next_attempt_at": None})
                return
            # between attempts a redelivery stays "queued": interrupted (restart, lease, route changed), it is
            # picked up again by _queued; a stream event stays "pending" at the cursor and resumes from there
            waiting = "pending" if advance else "queued"
            if answer.status_code == 410:
                await asyncio.to_thread(self._record, stored.seq, False, {**entry, "status": waiting})
                await asyncio.to_thread(self._pause_route, "the receiver answered 410 Gone")
                raise _Paused
            if attempts >= self.policy.max_attempts:
                await asyncio.to_thread(self._record, stored.seq, advance, {
                    **entry, "status": "dead", "next_attempt_at": None,
                    "error": f"dead-lettered after {attempts} attempt(s): {answer.error}"[:1000]})
                return
            wait = self._wait(attempts, answer)
            await asyncio.to_thread(self._record, stored.seq, False, {
                **entry, "status": waiting, "next_attempt_at": now + timedelta(seconds=wait)})
            await self._pause_for(wait)

    def _wait(self, attempts: int, answer: Answer) -> float:
        if answer.status_code in (429, 503):
            asked = webhooks.retry_after_s(answer.retry_after, self.clock.now().timestamp(), max_s=self.policy.max_s)
            if asked is not None:
                return asked
        return webhooks.backoff_s(attempts, initial_s=self.policy.initial_s, max_s=self.policy.max_s,
                                  draw=self.service.draw())

    # -- the database (worker threads) ------------------------------------------------------------------------
    def _queued(self) -> list[tuple[Delivery, StoredEvent]]:
        """The events of the route's queued redeliveries (one whose event is gone is dead-lettered again)."""
        tenant, route_id = self.route.tenant, self.route.id
        with self.store.read() as tx:
            repo = SqlEventRouteRepo(tx.conn)
            found = [(d, repo.event(tenant, d.event_seq)) for d in repo.queued(tenant, route_id)]
        for entry, stored in found:
            if stored is None:
                self._record(entry.event_seq, False, {"status": "dead", "error": "the event is no longer in the log",
                                                      "last_attempt_at": self.clock.now()})
        return [(entry, stored) for entry, stored in found if stored is not None]

    def _batch(self, upto: int) -> list[StoredEvent]:
        """The next events after the scan position, narrowed in SQL by kind (and twin ids without a model filter)."""
        flt = self.filter
        with self.store.read() as tx:
            return SqlEventRouteRepo(tx.conn).events_after(
                self.route.tenant, self.scanned, upto, kinds=sorted(flt.kinds) if flt.kinds else None,
                subjects=sorted(flt.twins) if flt.twins and not flt.needs_model else None, limit=BATCH)

    def _previous(self, seq: int) -> Delivery | None:
        with self.store.read() as tx:
            return SqlEventRouteRepo(tx.conn).delivery_for(self.route.tenant, self.route.id, seq)

    def _write_state(self, values: dict[str, Any]) -> None:
        with self.store.write() as tx:
            if not SqlEventRouteRepo(tx.conn).set_state(self.route.tenant, self.route.id, self.service.owner,
                                                        values, self.clock.now()):
                raise _LostLease

    def _record(self, seq: int, advance: bool, entry: dict[str, Any]) -> None:
        """The delivery's log row and the route's status (and cursor) in one transaction."""
        c = event_routes.c
        ok = entry["status"] == "delivered"
        state: dict[str, Any] = ({"consecutive_failures": 0, "last_success_at": entry["last_attempt_at"]} if ok
                                 else {"consecutive_failures": c.consecutive_failures + 1,
                                       "last_error": (entry["error"] or "")[:1000],
                                       "last_error_at": entry["last_attempt_at"]})
        if advance and entry["status"] in ("delivered", "dead"):
            state["cursor_seq"] = seq
        with self.store.write() as tx:
            repo = SqlEventRouteRepo(tx.conn)
            if not repo.set_state(self.route.tenant, self.route.id, self.service.owner, state, self.clock.now()):
                raise _LostLease  # rolls the log row back too: the new holder sends it again
            repo.save_delivery(self.route.tenant, self.route.id, seq, entry)
            if ok:
                self.delivered += 1
                if self.delivered % PRUNE_EVERY == 0:
                    repo.prune(self.route.tenant, self.route.id, self.policy.log_keep)
        if advance and "cursor_seq" in state:
            self.persisted = max(self.persisted, seq)
            self.persisted_at = time.monotonic()

    def _pause_route(self, reason: str) -> None:
        with self.store.write() as tx:
            SqlEventRouteRepo(tx.conn).set_state(self.route.tenant, self.route.id, self.service.owner, {
                "enabled": False, "paused_reason": reason[:500], "lease_owner": None, "lease_until": None,
                "last_error": reason[:1000], "last_error_at": self.clock.now()}, self.clock.now())
        log.warning("event route %s/%s paused: %s", self.route.tenant, self.route.id, reason)
        self.service.changed()


