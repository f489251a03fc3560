"""The model registry service on SQLite and PostgreSQL: versions, one production per name, promote / roll back
recorded as events with the caller's context, tenant isolation."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tvilling.adapters.sql import migrate
from tvilling.adapters.sql.engine import make_engine
from tvilling.adapters.sql.store import SqlStore
from tvilling.app.events import EventBus
from tvilling.app.registry import RegistryService
from tvilling.core.context import Context
from tvilling.core.errors import ConflictError, NotFoundError, ValidationError
from tvilling.core.events import Event
from tvilling.ports.clock import SystemClock


@pytest.fixture
def registry(db_url: str) -> Iterator[tuple[RegistryService, list[Event]]]:
    engine = make_engine(db_url)
    migrate.check_version(engine, auto_migrate=True)
    store = SqlStore(engine)
    bus = EventBus()
    published: list[Event] = []
    bus.listen(published.append)
    yield RegistryService(store, bus, SystemClock()), published
    store.dispose()


def add(reg: RegistryService, name: str, tenant: str = "acme", **kw: Any) -> int:
    ctx = Context.new(actor="token:abc")
    return reg.register(tenant, name, "anomaly", b'{"format": "x"}', "x/1", ctx, metrics={"mae": 0.5},
                        training={"start": "2026-01-01T00:00:00Z", "end": "2026-01-02T00:00:00Z", "twins": ["p1"]},
                        parameters={"warmup": 200}, lineage={"data_fingerprint": "f00"}, **kw).version


def stages(reg: RegistryService, name: str) -> list[str]:
    return [v.stage for v in reg.versions("acme", name)]


def test_versions_are_monotone_with_metadata(registry: tuple[RegistryService, list[Event]]) -> None:
    reg, published = registry
    assert [add(reg, "pump-1:anomaly") for _ in range(3)] == [1, 2, 3]
    assert add(reg, "other") == 1
    v2 = reg.get("acme", "pump-1:anomaly", 2)
    assert v2.stage == "candidate" and v2.created_by == "token:abc" and v2.metrics == {"mae": 0.5}
    assert v2.training["twins"] == ["p1"] and v2.lineage["data_fingerprint"] == "f00"
    assert v2.lineage["code_version"]  # recorded by the registry itself
    assert reg.artifact("acme", "pump-1:anomaly", 2) == b'{"format": "x"}'
    listed = {m["name"]: m for m in reg.list_models("acme")}
    assert listed["pump-1:anomaly"] == {"name": "pump-1:anomaly", "kind": "anomaly", "versions": 3,
                                        "latest_version": 3, "production_version": None}
    assert [e.kind for e in published] == ["ml.model.registered"] * 4
    with pytest.raises(ValidationError):
        reg.register("acme", "a/b", "anomaly", b"", "x/1", Context.new())
    with pytest.raises(ValidationError):
        reg.register("acme", "ok", "forecast", b"", "x/1", Context.new())


def test_promote_keeps_one_production_and_rollback_walks_back(registry: tuple[RegistryService, list[Event]]) -> None:
    reg, published = registry
    for _ in range(3):
        add(reg, "m")
    with pytest.raises(ConflictError):
        reg.rollback("acme", "m", Context.new())  # nothing in production yet
    ctx = Context.new(actor="token:eng")
    reg.promote("acme", "m", 1, ctx)
    with pytest.raises(ConflictError):
        reg.rollback("acme", "m", Context.new())  # v1 replaced nothing
    reg.promote("acme", "m", 2, ctx)
    reg.promote("acme", "m", 3, ctx)
    assert stages(reg, "m") == ["archived", "archived", "production"]
    assert reg.rollback("acme", "m", ctx).version == 2
    assert stages(reg, "m") == ["archived", "production", "archived"]
    assert reg.rollback("acme", "m", ctx).version == 1  # and again: a stack, not a toggle
    assert stages(reg, "m") == ["production", "archived", "archived"]
    found = reg.production("acme", "m")
    assert found is not None and found[0].version == 1
    with pytest.raises(ConflictError):
        reg.promote("acme", "m", 1, ctx)  # already production
    with pytest.raises(NotFoundError):
        reg.promote("acme", "m", 9, ctx)
    moves = [(e.kind, e.data["version"], e.data["previous"], e.actor, e.context_id) for e in published
             if e.kind != "ml.model.registered"]
    assert moves == [("ml.model.promoted", 1, None, "token:eng", ctx.id),
                     ("ml.model.promoted", 2, 1, "token:eng", ctx.id),
                     ("ml.model.promoted", 3, 2, "token:eng", ctx.id),
                     ("ml.model.rolled_back", 2, 3, "token:eng", ctx.id),
                     ("ml.model.rolled_back", 1, 2, "token:eng", ctx.id)]
    with reg.store.read() as tx:  # recorded in the event store, not only published
        stored = [e.event.kind for e in tx.events.list("acme", subject="m", limit=100)]
    assert stored.count("ml.model.rolled_back") == 2 and stored.count("ml.model.promoted") == 3


def test_register_with_promote_archives_the_previous(registry: tuple[RegistryService, list[Event]]) -> None:
    reg, _ = registry
    add(reg, "m", promote=True)
    add(reg, "m", promote=True)
    assert stages(reg, "m") == ["archived", "production"]
    assert reg.get("acme", "m", 2).replaced_version == 1


def test_tenants_are_isolated(registry: tuple[RegistryService, list[Event]]) -> None:
    reg, _ = registry
    add(reg, "secret", tenant="globex", promote=True)
    assert reg.list_models("acme") == []
    assert reg.production("acme", "secret") is None
    for call in (lambda: reg.versions("acme", "secret"), lambda: reg.get("acme", "secret", 1),
                 lambda: reg.artifact("acme", "secret", 1), lambda: reg.promote("acme", "secret", 1, Context.new()),
                 lambda: reg.rollback("acme", "secret", Context.new())):
        with pytest.raises(NotFoundError):
            call()
    assert add(reg, "secret") == 1  # names are per tenant
