"""Migration 0005 rebuilds ``samples`` as a WITHOUT ROWID table on SQLite and keeps every row."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from tvilling.adapters.sql import migrate


def test_samples_become_without_rowid_and_keep_their_rows(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'm.db'}")
    migrate.upgrade(engine, "0004")
    rows = [{"tenant": "t", "twin_id": "a", "name": "x", "source_time": st, "value": v, "value_json": vj,
             "quality": "good", "reason": "", "unit": None, "received_at": 5}
            for st, v, vj in [(2, 1.5, None), (1, None, '"on"'), (3, 2.5, '{"original": {"value": 1}}')]]
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO samples (tenant, twin_id, name, source_time, value, value_json, quality, "
                             "reason, unit, received_at) VALUES (:tenant, :twin_id, :name, :source_time, :value, "
                             ":value_json, :quality, :reason, :unit, :received_at)"), rows)
    migrate.upgrade(engine)
    with engine.connect() as conn:
        ddl = conn.execute(sa.text("SELECT sql FROM sqlite_master WHERE name = 'samples'")).scalar_one()
        stored = conn.execute(sa.text("SELECT source_time, value, value_json FROM samples ORDER BY 1")).all()
        leftovers = conn.execute(sa.text("SELECT count(*) FROM sqlite_master WHERE name LIKE 'samples_%' "
                                         "AND name != 'samples_recent'")).scalar()
    assert "WITHOUT ROWID" in ddl.upper()
    assert [tuple(r) for r in stored] == [(1, None, '"on"'), (2, 1.5, None), (3, 2.5, '{"original": {"value": 1}}')]
    assert leftovers == 0
