"""Q-02…Q-09 end to end: labelled faults through the real pipeline and SQLite store (no broker needed)."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from tvilling.adapters.sql import schema
from tvilling.adapters.sql.timeseries import TimeSeriesStore, connect_durable
from tvilling.app.ingest import IngestPipeline
from tvilling.app.ingest_rows import Envelope
from tvilling.quality.mapping import parse_mappings

US = 1_000_000
MAPPING = {"topics": [{"topic": "plant/d/telemetry", "points": [
    {"pointer": "/points/t", "twin": "d", "name": "t", "unit": "degreeCelsius", "instrument_range": [-50, 300],
     "engineering_range": [0, 120], "max_rate": 50.0}]}]}


class Clock:
    def __init__(self, now: datetime) -> None:
        self.t = now

    def now(self) -> datetime:
        return self.t

    def monotonic(self) -> float:
        return 0.0


async def test_labelled_faults_end_to_end(tmp_path: Path) -> None:
    eng = connect_durable(f"sqlite:///{tmp_path / 'q.db'}")
    schema.metadata.create_all(eng)
    with eng.begin() as c:
        c.execute(sa.insert(schema.twins).values(tenant="default", id="d", model_id="dtmi:x;1", contents={}, meta={},
                                                 etag="e", version=1, last_update_time=datetime.now(UTC)))
    now = datetime(2027, 1, 1, tzinfo=UTC)
    now_us = int(now.timestamp()) * US
    store = TimeSeriesStore(eng)
    p = IngestPipeline(store, parse_mappings(MAPPING), clock=Clock(now))  # type: ignore[arg-type]
    p.start()
    base_ms = now_us // 1000 - 600_000
    expected_q: Counter[str] = Counter()
    good = 0

    async def send(i: int, value: object, unit: object = "CEL", ts_ms: int | None = None) -> None:
        ts = base_ms + i * 1000 if ts_ms is None else ts_ms
        v = json.dumps(value) if value == value else "NaN"
        raw = f'{{"source_ts": {ts}, "points": {{"t": {v}}}, "units": {{"t": {json.dumps(unit)}}}}}'
        await p.submit(Envelope("mqtt", "plant/d/telemetry", now_us, payload=raw.encode()))

    for i in range(300):
        label = i % 10
        if label == 1:
            await send(i, float("nan"))
            expected_q["non_finite"] += 1
        elif label == 2:
            await send(i, 500.0)
            expected_q["out_of_range"] += 1
        elif label == 3:
            await send(i, 20.0, unit="KPA")
            expected_q["unit_mismatch"] += 1
        elif label == 4:
            await send(i, 20.0, unit=None)
            expected_q["unit_missing"] += 1
        elif label == 5:
            await send(i, 20.0, ts_ms=now_us // 1000 + 600_000)
            expected_q["clock_ahead"] += 1
        elif label == 6:
            await send(i, 20.0, ts_ms=0)
            expected_q["too_old"] += 1
        elif label == 7:
            await send(i, 68.0, unit="FAH")  # 20 °C
            good += 1
        else:
            await send(i, 20.0 + (i % 3))
            good += 1
    await send(0, 20.0)  # exact duplicate of i=0
    await send(8, 99.0)  # conflicting duplicate of i=8
    expected_q["conflict"] += 1
    await p.stop()
    got = Counter(q["reason"] for q in store.quarantined("default", limit=1000))
    assert got == expected_q
    hist = store.history("default", "d", "t", 0, 2**62, limit=1000)
    assert len(hist) == good
    assert all(h["quality"] == "good" for h in hist)
    assert all(h["value"] == 20.0 and h["original"] == {"value": 68.0, "unit": "FAH"}
               for h in hist if "original" in h)
    assert sum("original" in h for h in hist) == 30
    assert p.stats.duplicates == 1 and p.stats.conflicts == 1
