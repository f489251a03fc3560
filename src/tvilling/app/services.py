"""The bundle of app services handed to front-ends (API, CLI in-process, dashboard)."""

from __future__ import annotations

from dataclasses import dataclass, field

from tvilling.adapters.sql.store import SqlStore
from tvilling.app.auth import TokenService
from tvilling.app.events import EventBus
from tvilling.app.models import Compiler, ModelService, default_compiler
from tvilling.app.query import QueryService
from tvilling.app.relationships import RelationshipService
from tvilling.app.twins import TwinService
from tvilling.ports.clock import Clock, SystemClock


@dataclass
class Services:
    store: SqlStore
    bus: EventBus
    clock: Clock
    models: ModelService
    twins: TwinService
    relationships: RelationshipService
    tokens: TokenService
    query: QueryService
    info: dict[str, str] = field(default_factory=dict)  # observed durability settings, schema revision

    @classmethod
    def build(cls, store: SqlStore, *, bus: EventBus | None = None, clock: Clock | None = None,
              compiler: Compiler = default_compiler, token_cache_ttl_s: float = 10.0) -> Services:
        bus = bus or EventBus()
        clock = clock or SystemClock()
        models = ModelService(store, bus, clock, compiler)
        return cls(store=store, bus=bus, clock=clock, models=models,
                   twins=TwinService(store, bus, clock, models),
                   relationships=RelationshipService(store, bus, clock, models),
                   tokens=TokenService(store, clock, token_cache_ttl_s), query=QueryService(store, models))
