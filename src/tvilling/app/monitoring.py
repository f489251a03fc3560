"""Live predictive monitoring: detectors and RUL estimators attached to twins by model, fed by committed telemetry.

``run_monitoring(platform)`` is registered in ``bootstrap.BACKGROUND``. It loads the monitoring document
(``monitoring.yaml`` beside the site's mapping file; see :mod:`tvilling.app.monitoring_config`), listens on the
event bus for ``twin.telemetry`` (published by ingestion AFTER commit, so nothing rolled back is ever scored) and
runs one :class:`~tvilling.app.monitoring_twin.TwinMonitor` per twin whose model is, or extends, a configured
model.

Cost and isolation: the bus listener only hands events over to the event loop (``call_soon_threadsafe``) into a
bounded queue; a full queue drops telemetry for scoring and counts it, so a slow monitor can never hold back
ingestion. Batches are scored and their insights written in ONE worker thread at a time (the same thread pool
the ingest path uses), so per-twin state needs no locks. State is in memory and bounded (least recently used
twins are forgotten beyond ``max_twins``; they warm up again when they come back).

Insights are events (``insight.anomaly`` when an episode opens, ``insight.cleared`` when it closes,
``insight.rul`` while degrading) whose causality context's parent is the triggering reading's context; they are
appended and committed, then published on the bus. Where a monitor's ``state`` names twin properties, the values
are also written to the twin (only if its model declares them: DTDL validation is never bypassed).

Model registry (``app/registry.py``): a new monitor starts from the production version of ``<twin>:anomaly``
when one is registered (no warm-up); otherwise every detector it fits (after warm-up, after a drift
recalibration) is registered and promoted, since it is what runs live. A promotion or roll-back made by someone
else drops the twin's monitor, so the next reading rebuilds it from the new production version.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from tvilling.adapters.sql import schema
from tvilling.app.events import ConsumerStats, QueuedConsumer, run_attached
from tvilling.app.monitoring_config import MonitoringConfig, MonitorSpec, load_config
from tvilling.app.monitoring_twin import Insight, TwinMonitor, iso, parse_iso
from tvilling.app.registry import RegistryService
from tvilling.app.site import site_file
from tvilling.app.twins import PropertyUpdate
from tvilling.core.context import Context, new_id
from tvilling.core.errors import NotFoundError, TvillingError, ValidationError
from tvilling.core.events import Event
from tvilling.ml.artifact import BASELINE_FORMAT, dump_baseline, load_baseline
from tvilling.ml.features import BaselineDetector

log = logging.getLogger(__name__)

INSIGHT_KINDS = ("insight.anomaly", "insight.cleared", "insight.rul", "insight.drift", "insight.recalibrated")
ACTOR = "monitoring"


def model_name(twin_id: str) -> str:
    """The registry name of a twin's live anomaly detector."""
    return f"{twin_id}:anomaly"


