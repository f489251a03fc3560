"""An event route's lease (adapters/sql/event_routes.py), on SQLite and PostgreSQL: a claim says whether the lease
was held without a break, state is written only under an unexpired lease, and the cursor never moves back."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from tvilling.adapters.sql import migrate
from tvilling.adapters.sql.engine import WRITE_OPTION, make_engine
from tvilling.adapters.sql.event_routes import SqlEventRouteRepo
from tvilling.core.event_routes import FILTER_KEYS, EventRoute

T0 = datetime(2026, 1, 1, tzinfo=UTC)
LEASE = timedelta(seconds=30)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    e = make_engine(db_url)
    migrate.check_version(e, auto_migrate=True)
    with e.connect().execution_options(**{WRITE_OPTION: True}) as conn, conn.begin():
        SqlEventRouteRepo(conn).insert(EventRoute(
            tenant="acme", id="rt-1", name="cmms", url="http://127.0.0.1:1/h", filter=dict.fromkeys(FILTER_KEYS),
            enabled=True, secret_version=1, cursor_seq=0, created_by="t", created_at=T0, updated_by="t",
            updated_at=T0))
    yield e
    e.dispose()


def claim(engine: Engine, owner: str, now: datetime) -> str | None:
    with engine.connect().execution_options(**{WRITE_OPTION: True}) as conn, conn.begin():
        return SqlEventRouteRepo(conn).claim("acme", "rt-1", owner, now, now + LEASE)


def set_cursor(engine: Engine, owner: str, seq: int, now: datetime) -> bool:
    with engine.connect().execution_options(**{WRITE_OPTION: True}) as conn, conn.begin():
        return SqlEventRouteRepo(conn).set_state("acme", "rt-1", owner, {"cursor_seq": seq}, now)


def cursor(engine: Engine) -> int:
    with engine.connect() as conn:
        route = SqlEventRouteRepo(conn).get("acme", "rt-1")
        assert route is not None
        return route.cursor_seq


def test_a_claim_says_whether_the_lease_was_kept(engine: Engine) -> None:
    assert claim(engine, "a", T0) == "taken"
    assert claim(engine, "a", T0 + timedelta(seconds=10)) == "kept"
    assert claim(engine, "b", T0 + timedelta(seconds=20)) is None  # a's lease runs to T0 + 40 s
    late = T0 + timedelta(seconds=100)  # a's lease ran out: taken again, not kept (b could have held it)
    assert claim(engine, "a", late) == "taken"


def test_state_is_written_only_under_an_unexpired_lease_and_the_cursor_never_moves_back(engine: Engine) -> None:
    assert claim(engine, "a", T0) == "taken"
    assert set_cursor(engine, "a", 10, T0 + timedelta(seconds=1))
    assert not set_cursor(engine, "a", 11, T0 + LEASE + timedelta(seconds=1))  # expired: refused
    assert not set_cursor(engine, "b", 11, T0 + timedelta(seconds=1))  # not the holder
    assert claim(engine, "b", T0 + LEASE + timedelta(seconds=2)) == "taken"
    assert set_cursor(engine, "b", 20, T0 + LEASE + timedelta(seconds=3))
    later = T0 + 3 * LEASE
    assert claim(engine, "a", later) == "taken"
    assert set_cursor(engine, "a", 12, later + timedelta(seconds=1))  # a stale position of a's
    assert cursor(engine) == 20
