"""Retention: delete history older than its keep time, in small batches (one short transaction each).

A batch removes at most ``batch_rows`` rows, located by primary key (``samples`` may be a ``WITHOUT ROWID``
table on SQLite, so there is no portable physical row id), so each write transaction is short and ingestion's
group commits interleave with a long purge instead of waiting behind it.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy import Engine

from tvilling.adapters.sql.engine import WRITE_OPTION
from tvilling.adapters.sql.recent import merge_recent
from tvilling.adapters.sql.schema import metadata


@dataclass(frozen=True, slots=True)
class Target:
    """One class of rows with a time column in microseconds since the Unix epoch."""

    name: str  # raw | rollup_1m | rollup_1h | quarantine
    table: str
    time_column: str
    where: str = ""  # an extra fixed condition (the rollup width)


TARGETS = {
    "raw": Target("raw", "samples", "source_time"),
    "rollup_1m": Target("rollup_1m", "rollups", "bucket_start", "width_s = 60"),
    "rollup_1h": Target("rollup_1h", "rollups", "bucket_start", "width_s = 3600"),
    "quarantine": Target("quarantine", "quarantine", "received_at"),
}


def delete_batch(engine: Engine, target: Target, cutoff_us: int, batch_rows: int) -> int:
    """Delete up to ``batch_rows`` rows of ``target`` older than ``cutoff_us``; returns how many went."""
    cond = f"{target.time_column} < :cutoff" + (f" AND {target.where}" if target.where else "")
    key = ", ".join(c.name for c in metadata.tables[target.table].primary_key.columns)
    sql = (f"DELETE FROM {target.table} WHERE ({key}) IN "
           f"(SELECT {key} FROM {target.table} WHERE {cond} LIMIT :n)")
    with engine.connect().execution_options(**{WRITE_OPTION: True}) as conn, conn.begin():
        if target.table == "samples" and conn.dialect.name == "sqlite":
            merge_recent(engine, conn)  # old rows may still wait in samples_recent (a replayed history)
        result = conn.execute(sa.text(sql), {"cutoff": cutoff_us, "n": batch_rows})
        return int(result.rowcount or 0)