@dataclass
class MonitoringService(QueuedConsumer):
    services: Any  # tvilling.app.services.Services
    config: MonitoringConfig
    max_twins: int = 10_000
    queue_size: int = 10_000
    max_batch: int = 500
    stats: ConsumerStats = field(default_factory=ConsumerStats)
    registry: RegistryService | None = None
    actor = ACTOR

    def __post_init__(self) -> None:
        if self.registry is None and hasattr(self.services, "store"):
            self.registry = RegistryService(self.services.store, self.services.bus, self.services.clock)
        self.monitors: OrderedDict[tuple[str, str], TwinMonitor] = OrderedDict()
        # (tenant, twin) -> (model id, spec or None); None = not monitored (cached too: most twins are not)
        self._specs: OrderedDict[tuple[str, str], tuple[str, MonitorSpec | None]] = OrderedDict()
        self._state_off: set[tuple[str, str]] = set()  # (tenant, model) whose model rejects the state properties
        self._init_queue()

    # -- wiring (QueuedConsumer does the rest) ---------------------------------------------------------------
    def wants(self, event: Event) -> bool:
        # Telemetry to score, and twin/model changes that invalidate the cached model -> monitor resolution:
        # both go through the one queue, so the worker thread alone touches the monitors (no locks).
        # A promotion / roll-back by someone else (own events are skipped) also goes through it.
        return event.kind == "twin.telemetry" or event.kind in ("ml.model.promoted", "ml.model.rolled_back") or (
            event.kind.startswith(("twin.", "model.")) and event.kind != "twin.quality")

    def _forget(self, event: Event) -> None:
        """A twin or model changed: resolve its monitor spec again on the next reading."""
        if event.kind.startswith("ml.model."):  # another production version: rebuild the monitor from it
            twin = event.subject.removesuffix(":anomaly")
            if model_name(twin) == event.subject:
                self.monitors.pop((event.tenant, twin), None)
            return
        if event.kind.startswith("model."):
            for key in [k for k in self._specs if k[0] == event.tenant]:
                self._specs.pop(key, None)
            return
        self._specs.pop((event.tenant, event.subject), None)
        if event.kind == "twin.deleted":
            self.monitors.pop((event.tenant, event.subject), None)

    # -- scoring (worker thread) ---------------------------------------------------------------------------
    def process(self, events: Sequence[Event]) -> list[Event]:
        """Score a batch of ``twin.telemetry`` events; append and publish the insights. Returns them."""
        out: list[Event] = []
        state: list[tuple[Event, MonitorSpec, str, Insight]] = []
        for event in events:
            if event.kind != "twin.telemetry":
                self._forget(event)
                continue
            self.stats.processed += 1
            resolved = self._resolve(event.tenant, event.subject)
            if resolved is None:
                continue
            model_id, spec = resolved
            monitor = self._monitor(event.tenant, event.subject, spec)
            changes = event.data.get("changes") if isinstance(event.data, dict) else None
            if not isinstance(changes, dict):
                continue
            insights = monitor.update(changes)
            if monitor.trained:
                self._register(event, model_id, spec, monitor)
            for insight in insights:
                ev = Event(kind=insight.kind, tenant=event.tenant, subject=event.subject,
                           time=self.services.clock.now(), context_id=new_id(), parent_id=event.context_id,
                           actor=ACTOR, data={"twin": event.subject, "model": model_id, **insight.data})
                out.append(ev)
                if spec.state:
                    state.append((ev, spec, model_id, insight))
        if out:
            with self.services.store.write() as tx:
                tx.events.append(out)
            self.stats.insights += len(out)
            self.services.bus.publish(out)  # after commit (bus contract)
        for ev, spec, model_id, insight in state:
            self._write_state(ev, spec, model_id, insight)
        return out

    def _resolve(self, tenant: str, twin_id: str) -> tuple[str, MonitorSpec] | None:
        key = (tenant, twin_id)
        hit = self._specs.get(key)
        if hit is None:
            hit = spec_by_model(self.services, tenant, twin_id, self.config.for_model)
            if hit is None:
                return None
            self._specs[key] = hit
            while len(self._specs) > 4 * self.max_twins:
                self._specs.popitem(last=False)
        self._specs.move_to_end(key)
        model_id, spec = hit
        return (model_id, spec) if spec is not None else None

    def _monitor(self, tenant: str, twin_id: str, spec: MonitorSpec) -> TwinMonitor:
        key = (tenant, twin_id)
        monitor = self.monitors.get(key)
        if monitor is None or monitor.spec is not spec:
            monitor = self.monitors[key] = TwinMonitor(spec)
            if spec.register:
                self._load(tenant, twin_id, monitor)
            while len(self.monitors) > self.max_twins:
                self.monitors.popitem(last=False)
        self.monitors.move_to_end(key)
        return monitor

    def _load(self, tenant: str, twin_id: str, monitor: TwinMonitor) -> None:
        """Start ``monitor`` from the registered production detector, if there is a compatible one."""
        if self.registry is None or monitor.spec.detector != "baseline":
            return
        try:
            found = self.registry.production(tenant, model_name(twin_id))
            if found is None or found[0].format != BASELINE_FORMAT:
                return
            detector, extra = load_baseline(found[1])
        except TvillingError as exc:
            log.warning("monitor of %s warms up afresh: its registered model cannot be used (%s)", twin_id, exc)
            return
        if detector.signals != list(monitor.spec.signals):
            log.info("monitor of %s warms up afresh: the registered model has other signals", twin_id)
            return
        monitor.load(detector, extra, found[0].version)

    def _register(self, cause: Event, model_id: str, spec: MonitorSpec, monitor: TwinMonitor) -> None:
        """Register (and promote: it is what runs live) every detector the monitor has just fitted."""
        pending, monitor.trained = monitor.trained, []
        if self.registry is None or not spec.register:
            return
        params: dict[str, Any] = {"model": model_id, "detector": spec.detector, "signals": list(spec.signals),
                                  "warmup": spec.warmup, "threshold": spec.threshold, "z_scale": spec.z_scale,
                                  "smooth": spec.smooth}
        if spec.drift is not None:
            params["drift"] = {"action": spec.drift.action, "monitor": spec.drift.monitor,
                               "method": spec.drift.method, "params": dict(spec.drift.params),
                               "window": spec.drift.window}
        for trained in pending:
            if not isinstance(trained.detector, BaselineDetector):
                continue  # only the baseline detector has a registry format (tvilling.ml.artifact)
            try:
                version = self.registry.register(
                    cause.tenant, model_name(cause.subject), "anomaly",
                    dump_baseline(trained.detector, extra=monitor.artifact_extra()), BASELINE_FORMAT,
                    Context(id=new_id(), parent_id=cause.context_id, actor=ACTOR), metrics=trained.metrics,
                    training={"start": iso(trained.start), "end": iso(trained.end), "twins": [cause.subject],
                              "points": trained.points},
                    parameters=params, lineage={"parent_version": monitor.version, "reason": trained.reason,
                                                "data_fingerprint": trained.fingerprint},
                    promote=True).version
            except TvillingError as exc:  # the live model keeps running; only its record is missing
                self.stats.failures += 1
                log.warning("could not register the %s model of %s: %s", trained.reason, cause.subject, exc)
                continue
            monitor.version = version
            if trained.insight is not None:
                trained.insight["version"] = version

    def _write_state(self, ev: Event, spec: MonitorSpec, model_id: str, insight: Insight) -> None:
        if (ev.tenant, model_id) in self._state_off:
            return
        monitor = self.monitors.get((ev.tenant, ev.subject))
        values: dict[str, Any] = {}
        for prop, source in spec.state.items():
            if source == "score" and monitor is not None:
                values[prop] = round(monitor.last_score, 6)
            elif source == "rul_hours" and insight.kind == "insight.rul":
                values[prop] = insight.data["rul_hours"]["mean"]
            elif source == "p_failure" and insight.kind == "insight.rul":
                values[prop] = insight.data["p_failure"]
        if not values:
            return
        when = parse_iso(ev.data.get("detected_at") or ev.data.get("at") or ev.data.get("cleared_at"))
        source_time = datetime.fromtimestamp(when, UTC) if when is not None else None
        try:
            self.services.twins.update_properties(
                ev.tenant, ev.subject, {k: PropertyUpdate(v, source_time) for k, v in values.items()},
                Context(id=new_id(), parent_id=ev.context_id, actor=ACTOR))
        except TvillingError as exc:
            self._state_off.add((ev.tenant, model_id))
            log.warning("insights of %s stay in events only: its model does not accept %s (%s)",
                        model_id, sorted(values), exc)

    def snapshot(self, tenant: str, twin_id: str) -> dict[str, Any] | None:
        """The live state of one twin's monitor (None when the twin is not monitored)."""
        monitor = self.monitors.get((tenant, twin_id))
        if monitor is None:
            return None
        return {"warmed_up": monitor.warmed_up, "score": round(monitor.last_score, 6),
                "alert": dict(monitor.episode) if monitor.episode else None,
                "rul": dict(monitor.last_rul) if monitor.last_rul else None,
                "readings": monitor.stats.vectors, "late": monitor.stats.late,
                "model_version": monitor.version, "drift_collecting": bool(monitor.drift and monitor.drift.collecting)}


