"""A minimal platform process for crash tests: MQTT source -> ingest pipeline -> SQLite (durable settings).

Run as ``python -m tests.integration.ingest.platform_proc --db PATH --port PORT --mappings FILE``. Prints
``READY`` once subscribed; runs until killed. ``--ack-before-commit`` is the D-01 mutation (a deliberately broken
variant applied only here, never a product flag).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import time

from tvilling.adapters.mqtt import MqttSettings
from tvilling.adapters.sql import schema
from tvilling.adapters.sql.timeseries import TimeSeriesStore, connect_durable
from tvilling.app.ingest import IngestPipeline
from tvilling.app.ingest_mqtt import MqttIngestService
from tvilling.quality.mapping import load_mappings


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--mappings", required=True)
    ap.add_argument("--client-id", default="tvilling-crash-test")
    ap.add_argument("--topic", default="plant/+/telemetry")
    ap.add_argument("--ack-before-commit", action="store_true")
    # A slow disk for the mutant: with ~3 ms commits an early ack rarely reaches the broker before the commit ends,
    # so kill -9 would seldom land in between and the mutation test would lose its power.
    ap.add_argument("--commit-delay-ms", type=float, default=0.0)
    ap.add_argument("--receiver", choices=["thread", "process"], default="thread")
    args = ap.parse_args()
    engine = connect_durable(f"sqlite:///{args.db}")
    schema.metadata.create_all(engine)
    store = TimeSeriesStore(engine)
    if args.commit_delay_ms > 0:
        write = store.write_series

        def slow(*a, **k):  # type: ignore[no-untyped-def]
            time.sleep(args.commit_delay_ms / 1000)
            return write(*a, **k)

        store.write_series = slow  # type: ignore[method-assign]
    pipeline = IngestPipeline(store, load_mappings(args.mappings))
    if args.ack_before_commit:
        original = pipeline.submit_nowait

        def early(env):  # type: ignore[no-untyped-def]
            if env.ack is not None:
                env.ack()
                env.ack = None
            original(env)

        pipeline.submit_nowait = early  # type: ignore[method-assign]
    pipeline.start()
    service = MqttIngestService(pipeline, MqttSettings(port=args.port, client_id=args.client_id,
                                                       topics=(args.topic,)), receiver=args.receiver)
    await service.start(wait_subscribed_s=10)
    sys.stdout.write("READY\n")
    sys.stdout.flush()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await service.stop()
    await pipeline.stop()


if __name__ == "__main__":
    asyncio.run(main())
