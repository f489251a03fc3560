"""LiveHub: one bus listener, a per-tenant snapshot, coalesced notifications (no polling)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tvilling.adapters.sql.engine import make_engine
from tvilling.adapters.sql.migrate import check_version
from tvilling.adapters.sql.store import SqlStore
from tvilling.app.alarms import AlarmService
from tvilling.app.services import Services
from tvilling.app.site import SitePackage, load_site
from tvilling.core.context import Context
from tvilling.core.events import Event
from tvilling.dashboard import live

SITE = Path(__file__).resolve().parents[3] / "examples" / "bottling-plant"


@pytest.fixture
def services(tmp_path: Path) -> Services:
    engine = make_engine(f"sqlite:///{tmp_path / 'l.db'}", profile="durable")
    check_version(engine, auto_migrate=True)
    svc = Services.build(SqlStore(engine))
    load_site(svc, "default", SitePackage(SITE), Context.new(actor="test"))
    return svc


def telemetry(twin: str, **values: float) -> Event:
    now = datetime.now(UTC)
    return Event(kind="twin.telemetry", tenant="default", subject=twin, time=now, context_id="c",
                 data={"changes": {k: {"new": v, "quality": "good", "reason": "",
                                       "source_time": now.isoformat()} for k, v in values.items()}})


async def test_burst_of_events_becomes_one_notification(services: Services) -> None:
    alarms = AlarmService(services.store, services.bus, services.clock)
    hub = live.LiveHub(services, alarms)
    hub.start()
    try:
        state = await hub.tenant("default")
        assert {"pump-1", "filler-1", "conveyor-1", "chiller-1"} <= set(state.assets())
        assert "pump-1-bearing" not in state.assets()  # a part, shown under its machine
        calls: list[tuple[set[str], set[str]]] = []
        hub.watch("default", lambda ids, kinds: calls.append((set(ids), set(kinds))))
        for i in range(50):
            services.bus.publish([telemetry("pump-1", flowRate=10.0 + i), telemetry("pump-1-bearing",
                                                                                   vibrationRms=1.0)])
        await asyncio.sleep(live.FLUSH_S * 2.5)
        assert calls == [({"pump-1", "pump-1-bearing"}, {"twins"})]
        assert state.twins["pump-1"].props["flowRate"].value == 59.0
        # An alarm on a part lowers its machine's health, and the heat map history records it.
        alarms.raise_alarm("default", "pump-1-bearing", "vibrationRms", "critical", "high")
        await asyncio.sleep(live.FLUSH_S * 2.5)
        assert calls[-1][1] == {"alarms"}
        score = hub.asset_health(state, "pump-1")
        assert score is not None and score <= 40
        assert state.history["pump-1"][-1][1] == score
        # Other tenants' events never reach this tenant's pages.
        services.bus.publish([Event(kind="twin.telemetry", tenant="other", subject="pump-1",
                                    time=datetime.now(UTC), context_id="c", data={"changes": {}})])
        await asyncio.sleep(live.FLUSH_S * 2.5)
        assert len(calls) == 2
    finally:
        hub.stop()


async def test_a_page_that_watches_first_does_not_hide_the_twins_from_later_pages(services: Services) -> None:
    """The maintenance plan page watches without loading the tenant; a twin page opened after it must still find
    every twin (it found none, and showed an empty page, until the server restarted)."""
    alarms = AlarmService(services.store, services.bus, services.clock)
    hub = live.LiveHub(services, alarms)
    hub.start()
    try:
        calls: list[set[str]] = []
        hub.watch("default", lambda _ids, kinds: calls.append(set(kinds)))
        services.bus.publish([Event(kind="workorder.created", tenant="default", subject="pump-1",
                                    time=datetime.now(UTC), context_id="c", data={})])
        await asyncio.sleep(live.FLUSH_S * 2.5)
        assert calls == [{"workorders"}]  # the watcher is told before anything loaded the tenant
        state = await hub.tenant("default")
        assert {"pump-1", "filler-1", "line-1"} <= set(state.twins) and state.parent_of("pump-1-bearing") == "pump-1"
        assert await hub.tenant("default") is state and hub.watcher_count() == 1
        services.bus.publish([telemetry("pump-1", flowRate=12.5)])
        await asyncio.sleep(live.FLUSH_S * 2.5)
        assert calls[-1] == {"twins"} and state.twins["pump-1"].props["flowRate"].value == 12.5
    finally:
        hub.stop()
