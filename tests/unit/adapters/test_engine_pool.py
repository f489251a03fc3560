"""The pool hands back the connection used last (LIFO), so a steady writer keeps a warm SQLite page cache."""

from __future__ import annotations

from pathlib import Path

from tvilling.adapters.sql.engine import make_engine


def test_pool_returns_the_most_recently_used_connection(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'p.db'}")
    try:
        first, second = engine.connect(), engine.connect()
        a, b = first.connection.driver_connection, second.connection.driver_connection
        assert a is not b
        first.close()
        second.close()  # returned last
        with engine.connect() as again:
            assert again.connection.driver_connection is b  # FIFO would give a
    finally:
        engine.dispose()
