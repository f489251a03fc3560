"""Migration 0006 moves samples to integer series ids and back, on SQLite and PostgreSQL, keeping every row."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command

from tvilling.adapters.sql import migrate
from tvilling.adapters.sql.engine import WRITE_OPTION, make_engine
from tvilling.adapters.sql.timeseries import TimeSeriesStore

OLD = [("t1", "a", "x", 2, 1.5, None), ("t1", "a", "x", 1, None, '"on"'), ("t1", "a", "y", 1, 2.0, None),
       ("t2", "a", "x", 5, 3.0, None)]


def _old_rows(conn: sa.Connection) -> list[tuple[object, ...]]:
    return [tuple(r) for r in conn.execute(sa.text(
        "SELECT tenant, twin_id, name, source_time, value, value_json FROM samples ORDER BY 1, 2, 3, 4"))]


def test_samples_move_to_series_ids_and_back(db_url: str) -> None:
    engine = make_engine(db_url)
    migrate.upgrade(engine, "0005")
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO samples (tenant, twin_id, name, source_time, value, value_json, quality, "
                             "reason, unit, received_at) VALUES (:t, :w, :n, :st, :v, :vj, 'good', '', NULL, 7)"),
                     [{"t": t, "w": w, "n": n, "st": st, "v": v, "vj": vj} for t, w, n, st, v, vj in OLD])
        before = _old_rows(conn)
    migrate.upgrade(engine)
    with engine.connect() as conn:
        n_series = conn.execute(sa.text("SELECT count(*) FROM series")).scalar_one()
        leftovers = conn.execute(sa.text("SELECT count(*) FROM samples s LEFT JOIN series r ON r.id = s.series_id "
                                         "WHERE r.id IS NULL")).scalar_one()
    assert (n_series, leftovers) == (3, 0)
    store = TimeSeriesStore(engine)  # the store reads the migrated rows through their series
    assert [(p["t"], p["value"]) for p in store.history("t1", "a", "x", 0, 10)] == [(1, "on"), (2, 1.5)]
    assert [p["t"] for p in store.history("t2", "a", "x", 0, 10)] == [5]
    assert store.history("t2", "a", "y", 0, 10) == []  # another tenant's series is not reachable
    cfg = migrate._config()
    with engine.connect().execution_options(**{WRITE_OPTION: True}) as conn, conn.begin():
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0005")
    with engine.connect() as conn:
        assert _old_rows(conn) == before
        assert not sa.inspect(conn).has_table("series")
    engine.dispose()
