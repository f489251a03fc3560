"""OPC UA source -> ingest pipeline: StatusCode becomes quality, variant types are checked against the mapping.

Mapping rows keyed by ``node_id`` (quality/mapping.py) say which twin property a node feeds. Every data change is
one :class:`Envelope` whose ``build`` step runs in the pipeline's batch worker:

* source status Bad*       -> Bad, quarantined, reason ``source_status``, the code name in the detail;
* wrong variant type, Null variant, array where a scalar is expected -> quarantined, reason ``wrong_type`` (B-07);
* otherwise the quality engine assesses the value; a source status Uncertain* makes a Good verdict Uncertain with
  reason ``source_status`` and keeps the code name with the sample (``value_json.original.status``).

There are no acks in OPC UA: a subscription is a live view, and a lost notification is covered by the next one.
``run_opcua`` is a ``bootstrap.BACKGROUND`` factory; it does nothing unless ``opcua_url`` is set.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from tvilling.adapters.opcua import OpcuaSample, OpcuaSecurityError, OpcuaSettings, OpcuaSource
from tvilling.adapters.sql.timeseries import QuarantineRow
from tvilling.app.ingest import IngestPipeline
from tvilling.app.ingest_rows import Envelope, Rows, _add, _quarantine
from tvilling.app.security_events import opcua_refusals
from tvilling.core.errors import UnavailableError
from tvilling.core.quality import Quality, Reason
from tvilling.quality.mapping import MappingSet
from tvilling.quality.rules import Assessment, QualityEngine

log = logging.getLogger(__name__)

_INTEGER_TYPES = {"SByte", "Byte", "Int16", "UInt16", "Int32", "UInt32", "Int64", "UInt64"}
_ACCEPTED: dict[str, set[str]] = {
    "double": {"Double", "Float", *_INTEGER_TYPES},
    "integer": _INTEGER_TYPES,
    "boolean": {"Boolean"},
    "string": {"String"},
}


def node_ids(mappings: MappingSet) -> list[str]:
    return [t.node_id for t in mappings.topics.values() if t.node_id is not None]


def build_opcua(sample: OpcuaSample, env: Envelope, tenant: str, mappings: MappingSet, engine: QualityEngine,
                rows: Rows) -> None:
    """The ``Envelope.build`` step for one OPC UA data change (runs in the batch worker)."""
    topic = mappings.for_address(sample.node_id)
    if topic is None or not topic.points:
        _quarantine(rows, QuarantineRow(tenant, env.source, env.address, Reason.UNMAPPED.value,
                                        f"no mapping for node {sample.node_id!r}"))
        return
    spec = topic.points[0]  # a node row maps one variant to one property
    t = sample.source_time_us if sample.source_time_us is not None else env.received_at_us

    def bad(reason: Reason, detail: str) -> None:
        _add(rows, tenant, env, Assessment(spec, _plain(sample.value), t, Quality.BAD, reason, store=False,
                                           quarantine=True, detail=detail))

    if sample.severity == "bad":
        bad(Reason.SOURCE_STATUS, f"source status {sample.status}")
        return
    if sample.is_array or sample.variant_type not in _ACCEPTED.get(spec.type, set()) or sample.value is None:
        shape = "array" if sample.is_array else sample.variant_type
        bad(Reason.WRONG_TYPE, f"{shape} variant where a scalar {spec.type} is expected")
        return
    # OPC UA data changes carry no unit: the mapping's source_unit (else the twin's unit) is the declared one.
    unit = spec.source_unit if spec.source_unit is not None else spec.unit
    a = engine.assess(spec, sample.value, unit, t, env.received_at_us)
    if sample.severity == "uncertain" and not a.quarantine:
        a.quality, a.reason = Quality.UNCERTAIN, Reason.SOURCE_STATUS
        a.detail = f"source status {sample.status}"
        a.original = {"value": _plain(sample.value), "status": sample.status}
    _add(rows, tenant, env, a)


def _plain(v: Any) -> Any:
    return v if isinstance(v, str | int | float | bool) or v is None else repr(v)[:200]


class OpcuaIngestService:
    """Subscribes to every mapped NodeId and hands each data change to the pipeline."""

    def __init__(self, pipeline: IngestPipeline, settings: OpcuaSettings, tenant: str | None = None, *,
                 on_refused: Callable[[OpcuaSecurityError], None] | None = None) -> None:
        self.pipeline = pipeline
        self.tenant = tenant
        self.source = OpcuaSource(settings, self._on_samples, on_refused=on_refused)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> asyncio.Task[None]:
        self._task = asyncio.create_task(self.source.run(), name="opcua-source")
        return self._task

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def _on_samples(self, samples: list[OpcuaSample]) -> None:
        now = self.pipeline.now_us()
        for s in samples:
            env = Envelope(source="opcua", address=s.node_id, received_at_us=now, tenant=self.tenant)
            env.build = partial(build_opcua, s)
            try:
                self.pipeline.submit_nowait(env)
            except asyncio.QueueFull:
                asyncio.ensure_future(self.pipeline.submit(env))  # noqa: RUF006 — the queue holds the reference


def settings_from(platform_settings: Any, mappings: MappingSet) -> OpcuaSettings | None:
    url = getattr(platform_settings, "opcua_url", None)
    if not url:
        return None

    def path(name: str) -> Path | None:
        v = getattr(platform_settings, name, None)
        return Path(v) if v else None

    return OpcuaSettings(url=url, node_ids=tuple(node_ids(mappings)),
                         security=getattr(platform_settings, "opcua_security", "SignAndEncrypt"),
                         certificate=path("opcua_certificate"), private_key=path("opcua_private_key"),
                         server_certificate=path("opcua_server_certificate"))


async def run_opcua(platform: Any) -> None:
    """Background factory: waits for the ingest runtime (``run_ingest``) and feeds its pipeline until cancelled."""
    if not getattr(platform.settings, "opcua_url", None):
        return
    for _ in range(600):  # run_ingest starts beside us; it publishes its runtime at once
        runtime = getattr(platform.app.state, "ingest", None)
        if runtime is not None:
            break
        await asyncio.sleep(0.05)
    else:
        raise UnavailableError("OPC UA ingestion: the ingest pipeline never started")
    settings = settings_from(platform.settings, runtime.pipeline.mappings)
    assert settings is not None
    # a connection refused for its security is a security event (S-12, S-15)
    service = OpcuaIngestService(runtime.pipeline, settings, on_refused=opcua_refusals(
        getattr(platform.app.state, "security", None), "ingest", settings.url))
    platform.app.state.opcua = service
    task = service.start()
    try:
        await task
    finally:
        await service.stop()
