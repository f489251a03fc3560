"""Sparkplug B source -> the ingest pipeline (same quality rules, same group commit, acks after commit).

Every MQTT message under ``spBv1.0/#`` becomes one :class:`Envelope` whose ``build`` step runs in the pipeline's
batch worker, in arrival order, so the host-application state (``HostSessions``: births, aliases, ``seq``,
``bdSeq``) advances exactly once per message:

* NBIRTH/DBIRTH define metrics (name, alias, datatype, engUnit). A metric maps onto an existing twin property
  through a mapping row ``{sparkplug: group/edge[/device], metric: NAME, twin, property, unit, …}``. A device (or
  node) with no mapping row at all is provisioned as a twin of the built-in model
  ``dtmi:tvilling:sparkplug:Device;1`` with id ``<group>.<edge>[.<device>]``: its metrics are its telemetry under
  their Sparkplug names exactly, with their engUnit as unit; the twin's ``metrics`` property records the birth
  certificate (datatype, unit, alias per metric). Control metrics (``bdSeq``, ``Node Control/…``) are skipped.
* Birth values and NDATA/DDATA values go through the quality engine like any other reading (a null metric is
  Bad ``non_finite``, a DataSet/Template/array metric is Bad ``wrong_type``).
* NDEATH (bdSeq matched) / DDEATH: after the commit that holds the death, the points of every device that went
  offline are marked quality ``bad``, reason ``stale: death certificate`` (``twin.quality`` events).
* Data before birth, DDATA of an unborn device, metrics not in the birth -> quarantined with the raw payload
  (reasons ``before_birth``, ``unknown_metric``) and an NCMD ``Node Control/Rebirth``. A ``seq`` gap keeps the
  message's values (they are valid) but records a ``seq_gap`` quarantine row and asks for a rebirth as well.

``run_sparkplug`` (in ``bootstrap.BACKGROUND``) does nothing unless ``sparkplug_enabled`` is set. Importing this
module registers the Sparkplug command transport (DCMD metric writes, acknowledged by the device's DDATA echo)
under ``transport: sparkplug`` in ``app.command_runtime.TRANSPORT_FACTORIES``.
Limitation: session state lives in memory; after a restart, DATA arriving before the node's next birth is
quarantined ``before_birth`` and answered with a rebirth request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from tvilling.adapters.mqtt import MqttSettings, parse_broker_url
from tvilling.adapters.sparkplug import SparkplugCommandTransport, SparkplugSource, ValueObserver
from tvilling.adapters.sql.timeseries import QuarantineRow, TimeSeriesStore
from tvilling.app.command_runtime import TRANSPORT_FACTORIES
from tvilling.app.ingest import Committed, IngestPipeline
from tvilling.app.ingest_rows import RAW_KEEP_BYTES, Envelope, Rows, _add, _quarantine
from tvilling.core.context import Context
from tvilling.core.errors import TvillingError, UnavailableError
from tvilling.core.events import Event
from tvilling.core.quality import Quality, Reason
from tvilling.protocols.sparkplug import (
    DataType,
    DeviceKey,
    HostSessions,
    MessageType,
    MetricDef,
    SparkplugError,
    decode_payload,
    is_control,
    parse_topic,
)
from tvilling.protocols.sparkplug.payload import FLOAT_TYPES, INTEGER_TYPES, STRING_TYPES
from tvilling.quality.mapping import MappingSet, PointSpec, metric_pointer, sparkplug_address
from tvilling.quality.rules import Assessment, QualityEngine

log = logging.getLogger(__name__)

SOURCE = "sparkplug"
DEATH_QUALITY = "bad"
DEATH_REASON = "stale: death certificate"
DEVICE_MODEL = "dtmi:tvilling:sparkplug:Device;1"
DEVICE_MODEL_DOC: dict[str, Any] = {
    "@context": "dtmi:dtdl:context;3", "@id": DEVICE_MODEL, "@type": "Interface",
    "displayName": "Sparkplug B device",
    "description": "Provisioned from a Sparkplug B birth certificate; metrics are telemetry under their own names.",
    "contents": [
        {"@type": "Property", "name": "groupId", "schema": "string"},
        {"@type": "Property", "name": "edgeNodeId", "schema": "string"},
        {"@type": "Property", "name": "deviceId", "schema": "string"},
        {"@type": "Property", "name": "metrics", "schema": {
            "@type": "Map", "mapKey": {"name": "metric", "schema": "string"},
            "mapValue": {"name": "definition", "schema": {"@type": "Object", "fields": [
                {"name": "datatype", "schema": "string"}, {"name": "unit", "schema": "string"},
                {"name": "alias", "schema": "long"}]}}}},
    ],
}
_TYPES = {**dict.fromkeys(FLOAT_TYPES, "double"), **dict.fromkeys(INTEGER_TYPES, "integer"),
          **dict.fromkeys(STRING_TYPES, "string"), DataType.BOOLEAN: "boolean", DataType.DATETIME: "integer"}

Provisioner = Callable[[str, str, DeviceKey, Sequence[MetricDef]], None]


def twin_id_for(key: DeviceKey) -> str:
    """The id of an auto-provisioned twin: ``group.edge[.device]`` (Sparkplug ids contain no ``/``)."""
    return ".".join(p for p in (key.group_id, key.edge_node_id, key.device_id) if p is not None)


def measured(defs: Sequence[MetricDef]) -> list[MetricDef]:
    return [d for d in defs if not is_control(d.name)]


@dataclass
class SparkplugStats:
    messages: int = 0
    births: int = 0
    deaths: int = 0
    rebirths_requested: int = 0
    provisioned: int = 0


class SparkplugIngest:
    """The pure-ish part (no MQTT): turns Sparkplug messages into pipeline rows. ``request_rebirth`` and
    ``provision`` are the side effects, called from the batch worker thread."""

    def __init__(self, *, request_rebirth: Callable[[DeviceKey], None], provision: Provisioner | None = None,
                 sessions: HostSessions | None = None) -> None:
        self.sessions = sessions if sessions is not None else HostSessions()
        self.request_rebirth = request_rebirth
        self.provision = provision
        self.stats = SparkplugStats()
        self.deaths: dict[int, tuple[str, list[DeviceKey], list[tuple[str, str]]]] = {}  # id(envelope) -> …
        self.observers: list[ValueObserver] = []  # e.g. the command transport, waiting for a metric's echo
        self._provisioned: set[tuple[str, str]] = set()
        self._auto_specs: dict[tuple[str, str, DataType, str | None], PointSpec] = {}

    # -- mapping --------------------------------------------------------------------------------------------
    def spec(self, mappings: MappingSet, key: DeviceKey, d: MetricDef) -> PointSpec | None:
        """The point a metric feeds: its mapping row, else (device not mapped at all) the provisioned twin's."""
        topic = mappings.for_address(sparkplug_address(str(key)))
        if topic is not None:
            pointer = metric_pointer(d.name)
            return next((p for p in topic.points if p.pointer == pointer), None)  # unmapped metric: skipped
        if self.provision is None:
            return None
        twin = twin_id_for(key)
        ck = (twin, d.name, d.datatype, d.unit)
        spec = self._auto_specs.get(ck)
        if spec is None:
            typ = _TYPES.get(d.datatype, "double")
            spec = self._auto_specs[ck] = PointSpec(twin_id=twin, name=d.name, pointer=metric_pointer(d.name),
                                                    type=typ, unit=d.unit if typ in ("double", "integer") else None)
        return spec

    # -- the Envelope.build step ----------------------------------------------------------------------------
    def build(self, env: Envelope, tenant: str, mappings: MappingSet, engine: QualityEngine, rows: Rows) -> None:
        self.stats.messages += 1
        try:
            topic = parse_topic(env.address)
        except SparkplugError as exc:
            self._reject(rows, tenant, env, Reason.DECODE_ERROR.value, str(exc))
            return
        if topic.message_type in (MessageType.STATE, MessageType.NCMD, MessageType.DCMD):
            return  # host state and commands (ours included) are not telemetry
        try:
            payload = decode_payload(env.payload)
        except SparkplugError as exc:
            self._reject(rows, tenant, env, Reason.DECODE_ERROR.value, f"{exc}; {len(env.payload)} bytes")
            return
        out = self.sessions.handle(topic, payload, env.received_at_us)
        for flag in out.flags:
            if flag.reason == "stale_death":
                log.info("Sparkplug: %s", flag.detail)
                continue
            self._reject(rows, tenant, env, flag.reason, flag.detail, raw=flag.rejected)
        if out.rebirth is not None:
            self.stats.rebirths_requested += 1
            try:
                self.request_rebirth(out.rebirth)
            except Exception:  # the next bad message asks again once the hold-off has passed
                log.exception("could not request a rebirth from %s", out.rebirth)
        if out.kind == "birth":
            self.stats.births += 1
            self._maybe_provision(tenant, mappings, out.key, out.born)
        if out.died:
            self.stats.deaths += 1
            points = [(s.twin_id, s.name) for k, defs in out.died.items() for d in measured(defs)
                      if (s := self.spec(mappings, k, d)) is not None]
            self.deaths[id(env)] = (tenant, list(out.died), points)
        default_us = payload.timestamp_ms * 1000 if payload.timestamp_ms is not None else env.received_at_us
        unmapped = 0
        for v in out.values:
            d = v.definition
            for observe in self.observers:
                try:
                    observe(out.key, d.name, v.value, v.timestamp_ms)
                except Exception:  # an observer's bug must not cost the data
                    log.exception("Sparkplug value observer failed")
            if is_control(d.name) or (v.is_null and out.kind == "birth"):
                continue  # a null in a birth certificate means "no value yet", not a bad reading
            spec = self.spec(mappings, out.key, d)
            if spec is None:
                unmapped += mappings.for_address(sparkplug_address(str(out.key))) is None
                continue
            t = v.timestamp_ms * 1000 if v.timestamp_ms is not None else default_us
            if d.datatype not in _TYPES:
                _add(rows, tenant, env, Assessment(spec, None, t, Quality.BAD, Reason.WRONG_TYPE, store=False,
                                                   quarantine=True, detail=f"{d.datatype.name} metric"))
                continue
            unit = spec.source_unit if spec.source_unit is not None else d.unit
            _add(rows, tenant, env, engine.assess(spec, v.value, unit, t, env.received_at_us))
        if unmapped:
            self._reject(rows, tenant, env, Reason.UNMAPPED.value,
                         f"no mapping for Sparkplug {out.key} ({unmapped} metrics) and provisioning is off")

    def _maybe_provision(self, tenant: str, mappings: MappingSet, key: DeviceKey, born: Sequence[MetricDef]) -> None:
        defs = measured(born)
        if (self.provision is None or not defs
                or mappings.for_address(sparkplug_address(str(key))) is not None):
            return
        twin = twin_id_for(key)
        if (tenant, twin) in self._provisioned:
            return
        try:
            self.provision(tenant, twin, key, defs)
        except Exception:  # history is kept anyway; the twin's state appears once it exists
            log.exception("could not provision twin %s for Sparkplug %s", twin, key)
            return
        self._provisioned.add((tenant, twin))
        self.stats.provisioned += 1

    @staticmethod
    def _reject(rows: Rows, tenant: str, env: Envelope, reason: str, detail: str, *, raw: bool = True) -> None:
        _quarantine(rows, QuarantineRow(tenant, SOURCE, env.address, reason, detail,
                                        raw=env.payload[:RAW_KEEP_BYTES] if raw else None))


