"""Physics models coupled to live twins: the hybrid (physics + ML) part of the predictive layer.

``run_physics(platform)`` is registered in ``bootstrap.BACKGROUND``. It loads ``physics.yaml`` (see
:mod:`tvilling.app.physics_config`), listens on the event bus for ``twin.telemetry`` (published after commit) and
runs one :class:`~tvilling.app.physics_twin.TwinCoupling` per twin whose model is, or extends, a configured model:
the tenant's FMU from its library in a long-lived child process (:class:`~tvilling.app.fmu_session.FmuSession`),
stepped on the twin's source time, its outputs compared with the measured properties, the residuals charted.
Episodes are ``insight.anomaly`` / ``insight.cleared`` events (detector ``physics``), appended and committed, then
published — the same insights the ML monitors raise, so work-order rules and the dashboard treat them alike.

Cost and isolation, as in :mod:`tvilling.app.monitoring` (both are :class:`~tvilling.app.events.QueuedConsumer`):
the bus listener only hands events to the event loop into a bounded queue (a full queue drops telemetry for the
models and counts it; ingestion is never slowed), and batches are processed in one worker thread at a time. At most
``physics_max_sessions`` couplings keep a process; the least recently fed one is closed beyond that (it restarts,
keeping nothing, when its twin reports again).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tvilling.app.events import ConsumerStats, QueuedConsumer, run_attached
from tvilling.app.fmu_session import FmuSession
from tvilling.app.monitoring import spec_by_model
from tvilling.app.monitoring_twin import iso
from tvilling.app.physics_config import CouplingSpec, PhysicsConfig, load_config
from tvilling.app.physics_twin import TwinCoupling
from tvilling.app.registry import RegistryService
from tvilling.app.site import site_file
from tvilling.core.context import Context, new_id
from tvilling.core.errors import NotFoundError, TvillingError, ValidationError
from tvilling.core.events import Event

log = logging.getLogger(__name__)

ACTOR = "physics"
REFERENCE_FORMAT = "tvilling.residual-references.v1"


def reference_name(twin_id: str) -> str:
    """The registry name of a twin's learned residual references."""
    return f"{twin_id}:physics"


def _parameters(spec: CouplingSpec) -> dict[str, Any]:
    """What the references depend on: learned with other settings, they do not hold."""
    return {"fmu": spec.fmu, "step": spec.step, "values": dict(sorted(spec.values.items())),
            "outputs": {k: vars(m) for k, m in sorted(spec.outputs.items())},
            "charts": {"ewma_weight": spec.charts.ewma_weight, "ewma_limit": spec.charts.ewma_limit,
                       "point_limit": spec.charts.point_limit}}


