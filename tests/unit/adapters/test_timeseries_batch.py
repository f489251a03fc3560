"""Grouping by series and the rollup fold: the same buckets as a plain per-sample fold, whatever the order."""

from __future__ import annotations

import random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tvilling.adapters.sql.timeseries import SampleRow
from tvilling.adapters.sql.timeseries_batch import HOUR_US, MINUTE_US, group_by_series, in_key_order, rollup_rows

T0 = 1_700_000_000_000_000


def _oracle(rows: list[SampleRow]) -> dict[tuple[Any, ...], list[Any]]:
    out: dict[tuple[Any, ...], list[Any]] = {}
    for s in rows:
        if s.value is None:
            continue
        for width, w_us in ((60, MINUTE_US), (3600, HOUR_US)):
            key = (s.tenant, s.twin_id, s.name, width, s.source_time_us - s.source_time_us % w_us)
            a = out.setdefault(key, [0, 0.0, s.value, s.value, s.value, s.source_time_us])
            a[0] += 1
            a[1] += s.value
            a[2], a[3] = min(a[2], s.value), max(a[3], s.value)
            if s.source_time_us >= a[5]:
                a[4], a[5] = s.value, s.source_time_us
    return out


def _row(twin: str, name: str, t: int, v: float | None) -> SampleRow:
    return SampleRow("t", twin, name, t, v, None if v is not None else "text", "good", "", None)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["a", "b"]), st.sampled_from(["x", "y"]),
                          st.integers(0, 3 * HOUR_US // 1_000_000), st.one_of(st.none(), st.integers(-50, 50))),
                max_size=80),
       st.randoms())
def test_rollup_rows_equal_a_per_sample_fold_in_any_order(spec: list[tuple[str, str, int, int | None]],
                                                            rnd: random.Random) -> None:
    # unique times per series, as the store guarantees before rolling up
    seen: set[tuple[str, str, int]] = set()
    rows = []
    for twin, name, sec, v in spec:
        if (twin, name, sec) not in seen:
            seen.add((twin, name, sec))
            rows.append(_row(twin, name, T0 + sec * 1_000_000, None if v is None else float(v)))
    rnd.shuffle(rows)
    got = {r[:5]: list(r[5:]) for r in rollup_rows(group_by_series(rows))}
    want = _oracle(rows)
    assert got.keys() == want.keys()
    for key, (count, total, lo, hi, last, last_time) in want.items():
        g = got[key]
        assert g[0] == count and abs(g[1] - total) < 1e-9 and (g[2], g[3], g[4], g[5]) == (lo, hi, last, last_time)


def test_groups_are_in_key_order_and_keep_arrival_order_within_a_series() -> None:
    rows = [_row("b", "x", T0 + 2, 1.0), _row("a", "y", T0 + 5, 2.0), _row("b", "x", T0 + 1, 3.0),
            _row("a", "x", T0 + 9, 4.0)]
    groups = in_key_order(group_by_series(rows))
    assert list(groups) == [("t", "a", "x"), ("t", "a", "y"), ("t", "b", "x")]
    assert [s[0] - T0 for s in groups[("t", "b", "x")]] == [2, 1]
    assert groups[("t", "a", "y")] == [(T0 + 5, 2.0, None, "good", "", None)]


def test_a_group_within_one_minute_folds_like_the_per_sample_oracle() -> None:
    """The builtin fast path (all samples valued, one minute) against the oracle, shuffled, plus its two exits."""
    rnd = random.Random(3)
    rows = [_row("a", "x", T0 + i * 500_000, float(rnd.randint(-9, 9))) for i in range(100)]  # 50 s
    rnd.shuffle(rows)
    for case in (rows, [*rows, _row("a", "x", T0 + 61_000_000, 5.0)], [*rows, _row("a", "x", T0 + 1, None)]):
        got = {r[:5]: list(r[5:]) for r in rollup_rows(group_by_series(case))}
        want = _oracle(case)
        assert got.keys() == want.keys()
        for key, w in want.items():
            assert got[key][0] == w[0] and abs(got[key][1] - w[1]) < 1e-9 and got[key][2:] == w[2:]


