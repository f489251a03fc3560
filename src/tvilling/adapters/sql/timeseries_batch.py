"""Per-batch work of the history store done in Python, before SQL: grouping samples by series and folding them
into 1 min / 1 h rollup rows.

Why grouping instead of sorting: SQLite inserts cost less in key order (consecutive rows land on the same b-tree
leaf), and a batch from many devices interleaves series. Grouping by series (one dict lookup per sample) and sorting
only the series keys gives the same leaf locality at ~40 % of the cost of sorting every row; within a series rows
stay in arrival order, which is time order for a well-behaved device. The rollup pass then walks each group once
with the running bucket in local variables instead of one dict lookup per sample.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import lru_cache
from itertools import chain
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from tvilling.adapters.sql.timeseries import SampleRow

SeriesKey = tuple[str, str, str]  # (tenant, twin_id, name)
# One sample of a known series: (source_time_us, value, value_json, quality, reason, unit). A tuple, not an object:
# the ingest path builds one per point, and a tuple costs a fifth of a slotted dataclass to build.
Sample = tuple[int, float | None, Any, str, str, str | None]
SeriesBatch = dict[SeriesKey, list[Sample]]
MINUTE_US = 60_000_000
HOUR_US = 3_600_000_000
# Rows per multi-row INSERT of one series' plain samples, largest first; a remainder below the last size goes in row
# by row. A few fixed sizes keep the statements few, so the driver's statement cache holds them prepared.
PLAIN_CHUNKS = (64, 16, 4)
FAST_FOLD_MIN = 8  # samples in a group from which the builtin rollup fold is tried (measured: 2 samples lose)


def group_by_series(rows: Iterable[SampleRow]) -> SeriesBatch:
    """Samples by (tenant, twin, name), each series' samples in arrival order."""
    groups: SeriesBatch = {}
    for s in rows:
        key = (s.tenant, s.twin_id, s.name)
        g = groups.get(key)
        if g is None:
            groups[key] = g = []
        g.append((s.source_time_us, s.value, s.value_json, s.quality, s.reason, s.unit))
    return groups


def in_key_order(groups: SeriesBatch) -> SeriesBatch:
    return {k: groups[k] for k in sorted(groups)}


@lru_cache(maxsize=2 * len(PLAIN_CHUNKS))
def plain_rows_sql(rows: int, table: str = "samples") -> str:
    """SQLite INSERT of ``rows`` plain samples of *any* series (what a small commit has: one or two samples per
    series). Parameters: ?1 received_at, then series id, source_time, value and unit per row."""
    values = ", ".join(f"(?{4 * i + 2}, ?{4 * i + 3}, ?{4 * i + 4}, NULL, 'good', '', ?{4 * i + 5}, ?1)"
                       for i in range(rows))
    return (f"INSERT INTO {table} (series_id, source_time, value, value_json, quality, reason, unit, received_at) "
            f"VALUES {values} ON CONFLICT DO NOTHING")


@lru_cache(maxsize=len(PLAIN_CHUNKS) + 1)
def rollup_upsert_sql(rows: int) -> str:
    """SQLite additive upsert of ``rows`` rollup rows (11 parameters each, :func:`rollup_rows`'s order). With several
    rows in one statement SQLite applies them one after the other, exactly as ``executemany`` would. SQLite evaluates
    every SET expression against the row as it was, so the order of the assignments does not matter. One difference
    from the portable statement: a sum that overflowed to +inf meeting one that overflowed to -inf is NaN, which
    SQLite turns into NULL, and the NOT NULL column would then fail every retry of the batch (ingestion wedged by two
    absurd readings); the bucket keeps its overflowed sum instead. PostgreSQL stores the NaN."""
    values = ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"] * rows)
    return ("INSERT INTO rollups (tenant, twin_id, name, width_s, bucket_start, count, sum, min, max, last, last_time) "
            f"VALUES {values} ON CONFLICT (tenant, twin_id, name, width_s, bucket_start) DO UPDATE "
            "SET count = (rollups.count + excluded.count), sum = coalesce(rollups.sum + excluded.sum, rollups.sum), "
            "min = min(rollups.min, excluded.min), max = max(rollups.max, excluded.max), "
            "last = CASE WHEN (excluded.last_time >= rollups.last_time) THEN excluded.last ELSE rollups.last END, "
            "last_time = max(rollups.last_time, excluded.last_time)")


