"""Small SQLite commits append to samples_recent (adapters/sql/recent.py): nothing may be lost, duplicated or
mis-judged by that detour — redeliveries, conflicts, late samples, merges, another writer, retention, reads."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from tvilling.adapters.sql import recent as recent_module
from tvilling.adapters.sql import schema
from tvilling.adapters.sql.timeseries import SampleRow, TimeSeriesStore, connect_durable

T0 = 1_700_000_000_000_000
US = 1_000_000


def _store(path: Path) -> TimeSeriesStore:
    engine = connect_durable(f"sqlite:///{path}")
    schema.metadata.create_all(engine)
    return TimeSeriesStore(engine)


def _rows(times: range | list[int], value: float = 1.0, name: str = "x") -> list[SampleRow]:
    return [SampleRow("t", "tw", name, T0 + i * US, value + i, None, "good", "", None) for i in times]


def _counts(store: TimeSeriesStore) -> tuple[int, int]:
    with store.engine.connect() as c:
        return (int(c.execute(sa.text("SELECT count(*) FROM samples")).scalar_one()),
                int(c.execute(sa.text("SELECT count(*) FROM samples_recent")).scalar_one()))


@pytest.fixture
def store(tmp_path: Path) -> TimeSeriesStore:
    return _store(tmp_path / "r.db")


def test_new_samples_append_and_read_back(store: TimeSeriesStore) -> None:
    store.write_batch(_rows(range(3)), [], [], T0)  # the series' first commit: a new series, all new
    store.write_batch(_rows(range(3, 6)), [], [], T0)
    assert _counts(store) == (0, 6)
    assert [p["value"] for p in store.history("t", "tw", "x", T0, T0 + 10 * US)] == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    assert [b["count"] for b in store.bucketed("t", "tw", "x", T0, T0 + 10 * US, 5)] == [5, 1]


def test_a_redelivery_is_judged_against_both_tables(store: TimeSeriesStore) -> None:
    store.write_batch(_rows(range(5)), [], [], T0)
    newest = store.write_batch(_rows([4]), [], [], T0)  # exactly the series' newest time: not new
    assert (newest.inserted, newest.duplicates) == (0, 1)
    again = store.write_batch(_rows(range(5)), [], [], T0)  # not newer than the series: merged, then checked
    assert (again.inserted, again.duplicates, again.conflicts) == (0, 5, 0)
    conflict = store.write_batch(_rows([2], value=99.0), [], [], T0)
    assert conflict.conflicts == 1 and conflict.quarantined == 1
    assert _counts(store) == (5, 0)
    assert [p["value"] for p in store.history("t", "tw", "x", T0, T0 + 10 * US)] == [1.0, 2.0, 3.0, 4.0, 5.0]


def test_late_and_unordered_samples_take_the_checking_path(store: TimeSeriesStore) -> None:
    store.write_batch(_rows(range(5, 8)), [], [], T0)
    store.write_batch(_rows([3]), [], [], T0)  # older than the series' newest
    store.write_batch(_rows([9, 8]), [], [], T0)  # newer, but not rising within the batch
    assert sum(_counts(store)) == 6
    assert [p["t"] for p in store.history("t", "tw", "x", T0, T0 + 10 * US)] == [
        T0 + i * US for i in (3, 5, 6, 7, 8, 9)]


def test_samples_recent_is_merged_once_it_holds_enough_rows(store: TimeSeriesStore,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(recent_module, "MERGE_ROWS", 10)
    for k in range(3):
        store.write_batch(_rows(range(4 * k, 4 * k + 4)), [], [], T0)
    assert _counts(store) == (12, 0)  # the third commit crossed 10 rows: everything moved, in key order
    store.write_batch(_rows(range(12, 14)), [], [], T0)
    assert _counts(store) == (12, 2)


def test_another_writer_invalidates_the_high_water_marks(tmp_path: Path) -> None:
    a = _store(tmp_path / "w.db")
    b = TimeSeriesStore(connect_durable(f"sqlite:///{tmp_path / 'w.db'}"))  # another process, in effect
    a.write_batch(_rows(range(5)), [], [], T0)
    b.write_batch(_rows(range(5, 10)), [], [], T0)  # newer samples a's cache does not know about
    again = a.write_batch(_rows(range(5, 10)), [], [], T0)  # redelivered to a
    assert again.duplicates == 5 and again.inserted == 0
    assert sum(_counts(a)) == 10


def test_retention_reaches_rows_still_in_samples_recent(store: TimeSeriesStore) -> None:
    store.write_batch([SampleRow("t", "tw", "x", T0 + i * 60 * US, 1.0, None, "good", "", None) for i in range(120)],
                      [], [], T0)
    assert _counts(store) == (0, 120)
    store.apply_retention(T0 + 120 * 60 * US, raw_s=3600, minute_s=1800)
    assert sum(_counts(store)) == 60
