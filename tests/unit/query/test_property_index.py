"""Property expression indexes must be spelled like the compiled filters, or the planner never uses them."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from tvilling.adapters.sql import schema
from tvilling.adapters.sql.query import execute_query
from tvilling.adapters.sql.query_compile import compile_query
from tvilling.adapters.sql.query_index import create_property_index, property_index_ddl
from tvilling.core.errors import ValidationError
from tvilling.query import parse


def test_ddl_per_dialect_and_rejects_odd_paths() -> None:
    assert property_index_ddl("sqlite", "cfg.sp") == (
        "CREATE INDEX IF NOT EXISTS ix_twins_prop_cfg_sp ON twins (tenant, json_extract(contents, '$.\"cfg\".\"sp\"'))")
    assert property_index_ddl("postgresql", "serial", name="ix_s") == (
        "CREATE INDEX IF NOT EXISTS ix_s ON twins (tenant, (contents #> '{serial}'))")
    with pytest.raises(ValidationError):
        property_index_ddl("sqlite", "a'; DROP TABLE twins; --")


def test_filter_uses_the_property_index(db_url: str) -> None:
    engine = sa.create_engine(db_url)
    schema.metadata.create_all(engine)
    now = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    with engine.begin() as conn:
        conn.execute(schema.twins.insert(), [
            {"tenant": "t", "id": f"tw{i}", "model_id": "dtmi:x;1", "contents": {"serial": f"S{i}", "n": i},
             "meta": {}, "etag": "e", "version": 1, "last_update_time": now} for i in range(2000)])
        create_property_index(conn, "serial")
        conn.execute(sa.text("ANALYZE"))
    text = "SELECT T.n FROM DIGITALTWINS T WHERE T.serial = 'S1234'"
    with engine.connect() as conn:
        page = execute_query(conn, tenant="t", text=text, resolve_models=lambda m, e: {m})
        assert page.items == [{"n": 1234}]
        compiled = compile_query(parse(text), tenant="t", resolve_models=lambda m, e: {m},
                                 dialect=conn.dialect.name)
        sql = str(compiled.stmt.compile(engine, compile_kwargs={"literal_binds": True}))
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SET enable_seqscan = off")  # tiny table: make the choice about the index
        plan = " ".join(str(row[-1]) for row in conn.exec_driver_sql("EXPLAIN " + ("QUERY PLAN " if
                        conn.dialect.name == "sqlite" else "") + sql))
        assert "ix_twins_prop_serial" in plan, plan
    engine.dispose()
