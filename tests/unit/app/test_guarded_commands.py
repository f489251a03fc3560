"""Guarded commands through CommandService on SQLite and PostgreSQL: slew, rate and interlocks at the request and
again at dispatch, approvals (two-person rule, digest binding, deadline), the kill switch (refuses, cancels, survives
a new service, released only by name), and the hash-chained audit trail (one record per transition, tamper found at
the right position)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text

from tests.unit.app.test_command_service import FakeTransport, ManualClock
from tvilling.adapters.sql.engine import make_engine
from tvilling.adapters.sql.migrate import check_version
from tvilling.adapters.sql.store import SqlStore
from tvilling.app.command_mapping import parse_command_mappings
from tvilling.app.commands import CommandService, GuardRefusedError
from tvilling.app.services import Services
from tvilling.core.context import Context
from tvilling.core.errors import ConflictError, NotFoundError, PermissionDeniedError, ValidationError
from tvilling.core.events import Event
from tvilling.ports.commands import CommandOutcome

CTX = "dtmi:dtdl:context;3"
MODEL = {"@context": CTX, "@id": "dtmi:t:Valve;1", "@type": "Interface", "contents": [
    {"@type": "Property", "name": "opening", "schema": "double", "writable": True},
    {"@type": "Property", "name": "pressure", "schema": "double", "writable": True},
    {"@type": "Command", "name": "set_opening",
     "request": {"@type": "CommandRequest", "name": "v", "schema": "double"}},
    {"@type": "Command", "name": "open_bypass"}, {"@type": "Command", "name": "ping"}]}
GUARDS = [
    {"twin": "v1", "command": "set_opening", "transport": "fake", "address": "a", "min": 0, "max": 100,
     "guard": {"property": "opening", "max_step": 10, "rate_per_min": 3,
               "interlocks": [{"property": "pressure", "above": 6.0, "max_age_s": 60, "reason": "line pressure"}]}},
    {"twin": "v1", "command": "open_bypass", "transport": "fake", "address": "a",
     "guard": {"approvals": 2, "approval_ttl_s": 300,
               "interlocks": [{"property": "pressure", "above": 1.0}]}},
    {"twin": "v1", "command": "ping", "transport": "fake", "address": "a"},
    {"twin": "v2", "command": "ping", "transport": "fake", "address": "a"}]
OP, ENG1, ENG2 = Context.new("token:op"), "token:eng1", "token:eng2"


@pytest.fixture
def rig(db_url: str) -> Iterator[tuple[CommandService, FakeTransport, ManualClock, Services, list[Event]]]:
    engine = make_engine(db_url)
    check_version(engine, auto_migrate=True)
    clock = ManualClock()
    services = Services.build(SqlStore(engine), clock=clock)
    services.models.upload("t", [MODEL], Context.new("test"))
    for twin in ("v1", "v2"):
        services.twins.put("t", twin, {"$metadata": {"$model": "dtmi:t:Valve;1"}, "opening": 40.0, "pressure": 3.0},
                           Context.new("test"))
    svc = CommandService(services.store, services.bus, clock, services.models,
                         parse_command_mappings({"tenant": "t", "defaults": {"timeout_s": 10}, "commands": GUARDS}))
    events: list[Event] = []
    services.bus.listen(events.append)
    yield svc, FakeTransport(), clock, services, events
    services.store.dispose()


async def _settle(svc: CommandService) -> None:
    for _ in range(200):
        if not svc._tasks:
            return
        await asyncio.sleep(0.01)


def _set(services: Services, twin: str, **values: float) -> None:
    services.twins.patch("t", twin, [{"op": "replace", "path": f"/{k}", "value": v} for k, v in values.items()],
                         Context.new("test"))


async def test_slew_rate_and_interlocks_at_the_request(rig: Any) -> None:
    svc, transport, clock, services, _events = rig
    assert svc.check_mappings() == []
    await svc.attach(transport)
    with pytest.raises(GuardRefusedError, match="more than the limit 10") as step:
        await svc.request("t", "v1", "set_opening", 55.0, OP)
    assert step.value.problems[0].hint == "move in steps of at most 10"
    for value in (45.0, 50.0, 48.0):  # each within 10 of the reported 40
        await svc.request("t", "v1", "set_opening", value, OP)
    # Sent before the clock and the pressure move below: each is checked again at dispatch, and a dispatch still
    # pending then would be refused there (the failure of one CI run, where it was).
    await _settle(svc)
    assert len(transport.sent) == 3
    with pytest.raises(GuardRefusedError, match="the limit is 3 per minute"):
        await svc.request("t", "v1", "set_opening", 42.0, OP)
    clock.t += timedelta(seconds=61)
    _set(services, "v1", pressure=7.5)  # fresh, but above the interlock's limit
    with pytest.raises(GuardRefusedError, match=r"pressure is 7.5, above 6 \(line pressure\)"):
        await svc.request("t", "v1", "set_opening", 42.0, OP)
    _set(services, "v1", pressure=3.0)
    clock.t += timedelta(seconds=61)  # now the pressure reading is stale: fail closed
    with pytest.raises(GuardRefusedError, match="last updated 61 s ago"):
        await svc.request("t", "v1", "set_opening", 42.0, OP)
    _set(services, "v1", pressure=3.0)
    cmd, _ = await svc.request("t", "v1", "set_opening", 42.0, OP)
    await _settle(svc)
    assert svc.get("t", cmd.id).state == "sent" and len(transport.sent) == 4
    refused = [r.as_dict() for r in svc.audit_page("t", category="guard")]
    assert len(refused) == 4 and all(r["action"] == "command.refused" for r in refused)
    assert "last updated 61 s ago" in refused[0]["detail"]["reasons"][0] and refused[0]["actor"] == "token:op"


async def test_two_approvals_bound_to_the_digest(rig: Any) -> None:
    svc, transport, clock, services, events = rig
    await svc.attach(transport)
    _set(services, "v1", pressure=0.5)
    cmd, _ = await svc.request("t", "v1", "open_bypass", None, OP)
    await _settle(svc)
    assert cmd.state == "pending_approval" and transport.sent == [] and [c.id for c in svc.pending("t")] == [cmd.id]
    assert cmd.expires_at == clock.t + timedelta(seconds=300)
    with pytest.raises(PermissionDeniedError, match="two-person"):
        await svc.approve("t", cmd.id, "token:op", cmd.digest)
    with pytest.raises(ConflictError, match="another request"):
        await svc.approve("t", cmd.id, ENG1, "0" * 64)
    clock.t += timedelta(seconds=100)
    one = await svc.approve("t", cmd.id, ENG1, cmd.digest)
    assert one.state == "pending_approval" and transport.sent == []
    with pytest.raises(PermissionDeniedError, match="distinct"):
        await svc.approve("t", cmd.id, ENG1, cmd.digest)
    clock.t += timedelta(seconds=5)
    two = await svc.approve("t", cmd.id, ENG2, cmd.digest)
    assert two.state == "requested" and two.expires_at == clock.t + timedelta(seconds=10)
    await _settle(svc)
    stored = svc.get("t", cmd.id)
    assert stored.state == "sent" and [a.actor for a in stored.approvals] == [ENG1, ENG2] and len(transport.sent) == 1
    assert [e.kind for e in events if e.data.get("commandId") == cmd.id] == [
        "command.pending_approval", "command.approval", "command.approval", "command.requested", "command.sent"]
    denials = [r.as_dict() for r in svc.audit_page("t", category="approval")]
    assert sorted(r["action"] for r in denials) == ["approval.denied"] * 3 + ["approval.given"] * 2


async def test_deadline_rejection_and_the_dispatch_recheck(rig: Any) -> None:
    svc, transport, clock, services, _events = rig
    await svc.attach(transport)
    _set(services, "v1", pressure=0.5)
    late, _ = await svc.request("t", "v1", "open_bypass", None, OP)
    clock.t += timedelta(seconds=301)
    assert await svc.sweep() == 1
    assert svc.get("t", late.id).state == "expired" and svc.get("t", late.id).reason == "not approved by the deadline"
    with pytest.raises(ConflictError, match="not waiting"):
        await svc.approve("t", late.id, ENG1, late.digest)
    no, _ = await svc.request("t", "v1", "open_bypass", None, OP)
    assert (await svc.reject("t", no.id, ENG1, "not today")).reason == f"rejected by {ENG1}: not today"
    _set(services, "v1", pressure=0.5)
    racing, _ = await svc.request("t", "v1", "open_bypass", None, OP)
    await svc.approve("t", racing.id, ENG1, racing.digest)
    _set(services, "v1", pressure=0.2)  # still fine
    _set(services, "v1", pressure=0.2)
    await svc.approve("t", racing.id, ENG2, racing.digest)  # released ...
    await _settle(svc)
    assert svc.get("t", racing.id).state == "sent"
    stuck, _ = await svc.request("t", "v1", "open_bypass", None, OP)
    await svc.approve("t", stuck.id, ENG1, stuck.digest)
    _set(services, "v1", pressure=2.0)  # the interlock becomes true between the approvals and the dispatch
    await svc.approve("t", stuck.id, ENG2, stuck.digest)
    await _settle(svc)
    final = svc.get("t", stuck.id)
    assert final.state == "rejected" and final.reason.startswith("at dispatch: interlock: pressure is 2, above 1")
    assert len(transport.sent) == 1


async def test_kill_switch_refuses_cancels_and_survives(rig: Any) -> None:
    svc, transport, clock, services, _events = rig
    await svc.attach(transport)
    _set(services, "v1", pressure=0.5)
    pending, _ = await svc.request("t", "v1", "open_bypass", None, OP)
    switch, canceled = await svc.engage("t", "v1", "token:op", "leak at valve 1")
    assert switch.scope == "v1" and canceled == 1
    assert [e.kind for e in _events if e.kind.startswith("killswitch")] == ["killswitch.engaged"]  # live, too
    assert svc.get("t", pending.id).state == "canceled" and "leak at valve 1" in svc.get("t", pending.id).reason
    with pytest.raises(GuardRefusedError, match="kill switch for v1 is engaged"):
        await svc.request("t", "v1", "ping", None, OP)
    other, _ = await svc.request("t", "v2", "ping", None, OP)  # another twin is not stopped
    await _settle(svc)
    assert svc.get("t", other.id).state == "sent"
    again = CommandService(services.store, services.bus, clock, services.models, svc.mappings)  # a restart
    assert [k.scope for k in again.kill_switches("t")] == ["v1"]
    await again.attach(transport)
    with pytest.raises(GuardRefusedError):
        await again.request("t", "v1", "ping", None, OP)
    await svc.engage("t", "*", "token:op", "site stop")
    with pytest.raises(GuardRefusedError, match="whole tenant"):
        await svc.request("t", "v2", "ping", None, OP)
    with pytest.raises(NotFoundError):
        await svc.engage("t", "nope", "token:op", "")
    await svc.release("t", "*", ENG1)
    with pytest.raises(NotFoundError):
        await svc.release("t", "*", ENG1)
    await svc.release("t", "v1", ENG1, "valve repaired")
    cmd, _ = await svc.request("t", "v1", "ping", None, OP)
    await _settle(svc)
    assert svc.get("t", cmd.id).state == "sent"


async def test_dispatch_fails_closed_when_the_switch_cannot_be_read(rig: Any) -> None:
    svc, transport, _clock, _services, _events = rig
    await svc.attach(transport)

    def broken(*_a: Any) -> Any:
        raise RuntimeError("database unreachable")

    svc._hand_over = broken
    blind, _ = await svc.request("t", "v1", "ping", None, OP)
    await _settle(svc)
    assert svc.get("t", blind.id).state == "requested" and transport.sent == []  # not sent; the sweep expires it


async def test_the_kill_switch_never_cancels_a_command_already_handed_over(rig: Any) -> None:
    svc, transport, _clock, services, _events = rig
    await svc.attach(transport)
    wire = asyncio.Event()

    async def slow_send(request: Any) -> Any:  # a broker slow to PUBACK: the command is on its way meanwhile
        transport.sent.append(request)
        await wire.wait()
        return None

    transport.send = slow_send
    cmd, _ = await svc.request("t", "v2", "ping", None, OP)
    for _ in range(200):
        if transport.sent:
            break
        await asyncio.sleep(0.01)
    assert svc.get("t", cmd.id).state == "sent"  # recorded as released before it goes on the wire
    _set(services, "v1", pressure=0.5)
    waiting, _ = await svc.request("t", "v1", "open_bypass", None, OP)
    _switch, canceled = await svc.engage("t", "*", "token:op", "stop")
    assert canceled == 1 and svc.get("t", waiting.id).state == "canceled"
    assert svc.get("t", cmd.id).state == "sent"  # not recalled, not marked canceled
    wire.set()
    await _settle(svc)
    await transport.on_outcome(CommandOutcome(cmd.id, "acked"))
    assert svc.get("t", cmd.id).state == "acked"  # the device's answer is kept
    await transport.on_outcome(CommandOutcome(waiting.id, "acked"))  # an answer that should never come ...
    late = svc.get("t", waiting.id)
    assert late.state == "canceled" and late.history[-1].late and late.history[-1].state == "acked"  # ... is kept


async def test_the_audit_chain_records_every_transition_and_finds_tampering(rig: Any, db_url: str) -> None:
    svc, transport, _clock, services, _events = rig
    await svc.attach(transport)
    cmd, _ = await svc.request("t", "v1", "ping", None, OP)
    await _settle(svc)
    await transport.on_outcome(CommandOutcome(cmd.id, "acked"))
    await svc.engage("t", "*", "token:op", "drill")
    await svc.release("t", "*", ENG1)
    records = [r.as_dict() for r in reversed(svc.audit_page("t"))]
    assert [r["action"] for r in records] == ["command.requested", "command.sent", "command.acked",
                                             "killswitch.engaged", "killswitch.released"]
    assert [r["actor"] for r in records][:3] == ["token:op", "system", "device:fake"]
    assert records[1]["prevHash"] == records[0]["hash"]
    history = svc.get("t", cmd.id).history
    assert len([r for r in records if r["subject"] == cmd.id]) == len(history)  # one record per state change
    ok = svc.verify_audit("t")
    assert ok.ok and ok.records == 5 and ok.head_n == 5
    engine = services.store.engine
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET text = replace(text, 'token:op', 'token:xx') WHERE n = 4"))
    bad = svc.verify_audit("t")
    assert not bad.ok and bad.first_bad == 4 and "changed after it was written" in bad.reason
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET text = replace(text, 'token:xx', 'token:op') WHERE n = 4"))
        conn.execute(text("DELETE FROM audit_log WHERE n = 5"))
    cut = svc.verify_audit("t")
    assert not cut.ok and cut.first_bad == 5 and "head says record 5" in cut.reason
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE n = 2"))
    gap = svc.verify_audit("t")
    assert not gap.ok and gap.first_bad == 2 and "missing" in gap.reason



async def test_concurrent_requests_cannot_overrun_the_rate(rig: Any) -> None:
    svc, transport, _clock, _services, _events = rig
    await svc.attach(transport)
    results = await asyncio.gather(*(svc.request("t", "v1", "set_opening", 41.0 + i / 10, OP) for i in range(10)),
                                   return_exceptions=True)
    accepted = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, GuardRefusedError)]
    assert len(accepted) == 3 and len(refused) == 7  # each one counted under the tenant's lock
    await _settle(svc)
    assert len(transport.sent) == 3


async def test_approved_commands_still_keep_the_rate_when_sent(rig: Any) -> None:
    svc, transport, clock, services, _events = rig
    svc.mappings = parse_command_mappings({"tenant": "t", "commands": [
        {"twin": "v2", "command": "ping", "transport": "fake", "address": "a",
         "guard": {"approvals": 1, "rate_per_min": 1}}]})
    await svc.attach(transport)
    first, _ = await svc.request("t", "v2", "ping", None, OP)
    clock.t += timedelta(seconds=61)  # requested a minute apart: both within the rate at the request
    second, _ = await svc.request("t", "v2", "ping", None, OP)
    for cmd in (first, second):  # ... but approved together
        await svc.approve("t", cmd.id, ENG1, cmd.digest)
    await _settle(svc)
    states = {svc.get("t", first.id).state, svc.get("t", second.id).state}
    assert states == {"sent", "rejected"} and len(transport.sent) == 1
    rejected = next(c for c in (first, second) if svc.get("t", c.id).state == "rejected")
    assert svc.get("t", rejected.id).reason == "at dispatch: 1 commands of this kind sent in the last 60 s"
    del services


async def test_a_kill_switch_during_the_connect_wait_is_never_overtaken(rig: Any) -> None:
    svc, transport, _clock, _services, _events = rig
    link = asyncio.Event()

    async def ready(_request: Any) -> None:  # the broker is reconnecting
        await link.wait()

    transport.ready = ready
    await svc.attach(transport)
    cmd, _ = await svc.request("t", "v2", "ping", None, OP)
    await asyncio.sleep(0.05)
    assert svc.get("t", cmd.id).state == "requested"  # not released while the link is down
    _switch, canceled = await svc.engage("t", "*", "token:op", "stop")
    assert canceled == 1
    link.set()
    await _settle(svc)
    assert svc.get("t", cmd.id).state == "canceled" and transport.sent == []


async def test_transport_not_ready_fails_and_late_hand_over_expires(rig: Any) -> None:
    svc, transport, clock, _services, _events = rig

    async def down(_request: Any) -> None:
        from tvilling.ports.commands import CommandSendError

        raise CommandSendError("MQTT broker 127.0.0.1:1 is not connected")

    transport.ready = down
    await svc.attach(transport)
    cmd, _ = await svc.request("t", "v2", "ping", None, OP)
    await _settle(svc)
    assert svc.get("t", cmd.id).state == "failed" and "not sent: MQTT broker" in svc.get("t", cmd.id).reason
    del transport.ready
    slow = asyncio.Event()

    async def late(_request: Any) -> None:
        await slow.wait()

    transport.ready = late
    old, _ = await svc.request("t", "v2", "ping", None, OP)
    clock.t += timedelta(seconds=11)  # past its 10 s deadline while waiting to be sent
    slow.set()
    await _settle(svc)
    assert svc.get("t", old.id).state == "expired" and svc.get("t", old.id).reason == "not sent by the deadline"


async def test_odd_answers_and_payloads_never_break_the_trail(rig: Any) -> None:
    svc, transport, _clock, _services, _events = rig
    await svc.attach(transport)
    cmd, _ = await svc.request("t", "v2", "ping", None, OP)
    await _settle(svc)
    await transport.on_outcome(CommandOutcome(cmd.id, "acked", "", {"reading": float("nan"), "x": [float("inf")]}))
    assert svc.get("t", cmd.id).state == "acked"
    with pytest.raises(ValidationError, match="above the maximum 100"):  # a clear 422, not an overflow
        await svc.request("t", "v1", "set_opening", 10**400, OP)
    records = [r.as_dict() for r in reversed(svc.audit_page("t"))]
    assert records[2]["detail"]["detail"] == {"reading": "nan", "x": ["inf"]}
    assert svc.verify_audit("t").ok
    with svc._store.write() as tx:
        tx.conn.execute(text("UPDATE audit_log SET category = 'x' WHERE n = 1"))
    bad = svc.verify_audit("t")
    assert not bad.ok and bad.first_bad == 1 and "category column" in bad.reason
