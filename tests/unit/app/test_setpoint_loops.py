"""Setpoint loops through SetpointLoopService and CommandService on SQLite and PostgreSQL: recommend, approve and
auto modes; autonomy only once enabled, suspended by a guard or the kill switch, by failed commands in a row and
by a restart; uncertain proposals routed to a person; every autonomy change audited; decisions started by
telemetry once per period of the zone's time."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from tests.support import zone
from tests.unit.app.test_command_service import FakeTransport, ManualClock
from tvilling.adapters.sql.engine import make_engine
from tvilling.adapters.sql.migrate import check_version
from tvilling.adapters.sql.store import SqlStore
from tvilling.adapters.sql.timeseries import SampleRow, TimeSeriesStore
from tvilling.app.alarms import AlarmService
from tvilling.app.command_mapping import parse_command_mappings
from tvilling.app.commands import CommandService
from tvilling.app.services import Services
from tvilling.app.setpoint_config import parse_config
from tvilling.app.setpoint_loops import RESTART_REASON, SetpointLoopService
from tvilling.core.context import Context
from tvilling.core.errors import ConflictError, NotFoundError, UnavailableError, ValidationError
from tvilling.core.events import Event
from tvilling.ports.commands import CommandSendError

CTX = "dtmi:dtdl:context;3"
MODEL = {"@context": CTX, "@id": "dtmi:t:Zone;1", "@type": "Interface", "contents": [
    *({"@type": "Telemetry", "name": n, "schema": "double"} for n in
      ("airTemperature", "outdoorTemperature", "hvacPower", "occupancy")),
    {"@type": "Property", "name": "heatingSetpoint", "schema": "double", "writable": True},
    {"@type": "Property", "name": "coolingSetpoint", "schema": "double", "writable": True},
    {"@type": "Command", "name": "set_heating_setpoint_c",
     "request": {"@type": "CommandRequest", "name": "c", "schema": "double"}},
    {"@type": "Command", "name": "set_cooling_setpoint_c",
     "request": {"@type": "CommandRequest", "name": "c", "schema": "double"}}]}
COMMANDS = [
    {"twin": "z1", "command": "set_heating_setpoint_c", "transport": "fake", "address": "a", "min": 10, "max": 26,
     "guard": {"property": "heatingSetpoint", "max_step": 2}},
    {"twin": "z1", "command": "set_cooling_setpoint_c", "transport": "fake", "address": "a", "min": 18, "max": 32,
     "guard": {"property": "coolingSetpoint", "max_step": 2}}]
T0 = datetime(2026, 3, 2, tzinfo=UTC)
DAYS = 5.0
T_END = (T0 + timedelta(days=DAYS)).timestamp()
PROPS = {"air": "airTemperature", "outdoor": "outdoorTemperature", "power_kw": "hvacPower",
         "occupancy": "occupancy", "heating_sp": "heatingSetpoint", "cooling_sp": "coolingSetpoint"}


def loop(mode: str, **extra: Any) -> dict[str, Any]:
    return {"name": f"{mode}-loop", "twin": "z1", "mode": mode, "band": {"low": 21, "high": 23},
            "limits": {"heating": [16, 24], "cooling": [20, 28]}, **extra}


def write_history(services: Services, days: float = DAYS + 0.5, *, scale_last_day: float = 1.0) -> None:
    """Quarter-hour readings from T0 for ``days`` (by default half a day past T_END, so decisions up to then see
    fresh readings); ``scale_last_day`` scales the power of the day before T_END (the held-out day)."""
    h = zone.history(days)
    first_scaled = round((DAYS - 1) * 96)
    h["power_kw"][first_scaled:first_scaled + 96] *= scale_last_day
    rows = [SampleRow("t", "z1", PROPS[key], int((T0.timestamp() + (i + 0.5) * zone.STEP_S) * 1e6), float(v),
                      None, "good", "", None)
            for key, values in h.items() for i, v in enumerate(values)]
    TimeSeriesStore(services.store.engine).write_batch(rows, [], [], 0)


@pytest.fixture
def rig(db_url: str) -> Iterator[tuple[Services, CommandService, FakeTransport, ManualClock, list[Event]]]:
    engine = make_engine(db_url)
    check_version(engine, auto_migrate=True)
    clock = ManualClock()
    clock.t = T0 + timedelta(days=DAYS)
    services = Services.build(SqlStore(engine), clock=clock)
    services.models.upload("t", [MODEL], Context.new("test"))
    services.twins.put("t", "z1", {"$metadata": {"$model": "dtmi:t:Zone;1"}, "heatingSetpoint": 19.0,
                                   "coolingSetpoint": 24.0}, Context.new("test"))
    commands = CommandService(services.store, services.bus, clock, services.models,
                              parse_command_mappings({"tenant": "t", "commands": COMMANDS}))
    events: list[Event] = []
    services.bus.listen(events.append)
    transport = FakeTransport()
    transport.answer_first = True  # the zone acknowledges at once
    yield services, commands, transport, clock, events
    services.store.dispose()


def service(rig: Any, *loops: dict[str, Any], start: bool = True) -> SetpointLoopService:
    services, commands, *_ = rig
    svc = SetpointLoopService(services, commands, parse_config({"tenant": "t", "loops": list(loops)}))
    svc.ack_wait_s = 5.0
    if start:
        svc.on_start()
    return svc


async def _settle(svc: CommandService) -> None:
    for _ in range(200):
        if not svc._tasks:
            return
        await asyncio.sleep(0.01)


async def test_recommend_stores_and_publishes_without_sending(rig: Any) -> None:
    services, commands, transport, _clock, events = rig
    write_history(services)
    await commands.attach(transport)
    svc = service(rig, loop("recommend"))
    body = await svc.decide(svc.config.loops[0], T_END)
    assert body["decision"] == "recommended" and body["changes"] and transport.sent == []
    assert body["current"]["heatingSetpoint"] == 19.0 and body["proposed"]["heatingSetpoint"] == 21.0  # max_move 2
    assert body["confidence"]["confident"] and abs(body["confidence"]["energyError"]) < 0.1
    assert body["model"]["heating"]["k"] == pytest.approx(zone.K, rel=0.05)
    assert [e.kind for e in events if e.kind.startswith("setpoint.")] == ["setpoint.proposed"]
    listed = svc.list_loops("t")
    assert listed[0]["last"]["id"] == body["id"] and listed[0]["autonomy"] is None
    assert svc.proposals("t", "recommend-loop")[0]["decision"] == "recommended"
    assert svc.list_loops("other") == []
    with pytest.raises(NotFoundError):
        svc.proposals("other", "recommend-loop")


async def test_approve_mode_asks_a_person_and_does_not_pile_up(rig: Any) -> None:
    services, commands, transport, _clock, _events = rig
    write_history(services)
    await commands.attach(transport)
    svc = service(rig, loop("approve"))
    spec = svc.config.loops[0]
    body = await svc.decide(spec, T_END)
    assert body["decision"] == "awaiting approval" and len(body["commands"]) == 2
    pending = commands.pending("t")
    assert {c.name for c in pending} == {"set_heating_setpoint_c", "set_cooling_setpoint_c"}
    assert all(c.approvals_required == 1 and c.context.actor == "loop:approve-loop" for c in pending)
    assert transport.sent == []
    later = await svc.decide(spec, T_END + 900)
    assert later["decision"] == "waiting" and "still open" in later["reasons"][-1]
    assert len(commands.pending("t")) == 2


async def test_auto_needs_enabling_then_sends_through_the_guards(rig: Any) -> None:
    services, commands, transport, _clock, events = rig
    write_history(services)
    await commands.attach(transport)
    svc = service(rig, loop("auto"))
    spec = svc.config.loops[0]
    off = await svc.decide(spec, T_END)
    assert off["decision"] == "recommended" and off["reasons"][-1] == "autonomy is off: not enabled yet"
    with pytest.raises(ConflictError, match="recommend mode"):
        service(rig, loop("recommend")).enable("t", "recommend-loop", "token:eng")
    described = svc.enable("t", "auto-loop", "token:eng")
    assert described["autonomy"]["enabled"] and described["autonomy"]["changedBy"] == "token:eng"
    body = await svc.decide(spec, T_END + 900)
    await _settle(commands)
    assert body["decision"] == "sent", body
    # Heating rises and cooling falls: nothing widens, so heating goes first, and cooling only after its ack.
    assert [r.name for r in transport.sent] == ["set_heating_setpoint_c", "set_cooling_setpoint_c"]
    assert body["commands"][0]["state"] == "acked"
    audit = [r.as_dict() for r in commands.audit_page("t", category="setpoint")]
    assert [r["action"] for r in audit] == ["setpoint.enabled"] and audit[0]["actor"] == "token:eng"
    sent_by = {r.as_dict()["actor"] for r in commands.audit_page("t", category="command")}
    assert sent_by >= {"loop:auto-loop"}
    assert "setpoint.enabled" in [e.kind for e in events]


async def test_uncertain_proposals_wait_for_a_person_even_in_auto(rig: Any) -> None:
    services, commands, _transport, _clock, _events = rig
    write_history(services, scale_last_day=2.0)  # the last day's energy is not what the model explains
    transport = LeasingTransport()
    await commands.attach(transport)
    svc = service(rig, loop("auto", lease_s=4))
    svc.enable("t", "auto-loop", "token:eng")
    body = await svc.decide(svc.config.loops[0], T_END)
    assert not body["confidence"]["confident"] and "energy error" in body["reasons"][-1]
    assert body["decision"] == "awaiting approval" and transport.sent == []
    # a person's approval makes it theirs: no lease, the value stays
    assert all(c.approvals_required == 1 and c.lease_s is None for c in commands.pending("t"))


class LeasingTransport(FakeTransport):
    """A fake transport that carries supervisory leases (as MQTT does)."""

    def __init__(self) -> None:
        super().__init__()
        self.answer_first = True
        self.renewals: list[tuple[str, str, float]] = []

    async def renew_lease(self, target: Any, holder: str, lease_s: float) -> None:
        self.renewals.append((target.address, holder, lease_s))


async def test_autonomous_setpoints_are_leased_and_renewed_only_while_autonomy_is_on(rig: Any) -> None:
    services, commands, _transport, _clock, _events = rig
    write_history(services)
    transport = LeasingTransport()
    await commands.attach(transport)
    svc = service(rig, loop("auto", lease_s=4))
    spec = svc.config.loops[0]
    assert svc.describe("t", "auto-loop")["leaseS"] == 4
    assert await svc.keep_lease(spec, True) is False  # autonomy off after the start: released once
    assert transport.renewals == [("a", "loop:auto-loop", 0.0)]
    assert await svc.keep_lease(spec, False) is False and len(transport.renewals) == 1  # and then quiet
    svc.enable("t", "auto-loop", "token:eng")
    body = await svc.decide(spec, T_END)
    await _settle(commands)
    assert body["decision"] == "sent"
    assert [(r.lease_s, r.holder) for r in transport.sent] == [(4.0, "loop:auto-loop")] * 2
    stored = commands.get("t", body["commands"][0]["id"])  # read back from the store
    assert stored.lease_s == 4.0 and stored.as_dict()["leaseS"] == 4.0
    transport.renewals.clear()
    assert await svc.keep_lease(spec, False) is True
    assert transport.renewals == [("a", "loop:auto-loop", 4.0)]  # both commands go to one device: told once
    # A kill switch: released (the device falls back now), then nothing more while it holds.
    await commands.engage("t", "z1", "token:op", "HVAC service")
    assert await svc.keep_lease(spec, True) is False
    assert transport.renewals[-1] == ("a", "loop:auto-loop", 0.0)
    assert await svc.keep_lease(spec, False) is False and len(transport.renewals) == 2
    await commands.release("t", "z1", "token:eng")
    assert await svc.keep_lease(spec, False) is True and len(transport.renewals) == 3
    svc.disable("t", "auto-loop", "token:op")  # autonomy off: released, then quiet
    assert await svc.keep_lease(spec, True) is False
    assert transport.renewals[-1] == ("a", "loop:auto-loop", 0.0)
    assert await svc.keep_lease(spec, False) is False and len(transport.renewals) == 4


async def test_the_lease_keeper_ticks_every_quarter_lease_and_survives_a_failed_renewal(rig: Any) -> None:
    _services, commands, _transport, _clock, _events = rig
    transport = LeasingTransport()
    await commands.attach(transport)
    svc = service(rig, loop("auto", lease_s=8), {**loop("auto"), "name": "unleased"})
    svc.enable("t", "auto-loop", "token:eng")
    ticks: list[float] = []
    calls = 0

    async def renew(target: Any, holder: str, lease_s: float) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise CommandSendError("broker down")
        transport.renewals.append((target.address, holder, lease_s))

    transport.renew_lease = renew  # type: ignore[method-assign]

    async def sleep(s: float) -> None:
        ticks.append(s)
        if len(ticks) == 3:
            raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await svc.keep_leases(sleep)
    assert ticks == [2.0, 2.0, 2.0] and calls == 3
    assert transport.renewals == [("a", "loop:auto-loop", 8.0)] * 2  # the unleased loop is never renewed


async def test_a_lease_needs_a_transport_that_carries_it(rig: Any) -> None:
    _services, commands, transport, _clock, _events = rig
    await commands.attach(transport)  # the plain fake: no renew_lease
    with pytest.raises(ValidationError, match="carries no supervisory leases"):
        await commands.request("t", "z1", "set_heating_setpoint_c", 20.0, Context.new("op"), lease_s=5)
    leasing = LeasingTransport()
    leasing.name = "fake"
    commands.transports["fake"] = leasing
    for bad in (0, -1, float("inf"), 1e6):
        with pytest.raises(ValidationError, match="a lease must be in"):
            await commands.request("t", "z1", "set_heating_setpoint_c", 20.0, Context.new("op"), lease_s=bad)


async def test_kill_switch_refusal_suspends_autonomy(rig: Any) -> None:
    services, commands, transport, _clock, events = rig
    write_history(services)
    await commands.attach(transport)
    svc = service(rig, loop("auto"))
    svc.enable("t", "auto-loop", "token:eng")
    await commands.engage("t", "z1", "token:op", "maintenance in the hall")
    body = await svc.decide(svc.config.loops[0], T_END)
    assert body["decision"] == "refused" and "kill switch" in body["commands"][0]["reason"]
    state = svc.describe("t", "auto-loop")["autonomy"]
    assert not state["enabled"] and state["suspendedReason"].startswith("a guard refused set_heating_setpoint_c")
    assert state["changedBy"] == "loop:auto-loop" and transport.sent == []
    assert [r.as_dict()["action"] for r in commands.audit_page("t", category="setpoint")] == [
        "setpoint.suspended", "setpoint.enabled"]
    assert "setpoint.suspended" in [e.kind for e in events]
    # and it is an alarm on the twin (C-04), cleared when autonomy is enabled again
    alarms = AlarmService(services.store, services.bus, services.clock, services=services)
    alarms.process([e for e in events if e.kind == "setpoint.suspended"])
    (alarm,) = alarms.list("t")
    assert (alarm.twin_id, alarm.source, alarm.severity) == ("z1", "setpoint:auto-loop", "major")
    assert alarm.message.startswith("setpoint loop auto-loop: autonomy suspended (a guard refused")
    await commands.release("t", "z1", "token:eng")
    svc.enable("t", "auto-loop", "token:eng")
    alarms.process([e for e in events if e.kind == "setpoint.enabled"][-1:])
    assert [(a.id, a.state) for a in alarms.list("t")] == [(alarm.id, "returned")]  # until an operator acknowledges
    await commands.engage("t", "z1", "token:op", "maintenance in the hall")
    # suspended: it goes on proposing, sends nothing
    svc.disable("t", "auto-loop", "token:op", "until the AHU is back")
    again = await svc.decide(svc.config.loops[0], T_END + 900)
    assert again["decision"] == "recommended" and "autonomy is off: disabled by token:op" in again["reasons"][-1]


async def test_failed_commands_in_a_row_suspend_autonomy(rig: Any) -> None:
    services, commands, transport, clock, _events = rig
    write_history(services)
    await commands.attach(transport)
    transport.fail = "link down"
    svc = service(rig, loop("auto", max_failures=2))
    spec = svc.config.loops[0]
    clock.t += timedelta(seconds=1)
    svc.enable("t", "auto-loop", "token:eng")
    clock.t += timedelta(seconds=1)
    first = await svc.decide(spec, T_END)
    assert first["decision"] == "failed" and first["commands"][0]["state"] == "failed"
    clock.t += timedelta(seconds=1)
    second = await svc.decide(spec, T_END + 900)
    assert second["decision"] == "failed"
    clock.t += timedelta(seconds=1)
    third = await svc.decide(spec, T_END + 1800)
    assert third["decision"] == "suspended" and len(transport.sent) == 2
    assert "2 setpoint commands in a row failed" in svc.describe("t", "auto-loop")["autonomy"]["suspendedReason"]


async def test_a_restart_turns_autonomy_off_until_enabled_again(rig: Any) -> None:
    _services, commands, _transport, clock, _events = rig
    svc = service(rig, loop("auto"), loop("recommend"))
    assert svc.describe("t", "auto-loop")["autonomy"] == {  # never enabled: changed by nobody
        "enabled": False, "suspendedReason": None, "changedAt": None, "changedBy": None, "failures": 0}
    svc.enable("t", "auto-loop", "token:eng")
    clock.t -= timedelta(hours=1)  # the new server's clock is behind (an NTP step, no RTC): no matter
    restarted = service(rig, loop("auto"), loop("recommend"), start=False)
    with pytest.raises(UnavailableError, match="starting"):  # not before the start has turned autonomy off
        restarted.enable("t", "auto-loop", "token:eng")
    assert restarted.on_start() == ["auto-loop"]
    state = restarted.describe("t", "auto-loop")["autonomy"]
    assert not state["enabled"] and state["suspendedReason"] == RESTART_REASON and state["changedBy"] == "system"
    assert restarted.on_start() == []  # nothing enabled: nothing to suspend, nothing audited twice
    assert len(commands.audit_page("t", category="setpoint")) == 2
    with pytest.raises(NotFoundError):
        restarted.enable("other", "auto-loop", "token:eng")
    with pytest.raises(ConflictError, match="no autonomy to disable"):
        restarted.disable("t", "recommend-loop", "token:op")


async def test_without_enough_history_there_is_no_model_and_nothing_is_sent(rig: Any) -> None:
    services, commands, transport, _clock, _events = rig
    write_history(services, days=1.5)
    await commands.attach(transport)
    svc = service(rig, loop("auto"))
    svc.enable("t", "auto-loop", "token:eng")
    body = await svc.decide(svc.config.loops[0], (T0 + timedelta(days=1.5)).timestamp())
    assert body["decision"] == "no model" and "are needed" in body["reasons"][0] and transport.sent == []


async def test_telemetry_starts_one_decision_per_period(rig: Any) -> None:
    services, _commands, _transport, _clock, _events = rig
    write_history(services)
    svc = service(rig, loop("recommend", period_s=3600))
    svc.attach()
    runner = asyncio.create_task(svc.run())

    def reading(t: float) -> Event:
        stamp = datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")
        return Event(kind="twin.telemetry", tenant="t", subject="z1", time=T0, context_id="c", actor="ingest",
                     data={"changes": {"airTemperature": {"new": 21.5, "quality": "good", "source_time": stamp}}})

    async def made(n: int) -> list[dict[str, Any]]:
        for _ in range(300):
            if len(svc.proposals("t", "recommend-loop")) >= n:
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.2)  # and no more than n
        return svc.proposals("t", "recommend-loop")

    try:
        services.bus.publish([reading(T_END)])
        assert len(await made(1)) == 1
        for t in (T_END + 60, T_END + 1200):  # the same hour of the zone's time: no new decision
            services.bus.publish([reading(t)])
        assert len(await made(2)) == 1
        for t in (T_END + 3600, T_END + 3700):
            services.bus.publish([reading(t)])
        got = await made(2)
        assert sorted(p["at"] for p in got) == [  # the manual clock stands still: created at the same instant
            datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z") for t in (T_END, T_END + 3600)]
        services.bus.publish([Event(kind="twin.telemetry", tenant="other", subject="z1", time=T0, context_id="c",
                                    actor="ingest", data=reading(T_END + 9000).data)])
        await asyncio.sleep(0.2)
        assert len(svc.proposals("t", "recommend-loop")) == 2
    finally:
        runner.cancel()
        svc.detach()


def test_config_errors_name_every_problem() -> None:
    with pytest.raises(ValidationError) as err:
        parse_config({"loops": [{"name": "a", "twin": "z", "mode": "sometimes", "band": {"low": 23, "high": 21}},
                                {"name": "b", "twin": "z", "band": {"low": 21, "high": 21.3}, "bogus": 1}]})
    where = {p.where for p in err.value.problems}
    assert {"setpoints.loops.0.mode", "setpoints.loops.0.band", "setpoints.loops.1.bogus"} <= where, where
    with pytest.raises(ValidationError, match=r"leaves no room inside a 0\.2 K margin"):
        parse_config({"loops": [{"name": "b", "twin": "z", "band": {"low": 21, "high": 21.3}}]})
    with pytest.raises(ValidationError, match="used twice"):
        parse_config({"loops": [loop("auto"), loop("auto")]})
    with pytest.raises(ValidationError, match="lease_s leases autonomous setpoints: it needs mode auto"):
        parse_config({"loops": [loop("approve", lease_s=20)]})
    with pytest.raises(ValidationError, match="greater than or equal to 2"):
        parse_config({"loops": [loop("auto", lease_s=1)]})
    assert np.isclose(parse_config({"loops": [loop("auto")]}).loops[0].margin, 0.2)


async def test_decisions_that_fall_behind_are_coalesced_to_the_newest_time(rig: Any) -> None:
    services, *_ = rig
    write_history(services)
    svc = service(rig, loop("recommend"))
    svc.attach()
    try:
        for t in (T_END, T_END + 900, T_END + 1800):  # queued faster than they are decided
            svc._enqueue("recommend-loop", t)
        runner = asyncio.create_task(svc.run())
        for _ in range(300):
            if svc.proposals("t", "recommend-loop"):
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.2)
        runner.cancel()
    finally:
        svc.detach()
    made = svc.proposals("t", "recommend-loop")
    assert [p["at"] for p in made] == [datetime.fromtimestamp(T_END + 1800, UTC).isoformat().replace("+00:00", "Z")]


async def test_stale_inputs_suspend_autonomy(rig: Any) -> None:
    services, commands, transport, _clock, _events = rig
    write_history(services, days=DAYS - 0.25)  # the air sensor and the meter went quiet six hours ago
    await commands.attach(transport)
    svc = service(rig, loop("auto"))
    svc.enable("t", "auto-loop", "token:eng")
    body = await svc.decide(svc.config.loops[0], T_END)
    assert body["decision"] == "suspended" and not body["fresh"] and transport.sent == []
    reason = svc.describe("t", "auto-loop")["autonomy"]["suspendedReason"]
    assert reason == "no air temperature or power measured in the last 45 min", reason


async def test_a_refusal_at_dispatch_suspends_autonomy(rig: Any) -> None:
    services, commands, _transport, clock, _events = rig

    class Engaging(FakeTransport):  # an operator hits the kill switch while the first command is handed over
        async def ready(self, _request: Any) -> None:
            if not getattr(self, "done", False):
                self.done = True
                await commands.engage("t", "z1", "token:op", "someone in the plant room")

    transport = Engaging()
    transport.answer_first = True
    write_history(services)
    await commands.attach(transport)
    svc = service(rig, loop("auto"))
    clock.t += timedelta(seconds=1)
    svc.enable("t", "auto-loop", "token:eng")
    clock.t += timedelta(seconds=1)
    first = await svc.decide(svc.config.loops[0], T_END)
    assert first["commands"][0]["state"] == "canceled" and transport.sent == []
    await commands.release("t", "z1", "token:eng")
    second = await svc.decide(svc.config.loops[0], T_END + 900)
    assert second["decision"] == "suspended", second
    reason = svc.describe("t", "auto-loop")["autonomy"]["suspendedReason"]
    assert reason.startswith("set_heating_setpoint_c was canceled at dispatch: kill switch"), reason
    assert transport.sent == []


async def test_waiting_holds_however_many_decisions_pass(rig: Any) -> None:
    services, commands, transport, _clock, _events = rig
    write_history(services)
    await commands.attach(transport)
    svc = service(rig, loop("approve", period_s=60))
    made = [(await svc.decide(svc.config.loops[0], T_END + 60 * i))["decision"] for i in range(25)]
    assert made == ["awaiting approval"] + ["waiting"] * 24
    assert len(commands.pending("t")) == 2  # one pair, not one per 20 decisions


def test_loops_are_checked_against_twins_and_command_mappings(rig: Any) -> None:
    svc = service(rig, loop("auto"), {**loop("approve"), "commands": {"heating": "set_heating_setpoint_c",
                                                                     "cooling": "cool_down"}},
                  {**loop("recommend"), "twin": "nowhere"}, {**loop("auto", lease_s=20), "name": "leased"})
    problems = [(p.where, p.message) for p in svc.check()]
    assert problems == [("setpoints.yaml: approve-loop", "command 'cool_down' of z1 is not mapped in commands.yaml"),
                        ("setpoints.yaml: recommend-loop", "twin 'nowhere' does not exist in tenant 't'"),
                        *[("setpoints.yaml: leased", f"command '{c}' of z1 goes over fake, which carries no "
                                                     "supervisory lease")
                          for c in ("set_heating_setpoint_c", "set_cooling_setpoint_c")]]


async def test_a_loop_whose_lease_no_transport_carries_cannot_be_enabled(rig: Any) -> None:
    _services, commands, transport, _clock, _events = rig
    await commands.attach(transport)  # the plain fake: no renew_lease
    svc = service(rig, loop("auto", lease_s=4))
    with pytest.raises(ConflictError, match="cannot act: command 'set_heating_setpoint_c' of z1 goes over fake"):
        svc.enable("t", "auto-loop", "token:eng")
    with pytest.raises(CommandSendError, match="no running transport carries leases"):
        await svc.keep_lease(svc.config.loops[0], True)


async def test_turning_autonomy_off_releases_at_once_not_at_the_next_tick(rig: Any) -> None:
    _services, commands, _transport, _clock, _events = rig
    transport = LeasingTransport()
    await commands.attach(transport)
    svc = service(rig, loop("auto", lease_s=40))  # a 10 s tick
    svc.attach()
    svc.enable("t", "auto-loop", "token:eng")
    keeper = asyncio.create_task(svc.keep_leases())
    try:
        for _ in range(100):
            if transport.renewals:
                break
            await asyncio.sleep(0.02)
        assert transport.renewals == [("a", "loop:auto-loop", 40.0)]
        await asyncio.to_thread(svc.disable, "t", "auto-loop", "token:op")  # from the API's thread
        for _ in range(100):
            if len(transport.renewals) == 2:
                break
            await asyncio.sleep(0.02)
        assert transport.renewals[-1] == ("a", "loop:auto-loop", 0.0)  # well before the 10 s tick
    finally:
        keeper.cancel()
        svc.detach()


async def test_a_failing_renewal_is_logged_once_per_reason_and_its_recovery_once(
        rig: Any, caplog: pytest.LogCaptureFixture) -> None:
    _services, commands, _transport, _clock, _events = rig
    transport = LeasingTransport()
    await commands.attach(transport)
    svc = service(rig, loop("auto", lease_s=8))
    svc.enable("t", "auto-loop", "token:eng")
    outcomes = iter(["down", "down", "down", "other", None, None])

    async def renew(target: Any, holder: str, lease_s: float) -> None:
        reason = next(outcomes)
        if reason is not None:
            raise CommandSendError(f"broker {reason}")

    transport.renew_lease = renew  # type: ignore[method-assign]
    ticks = 0

    async def sleep(_s: float) -> None:
        nonlocal ticks
        ticks += 1
        if ticks == 6:
            raise asyncio.CancelledError

    with caplog.at_level("INFO", logger="tvilling.app.setpoint_loops"), pytest.raises(asyncio.CancelledError):
        await svc.keep_leases(sleep)
    lines = [(r.levelname, r.getMessage()) for r in caplog.records if "lease" in r.getMessage()]
    assert lines == [("WARNING", "setpoint loop auto-loop: lease not renewed: broker down"),
                     ("WARNING", "setpoint loop auto-loop: lease not renewed: broker other"),
                     ("INFO", "setpoint loop auto-loop: lease messages go out again")]
