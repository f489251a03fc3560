"""Ingestion as a platform background service: pipeline (+ MQTT when configured), events, metrics.

``run_ingest(platform)`` is registered in ``bootstrap.BACKGROUND``. It builds the history store on the platform's
engine, starts the pipeline, publishes committed twin changes on the event bus (after commit, per the bus
contract), exposes the runtime as ``app.state.ingest`` for the telemetry routes, and, when ``mqtt_url`` is set,
subscribes with acks after commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tvilling.adapters.mqtt import MqttSettings, parse_broker_url
from tvilling.adapters.mqtt_process import RESTARTS as RECEIVER_RESTARTS
from tvilling.adapters.sql.timeseries import TimeSeriesStore
from tvilling.app.ingest import Committed, IngestPipeline
from tvilling.app.ingest_mqtt import MqttIngestService
from tvilling.app.ingest_rows import LATE, MESSAGES, QUARANTINED, SAMPLES
from tvilling.app.security_events import identity_refusals
from tvilling.quality.mapping import MappingSet, load_mappings
from tvilling.quality.rules import QualityEngine, QualitySettings

log = logging.getLogger(__name__)


@dataclass
class IdempotencyCache:
    """Answers to recent HTTP batches by (tenant, Idempotency-Key). Storage is idempotent anyway (G2); the cache
    makes a retried request get the same answer and tells a reused key with a different body apart."""

    size: int = 10_000
    _items: OrderedDict[tuple[str, str], tuple[str, dict[str, Any]]] = field(default_factory=OrderedDict)

    @staticmethod
    def digest(body: bytes) -> str:
        return hashlib.sha256(body).hexdigest()

    def get(self, tenant: str, key: str) -> tuple[str, dict[str, Any]] | None:
        return self._items.get((tenant, key))

    def put(self, tenant: str, key: str, digest: str, answer: dict[str, Any]) -> None:
        self._items[(tenant, key)] = (digest, answer)
        self._items.move_to_end((tenant, key))
        while len(self._items) > self.size:
            self._items.popitem(last=False)


@dataclass
class IngestRuntime:
    pipeline: IngestPipeline
    history: TimeSeriesStore
    mappings_file: Path | None = None
    mqtt: MqttIngestService | None = None
    idempotency: IdempotencyCache = field(default_factory=IdempotencyCache)

    def reload_mappings(self) -> MappingSet:
        """Re-read the mapping file; on any problem the old mappings stay in force and the error propagates."""
        if self.mappings_file is None:
            return self.pipeline.mappings
        mappings = load_mappings(self.mappings_file)
        self.pipeline.reload(mappings)
        return mappings


def _register_metrics(app: Any) -> None:
    registry = getattr(getattr(app.state, "metrics", None), "registry", None)
    if registry is None:
        return
    for collector in (SAMPLES, QUARANTINED, MESSAGES, LATE, RECEIVER_RESTARTS):
        with contextlib.suppress(ValueError):  # already registered on this app's registry
            registry.register(collector)


async def run_ingest(platform: Any) -> None:
    """Background factory for ``bootstrap.BACKGROUND``: runs until cancelled, then drains and stops."""
    settings, services = platform.settings, platform.services
    mfile = getattr(settings, "mappings_file", None)
    mappings = load_mappings(mfile) if mfile else MappingSet()
    history = TimeSeriesStore(platform.store.engine)
    time_policy = QualitySettings(max_age_s=settings.quality_max_age_s,
                                  future_tolerance_s=settings.quality_future_tolerance_s)
    pipeline = IngestPipeline(history, mappings, clock=services.clock, engine=QualityEngine(time_policy))

    def publish(committed: Committed) -> None:
        services.bus.publish(committed.result.events)

    pipeline.on_commit.append(publish)
    security = getattr(platform.app.state, "security", None)
    if security is not None:  # payloads refused for their identity are security events (S-05, S-15)
        pipeline.on_commit.append(identity_refusals(security))
    runtime = IngestRuntime(pipeline, history, Path(mfile) if mfile else None)
    platform.app.state.ingest = runtime
    _register_metrics(platform.app)
    task = pipeline.start()
    mqtt_url = getattr(settings, "mqtt_url", None)
    try:
        if mqtt_url:
            host, port = parse_broker_url(mqtt_url)
            runtime.mqtt = MqttIngestService(pipeline, MqttSettings(
                host=host, port=port, client_id=getattr(settings, "mqtt_client_id", "tvilling-ingest"),
                topics=tuple(getattr(settings, "mqtt_topics", ("plant/+/telemetry",))),
                shared_group=getattr(settings, "mqtt_shared_group", None),
                protocol=getattr(settings, "mqtt_protocol", 5)),
                receiver=getattr(settings, "mqtt_receiver", "process"))
            await runtime.mqtt.start()
            log.info("MQTT ingestion from %s:%d (acks after commit)", host, port)
        await asyncio.shield(task)  # on cancel: stop the source first, then drain the queue (below)
    finally:
        if runtime.mqtt is not None:
            await runtime.mqtt.stop()
        await asyncio.shield(pipeline.stop())