# -- multi-row statements: the same table contents as one statement per row -------------------------------------------
_SAMPLES_DDL = ("CREATE TABLE samples (series_id INTEGER NOT NULL, source_time INTEGER NOT NULL, value REAL, "
                "value_json TEXT, quality TEXT NOT NULL, reason TEXT NOT NULL, unit TEXT, received_at INTEGER NOT NULL,"
                " PRIMARY KEY (series_id, source_time)) WITHOUT ROWID")
_ROLLUPS_DDL = ("CREATE TABLE rollups (tenant TEXT NOT NULL, twin_id TEXT NOT NULL, name TEXT NOT NULL, "
                "width_s INTEGER NOT NULL, bucket_start INTEGER NOT NULL, count INTEGER NOT NULL, sum REAL NOT NULL, "
                "min REAL NOT NULL, max REAL NOT NULL, last REAL NOT NULL, last_time INTEGER NOT NULL, "
                "PRIMARY KEY (tenant, twin_id, name, width_s, bucket_start))")
_PLAIN_ONE = ("INSERT INTO samples (series_id, source_time, value, value_json, quality, reason, unit, received_at) "
              "VALUES (?, ?, ?, NULL, 'good', '', ?, 77) ON CONFLICT DO NOTHING")


def _db(ddl: str) -> Any:
    import sqlite3
    con = sqlite3.connect(":memory:", isolation_level=None)
    con.execute(ddl)
    return con


class _CountingCursor:
    """A driver cursor that records how many statements ran (execute) and how many rows went row by row."""

    def __init__(self, cur: Any) -> None:
        self.cur, self.statements, self.row_by_row = cur, 0, 0

    def execute(self, sql: str, params: Any) -> None:
        self.statements += 1
        self.cur.execute(sql, params)

    def executemany(self, sql: str, rows: list[Any]) -> None:
        self.row_by_row += len(rows)
        self.cur.executemany(sql, rows)

    @property
    def rowcount(self) -> int:
        return int(self.cur.rowcount)


def test_plain_rows_in_chunks_store_what_row_by_row_stores() -> None:
    from tvilling.adapters.sql.timeseries_batch import execute_chunked, plain_rows_sql
    rng = random.Random(3)
    rows = [(rng.randrange(40), rng.randrange(10**15), rng.uniform(-1e300, 1e300), rng.choice(["degC", None]))
            for _ in range(64 + 16 + 4 + 3)]
    rows[10] = (rows[3][0], rows[3][1], 0.5, "degC")  # a key met twice: the first row wins, as ON CONFLICT says
    fast, slow = _db(_SAMPLES_DDL), _db(_SAMPLES_DDL)
    counting = _CountingCursor(fast.cursor())
    changed = execute_chunked(counting, rows, plain_rows_sql, _PLAIN_ONE, (77,))
    slow.executemany(_PLAIN_ONE, rows)
    assert counting.statements == 3 and counting.row_by_row == 3  # 64 + 16 + 4 by statement, 3 one by one
    assert changed == len(rows) - 1
    query = "SELECT * FROM samples ORDER BY series_id, source_time"
    assert fast.execute(query).fetchall() == slow.execute(query).fetchall()


def test_rollup_upsert_in_one_statement_equals_one_row_at_a_time() -> None:
    from tvilling.adapters.sql.timeseries_batch import execute_chunked, rollup_upsert_sql
    rng = random.Random(5)
    rows = []
    for _ in range(90):  # few keys, so rows of one statement meet the same bucket again (sequential semantics)
        v = rng.uniform(-10, 10)
        rows.append(("t", rng.choice("ab"), rng.choice("xy"), 60, rng.randrange(3) * MINUTE_US, rng.randrange(1, 4),
                     3 * v, v - 1, v + 1, v, rng.randrange(10**6)))
    fast, slow = _db(_ROLLUPS_DDL), _db(_ROLLUPS_DDL)
    execute_chunked(fast.cursor(), rows, rollup_upsert_sql, rollup_upsert_sql(1))
    for r in rows:
        slow.execute(rollup_upsert_sql(1), r)
    query = "SELECT * FROM rollups ORDER BY twin_id, name, bucket_start"
    assert fast.execute(query).fetchall() == slow.execute(query).fetchall()
