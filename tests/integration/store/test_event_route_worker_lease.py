"""An event route worker and its lease (app/event_route_worker.py), on SQLite and PostgreSQL, with a clock the test
moves (each POST "takes" some seconds of it) and a sender that records what the database says when an attempt
starts: the lease is renewed only when what is left of it would not outlast an attempt's whole time limit plus a
margin (not before every attempt: that cost a durable write per delivery), every attempt starts under a lease that
outlasts it, and an attempt that needs a renewal which fails does not start."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
import sqlalchemy as sa
from pydantic import SecretStr

from tvilling.adapters.sql.event_routes import SqlEventRouteRepo
from tvilling.adapters.sql.repos import aware
from tvilling.adapters.sql.schema_event_routes import event_routes
from tvilling.adapters.sql.store import SqlStore
from tvilling.adapters.webhook_http import Answer
from tvilling.app.event_delivery import EventDelivery
from tvilling.app.event_route_worker import RouteWorker
from tvilling.app.event_routes import EventRouteService
from tvilling.app.services import Services
from tvilling.bootstrap import open_store
from tvilling.core.events import Event
from tvilling.core.roles import Role
from tvilling.settings import Settings

LEASE_S, TIMEOUT_S = 45.0, 10.0
NEED_S = TIMEOUT_S + LEASE_S / 3  # what an attempt needs left: its time limit and a third of the lease
POST_S = 2.0  # clock time each POST takes


class ManualClock:
    """now() and monotonic() move together, only when the test says so."""

    def __init__(self) -> None:
        self.t = datetime(2026, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        return self.t

    def monotonic(self) -> float:
        return self.t.timestamp()

    def advance(self, seconds: float) -> None:
        self.t += timedelta(seconds=seconds)


@dataclass
class Started:
    """One attempt as it started: the clock, and the lease in the database."""

    at: datetime
    owner: str | None
    until: datetime | None

    @property
    def left_s(self) -> float:
        assert self.until is not None
        return (self.until - self.at).total_seconds()


@dataclass
class Rig:
    store: SqlStore
    clock: ManualClock
    routes: EventRouteService
    route_id: str
    delivery: EventDelivery | None = None
    started: list[Started] = field(default_factory=list)
    claims: list[datetime] = field(default_factory=list)  # when the worker went to the database for its lease
    on_post: Callable[[int], None] = lambda _n: None

    def lease(self) -> tuple[str | None, datetime | None]:
        c = event_routes.c
        with self.store.read() as tx:
            row = tx.conn.execute(sa.select(c.lease_owner, c.lease_until).where(
                c.tenant == "acme", c.id == self.route_id)).one()
        return row.lease_owner, aware(row.lease_until) if row.lease_until is not None else None

    def cursor(self) -> int:
        with self.store.read() as tx:
            route = SqlEventRouteRepo(tx.conn).get("acme", self.route_id)
        assert route is not None
        return route.cursor_seq

    def add_events(self, n: int) -> list[int]:
        with self.store.write() as tx:
            return tx.events.append([Event(kind="workorder.created", tenant="acme", subject="pump-1",
                                           time=self.clock.now(), context_id=f"c{i}") for i in range(n)])

    # the sender ------------------------------------------------------------------------------------------------
    timeout_s = TIMEOUT_S

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> Answer:
        owner, until = self.lease()
        self.started.append(Started(self.clock.now(), owner, until))
        self.clock.advance(POST_S)
        self.on_post(len(self.started))
        return Answer(204, None)

    async def aclose(self) -> None:
        return None


@pytest.fixture
def rig(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Rig]:
    settings = Settings(db=SecretStr(db_url), data_dir=tmp_path, webhook_lease_s=LEASE_S,
                        webhook_timeout_s=TIMEOUT_S, webhook_poll_s=0.05)
    store, _info = open_store(settings)
    clock = ManualClock()
    services = Services.build(store, clock=clock)
    routes = EventRouteService(services, settings)
    view, _secret = routes.create("acme", name="cmms", url="http://127.0.0.1:9/hooks", filter={"kinds": ["workorder"]},
                                  role=Role.ENGINEER, actor="test")
    made = Rig(store, clock, routes, view["id"])
    made.delivery = EventDelivery(services, routes, settings, sender=cast(Any, made))
    claim = SqlEventRouteRepo.claim

    def counted(repo: SqlEventRouteRepo, *args: Any, **kwargs: Any) -> str | None:
        made.claims.append(clock.now())
        return claim(repo, *args, **kwargs)

    monkeypatch.setattr(SqlEventRouteRepo, "claim", counted)
    yield made
    store.engine.dispose()


async def eventually(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def run_worker(rig: Rig, condition: Callable[[], bool], *, then_s: float = 0.0) -> None:
    """Run the route's worker until ``condition``, and ``then_s`` seconds more."""
    assert rig.delivery is not None
    worker = RouteWorker(rig.delivery, rig.routes.route("acme", rig.route_id))
    try:
        await eventually(condition)
        await asyncio.sleep(then_s)
    finally:
        worker.task.cancel()
        await asyncio.gather(worker.task, return_exceptions=True)


async def test_consecutive_deliveries_share_a_lease_that_outlasts_every_attempt(rig: Rig) -> None:
    """30 deliveries over 60 s of the clock: the lease (45 s) is written when taken and renewed twice, by the
    attempts that would have started with no more than timeout + a third of the lease (25 s) left — not 30 times."""
    seqs = rig.add_events(30)
    await run_worker(rig, lambda: rig.cursor() == seqs[-1])
    assert min(s.left_s for s in rig.started) > NEED_S  # every attempt had its whole time limit, and the margin
    owner = rig.started[0].owner
    assert owner is not None and all(s.owner == owner for s in rig.started)
    assert len(rig.started) == 30  # none sent twice (a lease run out mid-stream re-sends)
    renewed = [i for i in range(1, 30) if rig.started[i].until != rig.started[i - 1].until]
    assert renewed == [10, 20]  # at 20 s and 40 s: 25 s left of the lease (at 18 s, 27 s were still enough)
    assert rig.started[10].left_s == pytest.approx(LEASE_S)  # renewed right before it
    during = [t for t in rig.claims if rig.started[0].at < t <= rig.started[-1].at]
    assert len(during) == 2  # two database round trips for the lease among 30 attempts (it was one per attempt)


async def test_an_attempt_that_needs_a_renewal_which_fails_does_not_start(rig: Rig) -> None:
    """The route is paused (in the database) during the 3rd POST, after which 10 s of the lease are left: enough
    to record that delivery, not to start another attempt. The renewal it needs is refused: nothing more is sent."""
    seqs = rig.add_events(5)

    def on_post(n: int) -> None:
        if n == 3:
            with rig.store.write() as tx:
                assert SqlEventRouteRepo(tx.conn).update("acme", rig.route_id, {"enabled": False})
            rig.clock.advance(LEASE_S - 10 - 3 * POST_S)  # 35 s into the lease

    rig.on_post = on_post
    await run_worker(rig, lambda: rig.cursor() == seqs[2] and len(rig.claims) >= 2, then_s=0.3)  # a 4th?
    assert len(rig.started) == 3 and rig.cursor() == seqs[2]
    assert [s.left_s for s in rig.started] == [LEASE_S, LEASE_S - POST_S, LEASE_S - 2 * POST_S]
