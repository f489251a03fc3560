"""Device -> Mosquitto -> platform (in process) -> history + twin state, plus B-04 poison and D-10 replay."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.integration.ingest.harness import LedgerPublisher
from tests.support.mosquitto import start_mosquitto, stop_mosquitto
from tvilling.adapters.mqtt import MqttSettings
from tvilling.adapters.sql import schema
from tvilling.adapters.sql.timeseries import TimeSeriesStore, connect_durable
from tvilling.app.ingest import IngestPipeline
from tvilling.app.ingest_mqtt import MqttIngestService
from tvilling.quality.mapping import parse_mappings

pytestmark = pytest.mark.mosquitto

MAPPING = {"topics": [{"topic": "plant/f1/telemetry", "device": "f1", "points": [
    {"pointer": "/points/temp", "twin": "f1", "name": "temp", "unit": "degreeCelsius",
     "instrument_range": [-50, 300], "engineering_range": [0, 120]},
    {"pointer": "/points/rpm", "twin": "f1", "name": "rpm"}]}]}


async def _until(cond, msg=lambda: "", timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"condition not reached in time: {msg()}"
        await asyncio.sleep(0.05)


async def test_device_to_history_to_twin_state_with_poison_and_replay(tmp_path: Path) -> None:
    port, broker = start_mosquitto(tmp_path)
    eng = connect_durable(f"sqlite:///{tmp_path / 'db.sqlite'}")
    schema.metadata.create_all(eng)
    with eng.begin() as c:
        c.execute(sa.insert(schema.twins).values(tenant="default", id="f1", model_id="dtmi:x;1", contents={},
                                                 meta={}, etag="e", version=1, last_update_time=datetime.now(UTC)))
    pipeline = IngestPipeline(TimeSeriesStore(eng), parse_mappings(MAPPING))
    pipeline.start()
    svc = MqttIngestService(pipeline, MqttSettings(port=port, client_id="e2e", topics=("plant/+/telemetry",)))
    pub: LedgerPublisher | None = None
    try:
        await svc.start(wait_subscribed_s=10)
        pub = LedgerPublisher(port, ["f1"], [])
        poison = {
            "decode_error": [b'{"device_id": "f1", "points": {"temp": 1', b"\xff\xfe\x00garbage", b"",
                             b"[" * 20_000 + b"]" * 20_000],
            "oversize": [b'{"pad": "' + b"x" * (1 << 20) + b'"}'],
            "wrong_type": [b'"just a string"', json.dumps({"points": {"temp": "hot"}}).encode(),
                           json.dumps({"points": {"temp": [1, 2]}}).encode()],
            "non_finite": [b'{"points": {"temp": NaN}}', b'{"points": {"temp": null}}'],
        }
        sent_valid = 0
        kinds = [(k, p) for k, ps in poison.items() for p in ps]
        for seq in range(200):
            payload = json.dumps({"device_id": "f1", "seq": seq, "source_ts": pub.base_ms + seq,
                                  "points": {"temp": 20.0 + seq % 10, "rpm": 1000 + seq},
                                  "units": {"temp": "CEL"}}).encode()
            pub.publish("f1", seq, payload)
            sent_valid += 1
            if seq % 10 == 0:  # 10 % poison, spread through the stream
                pub.publish("f1", -1 - seq, kinds[(seq // 10) % len(kinds)][1])
        expected_poison = Counter(kinds[(s // 10) % len(kinds)][0] for s in range(0, 200, 10))
        await _until(lambda: pipeline.stats.inserted >= 2 * sent_valid and pipeline.stats.envelopes >= 220,
                     lambda: (pipeline.stats, svc.source and svc.source.received))
        store = pipeline.store
        hist = store.history("default", "f1", "rpm", 0, 2**62, limit=10_000)
        assert [h["value"] for h in hist] == [1000.0 + s for s in range(200)]
        q = Counter(x["reason"] for x in store.quarantined("default", limit=1000))
        assert q == expected_poison
        assert svc.source is not None and svc.source.disconnects == 0  # never disconnected by poison
        with eng.connect() as c:
            contents, meta = c.execute(sa.select(schema.twins.c.contents, schema.twins.c.meta)).one()
        assert contents["rpm"] == 1199 and meta["rpm"]["quality"] == "good"
        assert contents["temp"] == 29.0 and meta["temp"]["sourceTime"].endswith("Z")

        # D-10: replay 20 % of acked messages (identical payloads): 0 extra rows, aggregates unchanged
        before_rows = pipeline.stats.inserted
        agg_before = store.bucketed("default", "f1", "rpm", 0, 2**62 // 3600 // 10**6 * 3600 * 10**6, 86400 * 365 * 100,
                                    ["count", "mean"])
        for seq in range(0, 200, 5):
            pub.publish("f1", seq, json.dumps({"device_id": "f1", "seq": seq, "source_ts": pub.base_ms + seq,
                                               "points": {"temp": 20.0 + seq % 10, "rpm": 1000 + seq},
                                               "units": {"temp": "CEL"}}).encode())
        await _until(lambda: pipeline.stats.duplicates >= 80)
        assert pipeline.stats.inserted == before_rows
        agg_after = store.bucketed("default", "f1", "rpm", 0, 2**62 // 3600 // 10**6 * 3600 * 10**6, 86400 * 365 * 100,
                                    ["count", "mean"])
        assert agg_after == agg_before
        # every message, poison included, was committed and then acknowledged
        await asyncio.to_thread(pub.stop)
        assert pub.sent == 260 and not pub._pending
        assert pipeline.stats.envelopes == 260 and pipeline.stats.commit_failures == 0
    finally:
        if pub is not None:
            pub.client.loop_stop()
        await svc.stop()
        await pipeline.stop()
        stop_mosquitto(broker)
