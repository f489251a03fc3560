"""The headless demo summarises only after the store has caught up with what the plant published.

Regression (missing plant samples): the drain stopped after 1.5 s without new rows (at most 30 s), while the
embedded broker and the platform were still working through a backlog, so the summary undercounted.
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import sqlalchemy as sa

from tvilling.adapters.sql import schema
from tvilling.cli.demo import _wait_until_quiet


def _series(engine: sa.Engine, *points: tuple[str, str]) -> None:
    """Series of tenant "t", ids 1, 2, ... in the order given."""
    with engine.begin() as conn:
        conn.execute(sa.insert(schema.series), [{"id": i, "tenant": "t", "twin_id": twin, "name": name}
                                                for i, (twin, name) in enumerate(points, start=1)])


def _writer(engine: sa.Engine, batches: list[int], pause_s: float) -> threading.Thread:
    def run() -> None:
        t = 0
        for n in batches:
            time.sleep(pause_s)
            with engine.begin() as conn:
                conn.execute(sa.insert(schema.samples), [
                    {"series_id": 1, "source_time": t + i, "value": 1.0,
                     "quality": "good", "reason": "", "received_at": 0} for i in range(n)])
            t += n

    th = threading.Thread(target=run, daemon=True)
    th.start()
    return th


def test_drain_waits_through_pauses_until_every_published_point_is_in(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'd.db'}")
    schema.metadata.create_all(engine)
    _series(engine, ("a", "x"))
    th = _writer(engine, [5, 5, 5], pause_s=1.0)  # pauses longer than the old 1.5 s quiet window in total
    t0 = time.monotonic()
    asyncio.run(_wait_until_quiet(engine, "t", expected=15, quiet_s=5.0))
    th.join(5)
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(schema.samples)).scalar_one() == 15
    assert time.monotonic() - t0 < 5.0  # returned as soon as the count was reached, not after a quiet period


def test_drain_ends_on_quiet_when_the_count_is_never_reached(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'd.db'}")
    schema.metadata.create_all(engine)
    t0 = time.monotonic()
    asyncio.run(_wait_until_quiet(engine, "t", expected=10, quiet_s=0.6, limit_s=10.0))
    assert 0.5 <= time.monotonic() - t0 < 5.0


def test_drain_leaves_out_live_opcua_points(tmp_path: Path) -> None:
    """OPC UA points (a live view that may skip values) are not counted against the plant's MQTT/Sparkplug total."""
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'd.db'}")
    schema.metadata.create_all(engine)
    _series(engine, ("a", "x"), ("line-1", "throughput"))
    with engine.begin() as conn:
        conn.execute(sa.insert(schema.samples), [
            {"series_id": sid, "source_time": i, "value": 1.0, "quality": "good", "reason": "", "received_at": 0}
            for sid in (1, 2) for i in range(4)])
        conn.execute(sa.insert(schema.quarantine), [
            {"tenant": "t", "source": source, "address": "n", "reason": "source_status", "detail": "",
             "received_at": 0} for source in ("opcua", "mqtt")])
    t0 = time.monotonic()
    # 4 + 1 rows outside the live points: reached at once; counting the OPC UA rows too would make it 10.
    asyncio.run(_wait_until_quiet(engine, "t", expected=5, quiet_s=3.0, live={("line-1", "throughput")}))
    assert time.monotonic() - t0 < 2.0
    t0 = time.monotonic()
    asyncio.run(_wait_until_quiet(engine, "t", expected=6, quiet_s=1.0, live={("line-1", "throughput")}))
    assert time.monotonic() - t0 >= 0.9  # 6 is never reached without the live rows: it ended on quiet
