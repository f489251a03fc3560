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


def test_an_events_only_transaction_has_its_id_before_its_first_seq(pg_url: str) -> None:
    """PostgreSQL: the horizon relies on a transaction's id existing before it draws a seq. A transaction whose
    only writes are events (the insight writers) would otherwise get its id at its first insert, after the seq was
    drawn; the events repository asks for the id first — once per transaction."""
    from sqlalchemy import event as sa_event
    from sqlalchemy import text

    engine = make_engine(pg_url)
    migrate.check_version(engine, auto_migrate=True)
    statements: list[str] = []
    sa_event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2].strip()[:40]))
    with engine.connect() as conn, conn.begin():
        repo = SqlEventRepo(conn)
        repo.append([event("insight-1")])
        repo.append([event("insight-2")])
        assert conn.execute(text("SELECT pg_current_xact_id_if_assigned()")).scalar() is not None
    asks = [i for i, s in enumerate(statements) if "pg_current_xact_id()" in s]
    inserts = [i for i, s in enumerate(statements) if s.upper().startswith("INSERT INTO EVENTS")]
    assert len(asks) == 1 and len(inserts) == 2 and asks[0] < inserts[0], statements
    engine.dispose()


def test_an_events_only_transaction_held_open_holds_the_horizon(pg_url: str) -> None:
    """PostgreSQL: a transaction whose only writes are events (as monitoring's and physics' insight writers open)
    draws its seq when the row is built, before the insert would give it a transaction id. A trigger holds the
    insert in that gap while another writer commits a later event: the horizon must stay below the held seq
    until the held transaction commits (without the id asked for first it passed it at once)."""
    import threading

    from sqlalchemy import text

    engine = make_engine(pg_url)
    migrate.check_version(engine, auto_migrate=True)
    with engine.begin() as conn:
        conn.execute(text(
            "CREATE FUNCTION tvl_test_slow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "IF NEW.subject = 'slow' THEN PERFORM pg_sleep(0.6); END IF; RETURN NEW; END $$"))
        conn.execute(text("CREATE TRIGGER tvl_test_slow BEFORE INSERT ON events FOR EACH ROW "
                          "EXECUTE FUNCTION tvl_test_slow()"))
    horizon = LogHorizon(engine)
    before = append(engine, "before")
    assert look(horizon) == before
    inserted, release = threading.Event(), threading.Event()
    held: list[int] = []

    def insight_writer() -> None:
        with engine.connect().execution_options(**{WRITE_OPTION: True}) as conn, conn.begin():
            held.extend(SqlEventRepo(conn).append([event("slow")]))
            inserted.set()
            release.wait(10)

    writer = threading.Thread(target=insight_writer)
    writer.start()
    try:
        time.sleep(0.2)  # the held insert has drawn its seq and sleeps in the trigger
        later = append(engine, "later")
        seen = [look(horizon)]  # while the held row is still being inserted
        assert inserted.wait(5)
        seen += [look(horizon) for _ in range(3)]  # inserted, not committed
        assert held[0] < later
        assert all(s < held[0] for s in seen), (seen, held, later)
    finally:
        release.set()
        writer.join()
    assert look(horizon) >= later
    engine.dispose()


def test_an_outage_is_one_domain_error() -> None:
    """A database that cannot be reached is an UnavailableError (one log line per look), not a driver error."""
    from tvilling.core.errors import UnavailableError

    engine = make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=1")
    with pytest.raises(UnavailableError):
        LogHorizon(engine).safe()
    engine.dispose()