def provision_with(services: Any) -> Provisioner:
    """A provisioner on the platform services: upload the built-in model once, create the twin if absent."""

    def provision(tenant: str, twin_id: str, key: DeviceKey, defs: Sequence[MetricDef]) -> None:
        from tvilling.core.errors import ConflictError, PreconditionFailedError

        ctx = Context.new(actor="sparkplug")
        if DEVICE_MODEL not in services.models.model_set(tenant):
            with contextlib.suppress(ConflictError):  # uploaded meanwhile
                services.models.upload(tenant, [DEVICE_MODEL_DOC], ctx)
        metrics = {d.name: {"datatype": d.datatype.name, **({"unit": d.unit} if d.unit else {}),
                            **({"alias": d.alias} if d.alias is not None else {})} for d in defs}
        body = {"$metadata": {"$model": DEVICE_MODEL}, "groupId": key.group_id, "edgeNodeId": key.edge_node_id,
                **({"deviceId": key.device_id} if key.device_id is not None else {}), "metrics": metrics}
        with contextlib.suppress(PreconditionFailedError):  # provisioned earlier: history and state continue
            services.twins.put(tenant, twin_id, body, ctx, if_none_match="*")

    return provision


class SparkplugIngestService:
    """MQTT (``spBv1.0/#``) -> envelopes -> pipeline; death marks after the commit that holds the death."""

    def __init__(self, pipeline: IngestPipeline, settings: MqttSettings, store: TimeSeriesStore, *,
                 host_id: str = "tvilling", tenant: str | None = None, provision: Provisioner | None = None,
                 publish: Callable[[list[Event]], None] | None = None) -> None:
        self.pipeline = pipeline
        self.store = store
        self.tenant = tenant
        self.publish = publish
        self.source = SparkplugSource(settings, self._on_message, host_id)
        self.ingest = SparkplugIngest(request_rebirth=self.source.request_rebirth, provision=provision)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._inbox: deque[Envelope] = deque()
        self._scheduled = False
        pipeline.on_commit.append(self._after_commit)

    def add_observer(self, observer: ValueObserver) -> None:
        if observer not in self.ingest.observers:
            self.ingest.observers.append(observer)

    async def start(self, wait_subscribed_s: float = 0.0) -> None:
        self._loop = asyncio.get_running_loop()
        self.source.start()
        if wait_subscribed_s > 0 and not await asyncio.to_thread(self.source.wait_subscribed, wait_subscribed_s):
            log.warning("Sparkplug: not subscribed after %.1f s; still trying", wait_subscribed_s)

    async def stop(self) -> None:
        await asyncio.to_thread(self.source.stop)
        if self._after_commit in self.pipeline.on_commit:
            self.pipeline.on_commit.remove(self._after_commit)

    def _on_message(self, topic: str, payload: bytes, ack: Any) -> None:
        # paho's thread: one loop wake-up per burst (see MqttIngestService._on_message).
        env = Envelope(source=SOURCE, address=topic, received_at_us=self.pipeline.now_us(), payload=payload,
                       tenant=self.tenant, ack=ack, build=self.ingest.build)
        self._inbox.append(env)
        if not self._scheduled:
            self._scheduled = True
            assert self._loop is not None
            self._loop.call_soon_threadsafe(self._drain)

    def _drain(self) -> None:
        self._scheduled = False
        while self._inbox:
            env = self._inbox.popleft()
            try:
                self.pipeline.submit_nowait(env)
            except asyncio.QueueFull:
                asyncio.ensure_future(self.pipeline.submit(env))  # noqa: RUF006 — the queue holds the reference

    async def _after_commit(self, committed: Committed) -> None:
        for env in committed.envelopes:
            death = self.ingest.deaths.pop(id(env), None)
            if death is None:
                continue
            tenant, keys, points = death
            # Born again meanwhile (a later message of the same batch): the fresh values stand.
            alive = {twin_id_for(k) for k in keys if self.ingest.sessions.is_online(k)}
            points = [p for p in points if p[0] not in alive]
            if not points:
                continue
            result = await asyncio.to_thread(self.store.mark_quality, tenant, points, DEATH_QUALITY, DEATH_REASON,
                                             self.pipeline.now_us())
            if self.publish is not None and result.events:
                self.publish(result.events)