def execute_chunked(cur: Any, rows: list[tuple[Any, ...]], multi_sql: Callable[[int], str], single_sql: str,
                    head: tuple[Any, ...] = ()) -> int:
    """Run ``rows`` through multi-row statements of :data:`PLAIN_CHUNKS` rows (``multi_sql(size)``, parameters
    ``head`` then each row's in turn) and the few left over through ``executemany(single_sql)``. Every row costs
    the driver a bind/step/reset round trip under ``executemany``, and each step releases and retakes the GIL,
    which a busy process's other threads then hold for up to a switch interval; a small, latency-bound commit of
    a hundred series paid ~2 ms for that. Returns the rows changed (``rowcount`` summed)."""
    changed, i, n = 0, 0, len(rows)
    for size in PLAIN_CHUNKS:
        if n - i >= size:
            sql = multi_sql(size)
            while n - i >= size:
                cur.execute(sql, head + tuple(chain.from_iterable(rows[i:i + size])))
                changed += cur.rowcount
                i += size
    if i < n:
        cur.executemany(single_sql, rows[i:])
        changed += cur.rowcount
    return changed


@lru_cache(maxsize=2 * len(PLAIN_CHUNKS))
def plain_insert_sql(rows: int, table: str = "samples") -> str:
    """SQLite INSERT of ``rows`` plain samples (Good, no reason, no original) of one series. Parameters: ?1
    received_at, ?2 series id, ?3 unit, then source_time and value per row. One statement for many rows costs
    about half of ``executemany`` per row: the driver's bind/step/reset round trip is paid once."""
    values = ", ".join(f"(?2, ?{2 * i + 4}, ?{2 * i + 5}, NULL, 'good', '', ?3, ?1)" for i in range(rows))
    return (f"INSERT INTO {table} (series_id, source_time, value, value_json, quality, reason, unit, received_at) "
            f"VALUES {values} ON CONFLICT DO NOTHING")


def rollup_rows(groups: SeriesBatch) -> list[tuple[Any, ...]]:
    """``(tenant, twin_id, name, width_s, bucket_start, count, sum, min, max, last, last_time)`` per touched 1 min
    and 1 h bucket; samples without a numeric value are not rolled up. Out-of-order samples inside a group are
    merged into the bucket they belong to (a bucket may be met twice), so the result equals a per-sample fold."""
    out: list[tuple[Any, ...]] = []
    for (tenant, twin_id, name), group in groups.items():
        # The builtin fold pays off from a handful of samples; a steady stream commits 1-2 per series per batch.
        minutes = _within_one_minute(group) if len(group) >= FAST_FOLD_MIN else None
        if minutes is None:
            minutes = _fold_minutes(group)
        hours: dict[int, list[Any]] = {}
        for b, m in minutes.items():
            out.append((tenant, twin_id, name, 60, b, *m))
            hb = b - b % HOUR_US
            h = hours.get(hb)
            if h is None:
                hours[hb] = list(m)
                continue
            h[0] += m[0]
            h[1] += m[1]
            h[2] = min(h[2], m[2])
            h[3] = max(h[3], m[3])
            if m[5] >= h[5]:
                h[4], h[5] = m[4], m[5]
        out.extend((tenant, twin_id, name, 3600, hb, *h) for hb, h in hours.items())
    return out


def _within_one_minute(group: list[Sample]) -> dict[int, list[Any]] | None:
    """The common case — every sample has a value and all fall in one minute — folded by builtins over two lists
    instead of a Python step per sample. None when the case does not apply."""
    times = [s[0] for s in group]
    first, newest = min(times), max(times)
    bucket = first - first % MINUTE_US
    if newest >= bucket + MINUTE_US:
        return None
    values = [s[1] for s in group]
    if None in values:
        return None
    numbers = cast("list[float]", values)  # no None left
    last = len(times) - 1 - times[::-1].index(newest)  # the last sample at the newest time, as the fold takes it
    return {bucket: [len(numbers), sum(numbers), min(numbers), max(numbers), numbers[last], newest]}


def _fold_minutes(group: list[Sample]) -> dict[int, list[Any]]:
    minutes: dict[int, list[Any]] = {}
    bucket = -1
    acc: list[Any] = []
    for s in group:
        v = s[1]
        if v is None:
            continue
        t = s[0]
        b = t - t % MINUTE_US
        if b != bucket:
            bucket = b
            got = minutes.get(b)
            if got is None:
                minutes[b] = acc = [1, v, v, v, v, t]
                continue
            acc = got
        acc[0] += 1
        acc[1] += v
        if v < acc[2]:
            acc[2] = v
        if v > acc[3]:
            acc[3] = v
        if t >= acc[5]:
            acc[4] = v
            acc[5] = t
    return minutes
