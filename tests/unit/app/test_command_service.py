"""CommandService with an in-memory transport and a manual clock, on SQLite and PostgreSQL: every branch of the
lifecycle as the service drives it (send failure, answer before the hand-over, expiry by the sweep, late answers,
duplicates, idempotency)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tvilling.adapters.sql.engine import make_engine
from tvilling.adapters.sql.migrate import check_version
from tvilling.adapters.sql.store import SqlStore
from tvilling.app.command_mapping import parse_command_mappings
from tvilling.app.commands import CommandService, UnmappedCommandError
from tvilling.app.services import Services
from tvilling.core.context import Context
from tvilling.core.errors import ConflictError, NotFoundError, UnavailableError, ValidationError
from tvilling.core.events import Event
from tvilling.ports.commands import CommandOutcome, CommandRequest, CommandSendError

CTX = "dtmi:dtdl:context;3"
MODEL = {"@context": CTX, "@id": "dtmi:t:Dev;1", "@type": "Interface", "contents": [
    {"@type": "Command", "name": "set", "request": {"@type": "CommandRequest", "name": "v", "schema": "double"}},
    {"@type": "Command", "name": "go"}, {"@type": "Command", "name": "unmapped"}]}


class ManualClock:
    def __init__(self) -> None:
        self.t = datetime(2026, 3, 1, tzinfo=UTC)

    def now(self) -> datetime:
        return self.t

    def monotonic(self) -> float:
        return self.t.timestamp()


class FakeTransport:
    name = "fake"

    def __init__(self) -> None:
        self.sent: list[CommandRequest] = []
        self.on_outcome: Any = None
        self.answer: CommandOutcome | None = None
        self.fail: str | None = None
        self.answer_first = False  # the device's answer overtakes the hand-over

    async def start(self, on_outcome: Any) -> None:
        self.on_outcome = on_outcome

    async def send(self, request: CommandRequest) -> CommandOutcome | None:
        self.sent.append(request)
        if self.fail:
            raise CommandSendError(self.fail)
        if self.answer_first:
            await self.on_outcome(CommandOutcome(request.command_id, "acked"))
        return self.answer

    async def close(self) -> None:
        return None


@pytest.fixture
def rig(db_url: str) -> Iterator[tuple[CommandService, FakeTransport, ManualClock, list[Event]]]:
    engine = make_engine(db_url)
    check_version(engine, auto_migrate=True)
    clock = ManualClock()
    services = Services.build(SqlStore(engine), clock=clock)
    services.models.upload("t", [MODEL], Context.new("test"))
    services.twins.put("t", "d1", {"$metadata": {"$model": "dtmi:t:Dev;1"}}, Context.new("test"))
    mappings = parse_command_mappings({"tenant": "t", "defaults": {"timeout_s": 10}, "commands": [
        {"twin": "d1", "command": "set", "transport": "fake", "address": "a", "scale": 2, "min": 0, "max": 50},
        {"twin": "d1", "command": "go", "transport": "fake", "address": "a"}]})
    svc = CommandService(services.store, services.bus, clock, services.models, mappings)
    events: list[Event] = []
    services.bus.listen(events.append)
    transport = FakeTransport()
    yield svc, transport, clock, events
    services.store.dispose()


async def _settle(svc: CommandService) -> None:
    for _ in range(100):
        if not svc._tasks:
            return
        await asyncio.sleep(0.01)


async def test_send_then_async_ack(rig: Any) -> None:
    svc, transport, _clock, events = rig
    assert svc.check_mappings() == []
    await svc.attach(transport)
    cmd, created = await svc.request("t", "d1", "set", 20, Context.new("token:x"), command_id="k1")
    assert created and cmd.state == "requested"
    await _settle(svc)
    assert transport.sent[0].value == 40 and transport.sent[0].target.address == "a"  # scaled
    assert svc.get("t", "k1").state == "sent"
    await transport.on_outcome(CommandOutcome("k1", "acked", "", {"v": 1}))
    await transport.on_outcome(CommandOutcome("k1", "failed", "dup"))  # a contradicting repeat changes nothing
    got = svc.get("t", "k1")
    assert got.state == "acked" and [h.state for h in got.history] == ["requested", "sent", "acked"]
    assert [e.kind for e in events] == ["command.requested", "command.sent", "command.acked"]
    assert all(e.actor == "token:x" and e.subject == "d1" for e in events)


async def test_answer_in_the_same_round_trip_and_before_the_hand_over(rig: Any) -> None:
    svc, transport, _clock, _events = rig
    await svc.attach(transport)
    transport.answer = CommandOutcome("k2", "failed", "BadOutOfRange")
    await svc.request("t", "d1", "go", None, Context.new("u"), command_id="k2")
    await _settle(svc)
    got = svc.get("t", "k2")
    assert got.state == "failed" and got.reason == "BadOutOfRange"
    transport.answer, transport.answer_first = None, True
    await svc.request("t", "d1", "go", None, Context.new("u"), command_id="k3")
    await _settle(svc)
    assert [h.state for h in svc.get("t", "k3").history] == ["requested", "sent", "acked"]


async def test_send_failure_expiry_and_late_answer(rig: Any) -> None:
    svc, transport, clock, events = rig
    await svc.attach(transport)
    transport.fail = "broker down"
    await svc.request("t", "d1", "go", None, Context.new("u"), command_id="f1")
    await _settle(svc)
    assert svc.get("t", "f1").state == "failed" and "broker down" in svc.get("t", "f1").reason
    transport.fail = None
    await svc.request("t", "d1", "go", None, Context.new("u"), command_id="e1", timeout_s=5)
    await _settle(svc)
    clock.t += timedelta(seconds=4)
    assert await svc.sweep() == 0
    clock.t += timedelta(seconds=1)
    assert await svc.sweep() == 1 and svc.get("t", "e1").state == "expired"
    await transport.on_outcome(CommandOutcome("e1", "acked"))
    late = svc.get("t", "e1")
    assert late.state == "expired" and late.history[-1].late and late.history[-1].state == "acked"
    assert events[-1].kind == "command.late"
    await transport.on_outcome(CommandOutcome("nobody", "acked"))  # unknown ids are ignored


async def test_idempotency_and_refusals(rig: Any) -> None:
    svc, transport, _clock, _events = rig
    with pytest.raises(UnavailableError):  # mapped, but the transport is not running
        await svc.request("t", "d1", "go", None, Context.new("u"))
    await svc.attach(transport)
    first, _ = await svc.request("t", "d1", "set", 1.5, Context.new("u"), command_id="i1")
    again, created = await svc.request("t", "d1", "set", 1.5, Context.new("u"), command_id="i1")
    await _settle(svc)
    assert not created and again.id == first.id and len(transport.sent) == 1
    with pytest.raises(ConflictError):
        await svc.request("t", "d1", "set", 2.5, Context.new("u"), command_id="i1")
    for args, exc in [(("d1", "set", "x"), ValidationError), (("d1", "set", None), ValidationError),
                      (("d1", "set", 51), ValidationError), (("d1", "go", 1), ValidationError),
                      (("d1", "nope", None), NotFoundError), (("zz", "go", None), NotFoundError),
                      (("d1", "unmapped", None), UnmappedCommandError)]:
        with pytest.raises(exc):
            await svc.request("t", *args, Context.new("u"))
    with pytest.raises(NotFoundError):  # another tenant sees nothing
        svc.get("other", "i1")
    with pytest.raises(NotFoundError):
        svc.list_for_twin("other", "d1")
    with pytest.raises(ValidationError):
        await svc.request("t", "d1", "go", None, Context.new("u"), timeout_s=0)
    await _settle(svc)
    assert [c.id for c in svc.list_for_twin("t", "d1")] == ["i1"]