@dataclass
class PhysicsService(QueuedConsumer):
    services: Any  # tvilling.app.services.Services
    config: PhysicsConfig
    library: Any  # tvilling.app.fmus.FmuLibrary: artifact(tenant, fmu) -> bytes
    max_sessions: int = 20
    timeout_s: float = 30.0
    queue_size: int = 10_000
    max_batch: int = 500
    stats: ConsumerStats = field(default_factory=ConsumerStats)
    registry: RegistryService | None = None
    actor = ACTOR

    def __post_init__(self) -> None:
        self.couplings: OrderedDict[tuple[str, str], TwinCoupling] = OrderedDict()
        self._specs: dict[tuple[str, str], tuple[str, CouplingSpec | None]] = {}
        self._init_queue()
        self._stopped = False
        if self.registry is None and hasattr(self.services, "store"):
            self.registry = RegistryService(self.services.store, self.services.bus, self.services.clock)

    # -- wiring (QueuedConsumer does the rest) ---------------------------------------------------------------
    def wants(self, event: Event) -> bool:
        # A promotion or roll-back of a twin's residual references by someone else (own events are skipped)
        # restarts its coupling from the new production version.
        return event.kind == "twin.telemetry" or event.kind in ("ml.model.promoted", "ml.model.rolled_back") or (
            event.kind.startswith(("twin.", "model.", "fmu.")) and event.kind != "twin.quality")

    async def run(self) -> None:
        try:
            await super().run()
        finally:  # every coupled twin's FMU process ends with the service, and no later batch starts one
            self._stopped = True
            await asyncio.to_thread(self.close)

    # -- coupling (worker thread) ---------------------------------------------------------------------------
    def process(self, events: Sequence[Event]) -> list[Event]:
        """Step the coupled twins' models on a batch of telemetry; append and publish the insights."""
        out: list[Event] = []
        if self._stopped:
            return out
        for event in events:
            if event.kind != "twin.telemetry":
                self._forget(event)
                continue
            changes = event.data.get("changes") if isinstance(event.data, dict) else None
            resolved = self._resolve(event.tenant, event.subject)
            if resolved is None or not isinstance(changes, dict):
                continue
            self.stats.processed += 1
            model_id, spec = resolved
            coupling = self._coupling(event.tenant, event.subject, spec)
            insights = coupling.update(changes)
            if coupling.trained:
                self._register(event, model_id, spec, coupling)
            for insight in insights:
                out.append(Event(kind=insight.kind, tenant=event.tenant, subject=event.subject,
                                 time=self.services.clock.now(), context_id=new_id(), parent_id=event.context_id,
                                 actor=ACTOR, data={"twin": event.subject, "model": model_id, **insight.data}))
        if out:
            with self.services.store.write() as tx:
                tx.events.append(out)
            self.stats.insights += len(out)
            self.services.bus.publish(out)  # after commit (bus contract)
        return out

    def _forget(self, event: Event) -> None:
        """A twin, model or FMU changed: resolve again, and restart couplings that used what changed."""
        if event.kind.startswith("ml.model."):
            twin = event.subject.removesuffix(":physics")
            if reference_name(twin) == event.subject and (event.tenant, twin) in self.couplings:
                self.couplings.pop((event.tenant, twin)).close()
            return
        if event.kind.startswith("fmu."):  # uploaded or deleted: the couplings of that FMU start again
            fmu = event.data.get("fmu") if isinstance(event.data, dict) else None
            for key in [k for k, c in self.couplings.items() if k[0] == event.tenant and c.spec.fmu == fmu]:
                self.couplings.pop(key).close()
            return
        if event.kind.startswith("model."):  # which twins extend which models may have changed
            for key in [k for k in self._specs if k[0] == event.tenant]:
                self._specs.pop(key, None)
            for key in [k for k in self.couplings if k[0] == event.tenant]:
                self.couplings.pop(key).close()
            return
        self._specs.pop((event.tenant, event.subject), None)
        if event.kind == "twin.deleted" and (event.tenant, event.subject) in self.couplings:
            self.couplings.pop((event.tenant, event.subject)).close()

    def _resolve(self, tenant: str, twin_id: str) -> tuple[str, CouplingSpec] | None:
        key = (tenant, twin_id)
        hit = self._specs.get(key)
        if hit is None:
            hit = spec_by_model(self.services, tenant, twin_id, self.config.for_model)
            if hit is None:
                return None
            self._specs[key] = hit
        model_id, spec = hit
        return (model_id, spec) if spec is not None else None

    def _coupling(self, tenant: str, twin_id: str, spec: CouplingSpec) -> TwinCoupling:
        key = (tenant, twin_id)
        coupling = self.couplings.get(key)
        if coupling is None or coupling.spec is not spec:
            if coupling is not None:
                coupling.close()

            def open_session() -> FmuSession:
                try:
                    artifact = self.library.artifact(tenant, spec.fmu)
                except NotFoundError:
                    raise ValidationError(f"no FMU {spec.fmu} in this tenant's library", where="fmu",
                                          hint="upload it (POST /api/v1/fmus) or correct physics.yaml") from None
                return FmuSession(artifact, timeout_s=self.timeout_s, label=f"{spec.fmu} of {twin_id}")

            coupling = self.couplings[key] = TwinCoupling(spec, open_session)
            self._load(tenant, twin_id, coupling)
            while len(self.couplings) > self.max_sessions:
                self.couplings.popitem(last=False)[1].close()
        self.couplings.move_to_end(key)
        return coupling

    # -- the learned references in the model registry ---------------------------------------------------------
    def _load(self, tenant: str, twin_id: str, coupling: TwinCoupling) -> None:
        """Start ``coupling``'s charts from the production references of ``<twin>:physics`` when they were learned
        with this FMU, step, values and chart settings (otherwise it learns afresh)."""
        if self.registry is None:
            return
        try:
            found = self.registry.production(tenant, reference_name(twin_id))
            if found is None or found[0].format != REFERENCE_FORMAT:
                return
            if found[0].parameters != _parameters(coupling.spec):
                log.info("physics coupling of %s learns afresh: its stored references were learned with other "
                         "settings", twin_id)
                return
            doc = json.loads(found[1])
            if not coupling.use_references(doc.get("references", {}), found[0].version):
                log.info("physics coupling of %s learns afresh: its stored references are for other outputs", twin_id)
        except (TvillingError, ValueError, AttributeError) as exc:
            log.warning("physics coupling of %s learns afresh: its stored references cannot be used (%s)", twin_id, exc)

    def _register(self, cause: Event, model_id: str, spec: CouplingSpec, coupling: TwinCoupling) -> None:
        """Register (and promote: it is what runs live) the references the coupling has just learned."""
        pending, coupling.trained = coupling.trained, []
        if self.registry is None:
            return
        for trained in pending:
            artifact = json.dumps({"references": trained["references"]}).encode()
            try:
                version = self.registry.register(
                    cause.tenant, reference_name(cause.subject), "anomaly", artifact, REFERENCE_FORMAT,
                    Context(id=new_id(), parent_id=cause.context_id, actor=ACTOR),
                    metrics={name: {"spread": round(r["spread"], 6), "bias": round(r["center"], 6)}
                             for name, r in trained["references"].items()},
                    training={"start": iso(trained["start"]), "end": iso(trained["end"]), "twins": [cause.subject],
                              "points": trained["rows"]},
                    parameters=_parameters(spec), lineage={"parent_version": coupling.version, "reason": "reference",
                                                           "model": model_id}, promote=True).version
            except TvillingError as exc:  # the coupling goes on; only its record is missing
                self.stats.failures += 1
                log.warning("could not register the residual references of %s: %s", cause.subject, exc)
                continue
            coupling.version = version

    def close(self) -> None:
        for coupling in self.couplings.values():
            coupling.close()

    def snapshot(self, tenant: str, twin_id: str) -> dict[str, Any] | None:
        """The live state of one twin's coupling (None when the twin has none running)."""
        coupling = self.couplings.get((tenant, twin_id))
        return None if coupling is None else {"twin": twin_id, **coupling.snapshot()}

    def coupled_model(self, tenant: str, twin_id: str) -> CouplingSpec | None:
        resolved = self._resolve(tenant, twin_id)
        return None if resolved is None else resolved[1]


async def run_physics(platform: Any) -> None:
    """Background factory for ``bootstrap.BACKGROUND``: runs until cancelled."""
    from tvilling.app.fmus import fmu_library

    settings = platform.settings
    path = site_file(settings, "physics_file", "physics.yaml")
    config = load_config(path) if path else PhysicsConfig()
    service = PhysicsService(platform.services, config, fmu_library(platform.app.state, platform.services),
                             max_sessions=settings.physics_max_sessions, timeout_s=settings.fmu_timeout_s)
    platform.app.state.physics = service
    if not config.couplings:
        log.info("physics: no physics.yaml beside the mappings; no model coupled")
        return
    log.info("physics: %d coupling(s) from %s", len(config.couplings), path)
    await run_attached(service)
