"""The history store on SQLite and PostgreSQL: idempotency (G2), conflicts, late data, rollups, retention."""

from __future__ import annotations

import math
import random
import struct
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from tvilling.adapters.sql import schema
from tvilling.adapters.sql.timeseries import LatestUpdate, SampleRow, TimeSeriesStore, connect_durable

US = 1_000_000
T0 = 1_800_000_000 * US  # aligned to the hour


@pytest.fixture
def store(db_url: str) -> TimeSeriesStore:
    eng = connect_durable(db_url)
    schema.metadata.create_all(eng)
    with eng.begin() as c:
        c.execute(sa.insert(schema.twins).values(tenant="t", id="tw", model_id="dtmi:x;1", contents={}, meta={},
                                                 etag="e", version=1, last_update_time=datetime.now(UTC)))
    return TimeSeriesStore(eng)


def row(t_us: int, v: float, name: str = "x") -> SampleRow:
    return SampleRow("t", "tw", name, t_us, v, None, "good", "", "degreeCelsius")


def count(store: TimeSeriesStore, table: str) -> int:
    if table == "samples":  # small commits on SQLite append to samples_recent first (adapters/sql/recent.py)
        table = "(SELECT series_id FROM samples UNION ALL SELECT series_id FROM samples_recent) AS r"
    with store.engine.connect() as c:
        return int(c.execute(sa.text(f"SELECT COUNT(*) FROM {table}")).scalar_one())


def test_exact_duplicates_add_nothing_and_conflicts_are_quarantined(store: TimeSeriesStore) -> None:
    batch = [row(T0 + i * US, float(i)) for i in range(100)]
    r1 = store.write_batch(batch, [], [], T0)
    assert r1.inserted == 100
    dup = random.Random(1).sample(batch, 20)
    conflicting = [row(T0 + 3 * US, 999.0), row(T0 + 500 * US, 1.0), row(T0 + 500 * US, 2.0)]
    r2 = store.write_batch(dup + conflicting, [], [], T0)
    assert (r2.inserted, r2.duplicates, r2.conflicts) == (1, 20, 2)
    assert count(store, "samples") == 101
    hist = store.history("t", "tw", "x", T0, T0 + 10 * US)
    assert hist[3]["value"] == 3.0  # first one kept
    q = store.quarantined("t", reason="conflict")
    assert len(q) == 2 and all(x["reason"] == "conflict" for x in q)
    b = store.bucketed("t", "tw", "x", T0, T0 + 3600 * US, 3600, ["count"])
    assert b == [{"t": T0, "count": 101}]  # duplicates never reached the rollups