def spec_by_model(services: Any, tenant: str, twin_id: str, for_model: Any) -> tuple[str, Any] | None:
    """(the twin's model, ``for_model(model, is_subtype)`` — the configured entry for that model or one it extends,
    or None) — or None when the twin does not exist."""
    try:
        doc = services.twins.get(tenant, twin_id)
    except NotFoundError:
        return None
    model_id = str(doc.get("$metadata", {}).get("$model", ""))
    ms = services.models.model_set(tenant)

    def is_subtype(dtmi: str, base: str) -> bool:
        return bool(dtmi in ms and ms.is_subtype(dtmi, base))

    return model_id, for_model(model_id, is_subtype)


# -- reading insights back (API) -------------------------------------------------------------------------------
def _kinds(kind: str | None) -> tuple[str, ...]:
    if kind is None:
        return INSIGHT_KINDS
    full = kind if kind.startswith("insight.") else f"insight.{kind}"
    if full not in INSIGHT_KINDS:
        raise ValidationError(f"unknown insight kind {kind!r}", where="kind",
                              hint="one of " + ", ".join(k.removeprefix("insight.") for k in INSIGHT_KINDS))
    return (full,)


def list_insights(services: Any, tenant: str, *, twin: str | None = None, kind: str | None = None,
                  limit: int = 100) -> list[dict[str, Any]]:
    """Insight events of one tenant, newest first."""
    kinds = _kinds(kind)
    e = schema.events.c
    query = (sa.select(e.seq, e.kind, e.subject, e.time, e.context_id, e.parent_id, e.data)
             .where(e.tenant == tenant, e.kind.in_(kinds)).order_by(e.seq.desc()).limit(limit))
    if twin is not None:
        query = query.where(e.subject == twin)
    with services.store.engine.connect() as conn:
        rows = list(conn.execute(query))
    return [{"seq": r.seq, "kind": r.kind, "twin": r.subject, "time": r.time.isoformat(),
             "context": {"id": r.context_id, "parent_id": r.parent_id}, "data": r.data} for r in rows]


async def run_monitoring(platform: Any) -> None:
    """Background factory for ``bootstrap.BACKGROUND``: runs until cancelled."""
    settings = platform.settings
    path = site_file(settings, "monitoring_file", "monitoring.yaml")
    config = load_config(path) if path else MonitoringConfig()
    service = MonitoringService(platform.services, config)
    platform.app.state.monitoring = service
    if not config.monitors:
        log.info("monitoring: no monitoring.yaml beside the mappings; no detectors attached")
        return
    log.info("monitoring: %d model(s) monitored from %s", len(config.monitors), path)
    await run_attached(service)
