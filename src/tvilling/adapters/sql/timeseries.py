"""Time-series history on SQLite or PostgreSQL: batched group commit, idempotent writes, rollups, queries.

Why this shape:
- One transaction per batch (samples + rollups + quarantine + twin state): an ack sent after ``write_batch``
  returns covers everything the batch changed (G1), and a crash leaves either all of it or none of it.
- ``INSERT … ON CONFLICT DO NOTHING RETURNING key`` tells exactly which rows are new, so redelivered exact
  duplicates add no rows and are not counted twice in rollups (G2, D-10). Rows that were *not* inserted are
  compared with the stored value in the same transaction: a different value is a conflicting duplicate, the
  first one is kept and the newcomer goes to quarantine as ``conflict`` (Q-07).
- Rollups (1 min, 1 h) are maintained at ingest by additive upserts (count, sum, min, max, last-by-time), so late
  data (Q-08) updates them correctly and long-range bucketed queries never scan raw samples.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from tvilling.adapters.sql.engine import WRITE_OPTION, make_engine, verify_durability
from tvilling.adapters.sql.recent import merge_recent, recent_for
from tvilling.adapters.sql.schema import quarantine, raw_samples, rollups, samples
from tvilling.adapters.sql.series import SeriesIds, fetch_or_create, series_id_of
from tvilling.adapters.sql.timeseries_batch import (
    PLAIN_CHUNKS,
    Sample,
    SeriesBatch,
    SeriesKey,
    execute_chunked,
    group_by_series,
    in_key_order,
    plain_insert_sql,
    plain_rows_sql,
    rollup_rows,
    rollup_upsert_sql,
)
from tvilling.adapters.sql.timeseries_read import (
    AGGREGATES,
    IN_CHUNK,
    MAX_BUCKETS,
    ROLLUP_WIDTHS_S,
    HistoryReader,
    iso_us,
)
from tvilling.adapters.sql.twin_state import LatestUpdate, apply_latest, mark_quality_in, record_events
from tvilling.core.events import Event

_SQLITE_INSERT = ("INSERT INTO {table} (series_id, source_time, value, value_json, quality, reason, unit, received_at) "
                  "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING")
# A plain sample (Good, no original, numeric or null) that does not go in by a multi-row statement
# (timeseries_batch.plain_insert_sql) binds 4 parameters; ``received_at`` is the same for the whole batch and goes in
# as an integer literal (binding a parameter costs the driver ~0.3 µs).
_SQLITE_INSERT_PLAIN = ("INSERT INTO {table} (series_id, source_time, value, value_json, quality, reason, unit, "
                        "received_at) VALUES (?, ?, ?, NULL, 'good', '', ?, {received_at:d}) ON CONFLICT DO NOTHING")
RECENT = "samples_recent"  # SQLite: where small commits of new samples append (adapters/sql/recent.py)
SampleKey = tuple[int, int]  # (series_id, source_time)
Rejected = tuple[SeriesKey, Sample]  # a sample whose key was already stored (duplicate or conflict)
# The rollup upsert on the driver: timeseries_batch.rollup_upsert_sql (what SQLAlchemy compiles, plus one guard).
_SQLITE_ROLLUP = rollup_upsert_sql(1)


@dataclass(slots=True)  # not frozen: frozen dataclasses cost ~2x to build, and this is built per sample
class SampleRow:
    tenant: str
    twin_id: str
    name: str
    source_time_us: int
    value: float | None
    value_json: Any
    quality: str
    reason: str
    unit: str | None


@dataclass(frozen=True, slots=True)
class QuarantineRow:
    tenant: str
    source: str
    address: str
    reason: str
    detail: str = ""
    twin_id: str | None = None
    name: str | None = None
    raw: bytes | None = None


@dataclass
class BatchResult:
    inserted: int = 0
    duplicates: int = 0
    conflicts: int = 0
    quarantined: int = 0
    changes: list[dict[str, Any]] = field(default_factory=list)  # twin property changes
    events: list[Event] = field(default_factory=list)  # recorded in the same transaction; publish after commit


def connect_durable(url: str) -> Engine:
    """The shared engine factory in the durable profile (SQLite WAL + synchronous=FULL), durability verified."""
    eng = make_engine(url, profile="durable")
    verify_durability(eng, "durable")
    return eng


def _insert(conn: Connection, table: sa.Table) -> Any:
    return (postgresql.insert(table) if conn.dialect.name == "postgresql" else sqlite.insert(table))


def _all_plain(group: list[Sample], unit: str | None) -> list[Any] | None:
    """``[t0, v0, t1, v1, …]`` when every sample of the group is plain with the same unit, else None. Columns are
    transposed and checked by builtins (the common case costs no Python step per sample)."""
    if not group:
        return []
    times, values, value_json, qualities, reasons, units = zip(*group, strict=True)
    n = len(times)
    if (value_json.count(None) != n or qualities.count("good") != n or reasons.count("") != n
            or units.count(unit) != n):
        return None
    flat: list[Any] = [None] * (2 * n)
    flat[0::2] = times
    flat[1::2] = values
    return flat


class TimeSeriesStore(HistoryReader):
    """History store. Synchronous (SQLAlchemy Core); the async pipeline calls it from a worker thread."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.series = SeriesIds()

    # -- write ----------------------------------------------------------------------------------------------
    def write_batch(self, samples_in: Sequence[SampleRow], quarantined: Sequence[QuarantineRow],
                    latest: Sequence[LatestUpdate], received_at_us: int) -> BatchResult:
        return self.write_series(group_by_series(samples_in), quarantined, latest, received_at_us)

    def write_series(self, by_series: SeriesBatch, quarantined: Sequence[QuarantineRow],
                     latest: Sequence[LatestUpdate], received_at_us: int) -> BatchResult:
        """:meth:`write_batch` with the samples already grouped by series (what the ingest pipeline builds)."""
        groups = in_key_order(by_series)
        missing = self.series.missing(groups)
        if missing:  # new series: created and committed on their own first, so their ids can be cached
            with self._write() as conn:
                created = fetch_or_create(conn, missing)
            self.series.remember(created)
        with self._write() as conn:
            return self._write_groups(conn, groups, quarantined, latest, received_at_us)

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        # BEGIN IMMEDIATE on SQLite (engine.py): take the write lock up front, never upgrade a read lock.
        with self.engine.connect().execution_options(**{WRITE_OPTION: True}) as conn, conn.begin():
            yield conn

    def _write_groups(self, conn: Connection, groups: SeriesBatch,
                      quarantined: Sequence[QuarantineRow], latest: Sequence[LatestUpdate],
                      received_at_us: int) -> BatchResult:
        result = BatchResult()
        q_rows = [self._q_params(q, received_at_us) for q in quarantined]
        if groups:
            ids = self.series.resolve(conn, groups.keys())
            if conn.dialect.name == "sqlite":
                inserted, rejected = self._insert_sqlite(conn, groups, ids, received_at_us)
            else:
                inserted, rejected = self._insert_returning(conn, groups, ids, received_at_us)
            result.inserted = sum(len(g) for g in inserted.values())
            if rejected:
                dups, conflicts = self._classify(conn, rejected, ids)
                result.duplicates, result.conflicts = dups, len(conflicts)
                for (tenant, twin_id, name), s, stored in conflicts:
                    q_rows.append(self._q_params(QuarantineRow(
                        tenant=tenant, source="store", address=f"{twin_id}/{name}", reason="conflict",
                        detail=json.dumps({"source_time": iso_us(s[0]), "kept": stored,
                                           "rejected": s[1] if s[1] is not None else s[2]}, default=str),
                        twin_id=twin_id, name=name), received_at_us))
            self._rollup(conn, inserted)
        if q_rows:
            conn.execute(sa.insert(quarantine), q_rows)
        result.quarantined = len(q_rows)
        if latest:
            result.changes = apply_latest(conn, latest, received_at_us)
            result.events = record_events(conn, result.changes, "twin.telemetry", received_at_us)
        return result

    @staticmethod
    def _insert_returning(conn: Connection, groups: SeriesBatch, ids: dict[SeriesKey, int],
                          received_at_us: int) -> tuple[SeriesBatch, list[Rejected]]:
        params = [{"series_id": ids[key], "source_time": s[0], "value": s[1], "value_json": s[2], "quality": s[3],
                   "reason": s[4], "unit": s[5], "received_at": received_at_us} for key, g in groups.items() for s in g]
        c = samples.c
        stmt = _insert(conn, samples).on_conflict_do_nothing().returning(c.series_id, c.source_time)
        new_keys = {(int(r[0]), int(r[1])) for r in conn.execute(stmt, params)}
        inserted: SeriesBatch = {}
        rejected: list[Rejected] = []
        for key, g in groups.items():
            sid = ids[key]
            for s in g:
                k = (sid, s[0])
                if k in new_keys:
                    new_keys.discard(k)  # a second row with the same key in this batch was not inserted
                    inserted.setdefault(key, []).append(s)
                else:
                    rejected.append((key, s))
        return inserted, rejected

    def _insert_sqlite(self, conn: Connection, groups: SeriesBatch, ids: dict[SeriesKey, int],
                       received_at_us: int) -> tuple[SeriesBatch, list[Rejected]]:
        """SQLite fast path: statements on the driver (``_insert_rows``; SQLAlchemy's per-row parameter
        processing cost more than SQLite itself). When the inserted-row count shows that some keys already existed (a
        redelivery, or the same key twice in this batch), roll back to a savepoint and redo the batch knowing
        exactly which keys are new. The common case (every row new) builds no key tuples at all."""
        total = sum(len(g) for g in groups.values())
        cur = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        recent = recent_for(self.engine)
        try:
            if recent.accepts(cur, groups, ids):  # every sample newer than its series' newest: append (recent.py)
                recent.appended(groups, ids, self._insert_rows(cur, groups, ids, received_at_us, RECENT))
                if recent.merge_due():
                    recent.merge(cur)
                return groups, []
            recent.merge(cur)  # the checks below look at samples only
            recent.stored(groups, ids)
            cur.execute("SAVEPOINT tvl_samples")
            if self._insert_rows(cur, groups, ids, received_at_us) == total:
                cur.execute("RELEASE tvl_samples")
                return groups, []
            cur.execute("ROLLBACK TO tvl_samples")
            cur.execute("RELEASE tvl_samples")
            seen: set[SampleKey] = set()
            uniq: list[tuple[SeriesKey, SampleKey, Sample]] = []
            rejected: list[Rejected] = []
            for key, g in groups.items():
                sid = ids[key]
                for s in g:
                    k = (sid, s[0])
                    if k in seen:
                        rejected.append((key, s))
                    else:
                        seen.add(k)
                        uniq.append((key, k, s))
            existing = self._existing(conn, [k for _, k, _ in uniq])
            new: SeriesBatch = {}
            for key, k, s in uniq:
                if k in existing:
                    rejected.append((key, s))
                else:
                    new.setdefault(key, []).append(s)
            self._insert_rows(cur, new, ids, received_at_us)
            return new, rejected
        finally:
            cur.close()

    @staticmethod
    def _insert_rows(cur: Any, groups: SeriesBatch, ids: dict[SeriesKey, int],
                     received_at_us: int, table: str = "samples") -> int:
        """Insert in series order (timeseries_batch: consecutive inserts land on the same b-tree leaf). A series'
        plain samples (Good, no original, the series' first unit) go in by multi-row statements of
        ``PLAIN_CHUNKS`` rows; what is left over from every series (in a steady stream: all of it, 1-2 samples per
        series) by multi-row statements across series (``plain_rows_sql``), the last few row by row with 4
        parameters; every other sample with all 8. Returns the number of rows inserted."""
        singles: list[tuple[Any, ...]] = []
        full: list[tuple[Any, ...]] = []
        dumps = json.dumps
        inserted = 0
        for key, g in groups.items():
            sid = ids[key]
            unit = g[0][5]
            # t0, v0, t1, v1, ...; below the smallest chunk the row-by-row path takes everything anyway
            flat = _all_plain(g, unit) if len(g) >= PLAIN_CHUNKS[-1] else None
            if flat is None:
                flat = []
                for t, v, vj, quality, reason, u in g:
                    if vj is None and quality == "good" and reason == "" and u == unit:
                        flat.append(t)
                        flat.append(v)
                    else:
                        full.append((sid, t, v, None if vj is None else dumps(vj), quality, reason, u,
                                     received_at_us))
            i, end = 0, len(flat)
            for rows in PLAIN_CHUNKS:
                while end - i >= 2 * rows:
                    cur.execute(plain_insert_sql(rows, table), (received_at_us, sid, unit, *flat[i:i + 2 * rows]))
                    inserted += cur.rowcount
                    i += 2 * rows
            if i < end:
                singles.extend((sid, flat[k], flat[k + 1], unit) for k in range(i, end, 2))
        if singles:
            inserted += execute_chunked(cur, singles, lambda n: plain_rows_sql(n, table),
                                        _SQLITE_INSERT_PLAIN.format(table=table, received_at=int(received_at_us)),
                                        (received_at_us,))
        if full:
            cur.executemany(_SQLITE_INSERT.format(table=table), full)
            inserted += cur.rowcount
        return int(inserted)

    @staticmethod
    def _existing(conn: Connection, keys: list[SampleKey]) -> set[SampleKey]:
        c = samples.c
        found: set[SampleKey] = set()
        for i in range(0, len(keys), IN_CHUNK):
            q = sa.select(c.series_id, c.source_time).where(
                sa.tuple_(c.series_id, c.source_time).in_(keys[i:i + IN_CHUNK]))
            found.update((int(r[0]), int(r[1])) for r in conn.execute(q))
        return found

    @staticmethod
    def _q_params(q: QuarantineRow, received_at_us: int) -> dict[str, Any]:
        return {"tenant": q.tenant, "source": q.source[:64], "address": q.address[:1024], "twin_id": q.twin_id,
                "name": q.name, "reason": q.reason, "detail": q.detail[:4000], "raw": q.raw,
                "received_at": received_at_us}

    @staticmethod
    def _classify(conn: Connection, rejected: list[Rejected], ids: dict[SeriesKey, int]
                  ) -> tuple[int, list[tuple[SeriesKey, Sample, Any]]]:
        c = samples.c
        stored: dict[SampleKey, Any] = {}
        keys = list({(ids[key], s[0]) for key, s in rejected})
        for i in range(0, len(keys), IN_CHUNK):
            q = sa.select(c.series_id, c.source_time, c.value, c.value_json).where(
                sa.tuple_(c.series_id, c.source_time).in_(keys[i:i + IN_CHUNK]))
            for row in conn.execute(q):
                stored[(int(row[0]), int(row[1]))] = row[2] if row[2] is not None else row[3]
        dups = 0
        conflicts: list[tuple[SeriesKey, Sample, Any]] = []
        for key, s in rejected:
            kept = stored.get((ids[key], s[0]))
            mine = s[1] if s[1] is not None else s[2]
            if kept == mine:
                dups += 1
            else:
                conflicts.append((key, s, kept))
        return dups, conflicts

    def _rollup(self, conn: Connection, groups: SeriesBatch) -> None:
        rows = rollup_rows(groups)
        if not rows:
            return
        if conn.dialect.name == "sqlite":
            cur = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
            try:
                execute_chunked(cur, rows, rollup_upsert_sql, _SQLITE_ROLLUP)
            finally:
                cur.close()
            return
        names = ("tenant", "twin_id", "name", "width_s", "bucket_start", "count", "sum", "min", "max", "last",
                 "last_time")
        params = [dict(zip(names, r, strict=True)) for r in rows]
        stmt = _insert(conn, rollups)
        ex, r = stmt.excluded, rollups.c
        least, greatest = (sa.func.least, sa.func.greatest) if conn.dialect.name == "postgresql" \
            else (sa.func.min, sa.func.max)
        stmt = stmt.on_conflict_do_update(
            index_elements=[r.tenant, r.twin_id, r.name, r.width_s, r.bucket_start],
            set_={"count": r.count + ex.count, "sum": r.sum + ex.sum, "min": least(r.min, ex.min),
                  "max": greatest(r.max, ex.max),
                  "last": sa.case((ex.last_time >= r.last_time, ex.last), else_=r.last),
                  "last_time": greatest(r.last_time, ex.last_time)})
        conn.execute(stmt, params)

    def mark_quality(self, tenant: str, points: Sequence[tuple[str, str]], quality: str, reason: str,
                     now_us: int) -> BatchResult:
        """Change only the quality of twin properties (e.g. stale on silence, Q-10); the value stays."""
        with self._write() as conn:
            changes = mark_quality_in(conn, tenant, points, quality, reason, now_us)
            evs = record_events(conn, changes, "twin.quality", now_us)
        return BatchResult(changes=changes, events=evs)

    def recompute_rollups(self, tenant: str, twin_id: str, name: str) -> None:
        """Rebuild one point's rollups from raw samples (repair tool; ingest keeps them current)."""
        c, r = raw_samples().c, rollups.c
        with self._write() as conn:
            conn.execute(sa.delete(rollups).where(r.tenant == tenant, r.twin_id == twin_id, r.name == name))
            points: list[Sample] = [(int(st), v, None, "", "", None) for st, v in conn.execute(
                sa.select(c.source_time, c.value).where(c.series_id == series_id_of(tenant, twin_id, name),
                                                        c.value.is_not(None)))]
            self._rollup(conn, {(tenant, twin_id, name): points})

    def apply_retention(self, now_us: int, *, raw_s: float, minute_s: float, hour_s: float | None = None) -> int:
        """Delete raw samples and rollups older than their retention; returns rows deleted."""
        deleted = 0
        with self._write() as conn:
            if conn.dialect.name == "sqlite":
                merge_recent(self.engine, conn)
            deleted += conn.execute(sa.delete(samples).where(
                samples.c.source_time < now_us - int(raw_s * 1e6))).rowcount or 0
            deleted += conn.execute(sa.delete(rollups).where(
                rollups.c.width_s == 60, rollups.c.bucket_start < now_us - int(minute_s * 1e6))).rowcount or 0
            if hour_s is not None:
                deleted += conn.execute(sa.delete(rollups).where(
                    rollups.c.width_s == 3600, rollups.c.bucket_start < now_us - int(hour_s * 1e6))).rowcount or 0
        return deleted


__all__ = ["AGGREGATES", "MAX_BUCKETS", "ROLLUP_WIDTHS_S", "BatchResult", "LatestUpdate", "QuarantineRow", "SampleRow",
           "TimeSeriesStore", "connect_durable", "iso_us"]
