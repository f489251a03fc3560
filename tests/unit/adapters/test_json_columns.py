"""JSON columns round-trip every document shape, including a bare number (SQLite stores it as INTEGER/REAL)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import JSON, Column, Integer, MetaData, Table, insert, select

from tvilling.adapters.sql.engine import make_engine


@pytest.mark.parametrize("doc", [5, 2.5, "text", True, None, [1, "a"], {"k": {"n": 1}}])
def test_json_column_round_trip(tmp_path: Path, doc: object) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'j.db'}")
    table = Table("docs", MetaData(), Column("id", Integer, primary_key=True), Column("doc", JSON(none_as_null=True)))
    table.create(engine)
    with engine.begin() as conn:
        conn.execute(insert(table).values(id=1, doc=doc))
    with engine.connect() as conn:
        assert conn.execute(select(table.c.doc)).scalar_one() == doc
