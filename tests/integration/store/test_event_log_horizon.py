"""The event log's safe horizon (adapters/sql/event_log.py): an event route's cursor must never pass an event that
is still being committed. On PostgreSQL a later ``seq`` can commit first; the horizon waits for the earlier one."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine

from tvilling.adapters.sql import migrate
from tvilling.adapters.sql.engine import WRITE_OPTION, make_engine
from tvilling.adapters.sql.event_log import FRESH_S, LogHorizon
from tvilling.adapters.sql.repos import SqlEventRepo
from tvilling.core.events import Event


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    e = make_engine(db_url)
    migrate.check_version(e, auto_migrate=True)
    yield e
    e.dispose()


def event(subject: str) -> Event:
    return Event(kind="workorder.created", tenant="acme", subject=subject, time=datetime.now(UTC), context_id="c")


def look(horizon: LogHorizon) -> int:
    time.sleep(FRESH_S * 1.5)  # past the shared-look window
    return horizon.safe()


def append(engine: Engine, subject: str) -> int:
    with engine.connect().execution_options(**{WRITE_OPTION: True}) as conn, conn.begin():
        return SqlEventRepo(conn).append([event(subject)])[0]


def test_committed_events_are_within_the_horizon(engine: Engine) -> None:
    horizon = LogHorizon(engine)
    assert look(horizon) == 0
    seqs = [append(engine, f"t{i}") for i in range(3)]
    assert look(horizon) == seqs[-1]


def test_a_later_seq_committed_first_waits_for_the_earlier_one(pg_url: str) -> None:
    """PostgreSQL only: SQLite serialises writers, so there a later seq cannot commit first."""
    engine = make_engine(pg_url)
    migrate.check_version(engine, auto_migrate=True)
    horizon = LogHorizon(engine)
    before = append(engine, "before")
    assert look(horizon) == before
    slow = engine.connect()
    slow_tx = slow.begin()
    held = SqlEventRepo(slow).append([event("slow")])[0]  # seq taken, not committed
    later = append(engine, "later")
    assert later > held
    for _ in range(3):
        assert look(horizon) == before  # `later` is visible, but `held` may still commit below it
    slow_tx.commit()
    slow.close()
    assert look(horizon) >= later
    engine.dispose()