def test_late_shuffled_data_rollups_match_the_oracle(store: TimeSeriesStore) -> None:
    rnd = random.Random(3)
    pts = [(T0 + i * 500_000, rnd.gauss(10, 3)) for i in range(7200)]  # one hour at 2 Hz
    order = sorted(range(len(pts)), key=lambda i: i + rnd.uniform(-120, 120))  # shuffle within ~60 s
    late = set(rnd.sample(range(len(pts)), len(pts) // 20))  # 5 % arrive at the very end
    arrival = [i for i in order if i not in late] + sorted(late)
    for k in range(0, len(arrival), 500):
        store.write_batch([row(*pts[i]) for i in arrival[k:k + 500]], [], [], T0)
    oracle: dict[int, list[float]] = {}
    for t, v in pts:
        oracle.setdefault(t // (60 * US) * 60 * US, []).append(v)
    for start, end in ((T0, T0 + 3600 * US), (T0 + 7 * US, T0 + 3600 * US)):  # rollup path, then raw path
        got = store.bucketed("t", "tw", "x", start, end, 60)
        assert len(got) == 60
        for b in got:
            vals = [v for t, v in pts if t // (60 * US) * 60 * US == b["t"] and start <= t < end]
            assert b["count"] == len(vals)
            assert b["mean"] == pytest.approx(sum(vals) / len(vals), abs=1e-9)
            assert (b["min"], b["max"]) == (min(vals), max(vals))
            assert b["last"] == vals[-1]
    hist = store.history("t", "tw", "x", T0, T0 + 3600 * US, limit=100_000)
    assert [h["t"] for h in hist] == [t for t, _ in pts]
    before = store.bucketed("t", "tw", "x", T0, T0 + 3600 * US, 600)
    store.recompute_rollups("t", "tw", "x")
    after = store.bucketed("t", "tw", "x", T0, T0 + 3600 * US, 600)
    for a, b in zip(before, after, strict=True):
        assert a["count"] == b["count"] and a["mean"] == pytest.approx(b["mean"], abs=1e-9)


def test_twin_latest_never_regresses(store: TimeSeriesStore) -> None:
    def upd(t_us: int, v: float) -> list[dict[str, object]]:
        return store.write_batch([], [], [LatestUpdate("t", "tw", "x", v, t_us, "good", "", "degreeCelsius")],
                                 T0).changes

    assert upd(T0 + 10 * US, 1.0)[0]["new"] == 1.0
    with store.engine.connect() as c:
        assert c.execute(sa.select(schema.events.c.kind, schema.events.c.subject)).all() == [
            ("twin.telemetry", "tw")]  # recorded in the same transaction
    assert upd(T0 + 5 * US, 2.0) == []  # older: ignored
    with store.engine.connect() as c:
        contents, meta = c.execute(sa.select(schema.twins.c.contents, schema.twins.c.meta)).one()
    assert contents["x"] == 1.0 and meta["x"]["sourceTime"].startswith("2027-01-15T08:00:10")
    assert meta["x"]["quality"] == "good"
    res = store.mark_quality("t", [("tw", "x")], "bad", "stale", T0 + 20 * US)
    assert res.changes[0]["quality"] == "bad"
    assert [e.kind for e in res.events] == ["twin.quality"]
    with store.engine.connect() as c:
        contents, meta = c.execute(sa.select(schema.twins.c.contents, schema.twins.c.meta)).one()
    assert contents["x"] == 1.0 and meta["x"]["reason"] == "stale"


def test_retention(store: TimeSeriesStore) -> None:
    store.write_batch([row(T0 + i * 60 * US, 1.0) for i in range(120)], [], [], T0)
    deleted = store.apply_retention(T0 + 120 * 60 * US, raw_s=3600, minute_s=1800)
    assert count(store, "samples") == 60
    assert deleted == 60 + 90
    assert len(store.bucketed("t", "tw", "x", T0, T0 + 7200 * US, 3600)) == 2  # hour rollups kept


def test_every_kind_of_sample_is_stored_field_for_field(store: TimeSeriesStore) -> None:
    """Plain samples (Good, numeric or null, no original) take a shorter insert statement than the rest; both must
    store exactly what they were given, including the batch's received_at."""
    rows = [SampleRow("t", "tw", "x", T0, 1.5, None, "good", "", "degreeCelsius"),  # plain, with unit
            SampleRow("t", "tw", "x", T0 + US, None, None, "good", "", None),  # plain, null value
            SampleRow("t", "tw", "x", T0 + 2 * US, 2.5, None, "uncertain", "spike", "degreeCelsius"),
            SampleRow("t", "tw", "x", T0 + 3 * US, 300.0, {"original": {"value": 3.0, "unit": "hm"}}, "good", "",
                      "metre"),
            SampleRow("t", "tw", "s", T0, None, "on", "good", "", None)]  # a string value
    assert store.write_batch(rows, [], [], T0 + 7).inserted == 5
    got = [(p["t"] - T0, p["value"], p["quality"], p["reason"], p["unit"], p.get("original"))
           for p in store.history("t", "tw", "x", T0, T0 + 10 * US)]
    assert got == [(0, 1.5, "good", "", "degreeCelsius", None), (US, None, "good", "", None, None),
                   (2 * US, 2.5, "uncertain", "spike", "degreeCelsius", None),
                   (3 * US, 300.0, "good", "", "metre", {"value": 3.0, "unit": "hm"})]
    assert [p["value"] for p in store.history("t", "tw", "s", T0, T0 + US)] == ["on"]
    with store.engine.connect() as c:
        both = "SELECT received_at FROM samples UNION ALL SELECT received_at FROM samples_recent"
        assert {int(r[0]) for r in c.execute(sa.text(both))} == {T0 + 7}
    assert store.write_batch(rows, [], [], T0 + 8).duplicates == 5  # redelivery: same values, nothing added
    assert count(store, "samples") == 5


def test_plain_samples_keep_every_bit_and_odd_ones_take_the_row_path(store: TimeSeriesStore) -> None:
    """Plain samples of a series go in by multi-row statements: every double must come back bit-for-bit (random bit
    patterns, extremes, subnormals), and infinities, originals and a unit other than the series' first must still
    be stored as given."""
    rng = random.Random(7)
    values = [struct.unpack("<d", rng.randbytes(8))[0] for _ in range(3000)]
    values = [v for v in values if math.isfinite(v) and abs(v) < 1e300]  # rollup sums must stay finite
    values += [0.0, -0.0, 5e-324, -5e-324, 2.2250738585072014e-308, 1e300, 0.1, 1 / 3, 1e16, 123.0]
    rows = [SampleRow("t", "tw", "x", T0 + i, v, None, "good", "", None) for i, v in enumerate(values)]
    n = len(values)
    rows += [SampleRow("t", "tw", "x", T0 + n, math.inf, None, "good", "", None),
             SampleRow("t", "tw", "x", T0 + n + 1, 1.0, {"original": {"value": 1, "unit": "m"}}, "good", "", None),
             SampleRow("t", "tw", "x", T0 + n + 2, 7.5, None, "good", "", "degreeCelsius")]  # another unit
    assert store.write_batch(rows, [], [], T0).inserted == n + 3
    got = store.history("t", "tw", "x", T0, T0 + n + 3, limit=n + 10)
    # ``+ 0.0`` turns -0.0 into 0.0: SQLite stores integral REALs as integers, so zero's sign is lost on any path.
    assert [struct.pack("<d", p["value"] + 0.0) for p in got[:n]] == [struct.pack("<d", v + 0.0) for v in values]
    assert [(p["value"], p["unit"]) for p in got[n:]] == [(math.inf, None), (1.0, None), (7.5, "degreeCelsius")]
    assert store.write_batch(rows, [], [], T0 + 1).duplicates == n + 3


@pytest.mark.parametrize("n", [1, 3, 4, 5, 19, 64, 65, 84, 150])
def test_every_chunking_of_a_series_stores_each_sample_once(store: TimeSeriesStore, n: int) -> None:
    """Plain samples go in by 64-, 16- and 4-row statements and the remainder row by row (SQLite); any split must
    store every sample once, and a partial redelivery must add only the new ones."""
    first = [row(T0 + i * US, float(i)) for i in range(n)]
    assert store.write_batch(first, [], [], T0).inserted == n
    again = first[n // 2:] + [row(T0 + (n + i) * US, float(n + i)) for i in range(3)]
    result = store.write_batch(again, [], [], T0)
    assert (result.inserted, result.duplicates) == (3, n - n // 2)
    got = store.history("t", "tw", "x", T0, T0 + (n + 3) * US)
    assert [p["value"] for p in got] == [float(i) for i in range(n + 3)]



def test_rollup_sums_that_overflow_both_ways_do_not_wedge_ingest(store: TimeSeriesStore) -> None:
    """Two batches whose bucket sums overflow to +inf and then -inf: their merge is NaN (NULL on SQLite). The second
    batch must still commit — a NOT NULL failure would be retried forever and stop all ingestion."""
    big = 1.7e308
    assert store.write_batch([row(T0, big), row(T0 + US, big)], [], [], T0).inserted == 2
    assert store.write_batch([row(T0 + 2 * US, -big), row(T0 + 3 * US, -big)], [], [], T0).inserted == 2
    assert count(store, "samples") == 4
    (bucket,) = store.bucketed("t", "tw", "x", T0, T0 + 60 * US, 60)
    assert bucket["count"] == 4 and bucket["min"] == -big and bucket["max"] == big