def _settings(platform_settings: Any) -> MqttSettings | None:
    s = platform_settings
    if not getattr(s, "sparkplug_enabled", False):
        return None
    url = getattr(s, "sparkplug_url", None) or getattr(s, "mqtt_url", None)
    if not url:
        raise TvillingError("Sparkplug ingestion is enabled but no broker is set",
                            hint="set TVILLING_SPARKPLUG_URL (or TVILLING_MQTT_URL)")
    host, port = parse_broker_url(url)
    return MqttSettings(host=host, port=port, client_id=getattr(s, "sparkplug_client_id", "tvilling-sparkplug"),
                        protocol=getattr(s, "mqtt_protocol", 5))


async def run_sparkplug(platform: Any) -> None:
    """Background factory: waits for the ingest runtime (``run_ingest``) and feeds its pipeline until cancelled."""
    settings = _settings(platform.settings)
    if settings is None:
        return
    for _ in range(600):  # run_ingest starts beside us and publishes its runtime at once
        runtime = getattr(platform.app.state, "ingest", None)
        if runtime is not None:
            break
        await asyncio.sleep(0.05)
    else:
        raise UnavailableError("Sparkplug ingestion: the ingest pipeline never started")
    provision = provision_with(platform.services) if getattr(platform.settings, "sparkplug_provision", True) \
        else None
    service = SparkplugIngestService(runtime.pipeline, settings, runtime.history,
                                     host_id=getattr(platform.settings, "sparkplug_host_id", "tvilling"),
                                     provision=provision, publish=platform.services.bus.publish)
    platform.app.state.sparkplug = service
    _RUNNING[id(platform.settings)] = service
    await service.start()
    log.info("Sparkplug B ingestion from %s:%d as host %s", settings.host, settings.port, service.source.host_id)
    try:
        await asyncio.Event().wait()
    finally:
        _RUNNING.pop(id(platform.settings), None)
        await service.stop()


# The command transport (adapters/sparkplug.py) sends through the running host of the same platform. The command
# runtime builds transports from settings alone, so hosts are found by their platform's settings object.
_RUNNING: dict[int, SparkplugIngestService] = {}


def sparkplug_command_transport(settings: Any) -> SparkplugCommandTransport | None:
    """``TRANSPORT_FACTORIES['sparkplug']``: DCMD commands through this platform's Sparkplug host."""
    if not getattr(settings, "sparkplug_enabled", False):
        return None
    return SparkplugCommandTransport(lambda: _RUNNING.get(id(settings)))


TRANSPORT_FACTORIES.setdefault("sparkplug", sparkplug_command_transport)


__all__ = ["DEATH_REASON", "DEVICE_MODEL", "SparkplugIngest", "SparkplugIngestService", "run_sparkplug", "twin_id_for"]
