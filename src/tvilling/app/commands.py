"""Command service: validate, persist, send through a transport, track the device's answer, expire the silent.

Flow of ``request``: the twin must exist, its DTDL model must declare the command, the payload must match the
command's request schema, and the (tenant, twin, command) must be mapped to a running transport. The command is
then stored as ``requested`` (with a ``command.requested`` event, same transaction) and the caller gets it back
at once (HTTP 202); sending happens in a task: ``sent`` when the transport has handed it over, then ``acked`` /
``failed`` when the device answers, or ``expired`` by the sweep when it has not answered by ``expires_at``. A
late answer is recorded (``command.late`` event) but does not revive an expired command.

Every transition is one write transaction (state row, transition row, event) and is published on the bus after
commit. A client-supplied command id makes the request idempotent: the same id with the same request returns
the stored command; the same id with a different request is a conflict. Events are about the twin (``subject``
is the twin id, so per-twin subscribers see them) and carry the command's ``Context`` (actor = the caller).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import math
from datetime import datetime, timedelta
from typing import Any

from tvilling.adapters.sql.commands_repo import SqlCommandRepo
from tvilling.adapters.sql.store import SqlStore
from tvilling.app.command_mapping import CommandMappingSet, check_against_models
from tvilling.app.events import EventBus
from tvilling.app.models import ModelService
from tvilling.core.commands import Command, CommandState, IllegalTransition, check_command_id
from tvilling.core.context import Context, new_id
from tvilling.core.errors import ConflictError, NotFoundError, Problem, UnavailableError, ValidationError
from tvilling.core.events import Event
from tvilling.dtdl.instance import check_value
from tvilling.ports.clock import Clock
from tvilling.ports.commands import CommandOutcome, CommandRequest, CommandSendError, CommandTransport

log = logging.getLogger(__name__)

MAX_TIMEOUT_S = 86_400.0
MAX_REMEMBERED = 10_000  # command id -> tenant entries kept for answers that name only the id


class UnmappedCommandError(ConflictError):
    """The twin's model declares the command, but no transport address is mapped for it."""


def _digest(twin_id: str, name: str, payload: Any) -> str:
    text = json.dumps([twin_id, name, payload], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


class CommandService:
    def __init__(self, store: SqlStore, bus: EventBus, clock: Clock, models: ModelService,
                 mappings: CommandMappingSet | None = None, *, sweep_interval_s: float = 0.25) -> None:
        self._store = store
        self._bus = bus
        self._clock = clock
        self._models = models
        self.mappings = mappings or CommandMappingSet()
        self.transports: dict[str, CommandTransport] = {}
        self.sweep_interval_s = sweep_interval_s
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        self._inflight: dict[str, str] = {}  # command id -> tenant, for answers that carry only the id
        self._tasks: set[asyncio.Task[None]] = set()

    # -- lifecycle ------------------------------------------------------------------------------------------
    async def attach(self, transport: CommandTransport) -> None:
        # Registered before it has connected: a command sent meanwhile waits for (or retries) the connection
        # inside the transport, instead of the API answering 503 during start-up.
        self.transports[transport.name] = transport
        await transport.start(self.on_outcome)

    async def run(self) -> None:
        """The expiry sweep, until cancelled; then pending sends finish and transports close."""
        try:
            while True:
                try:
                    await self.sweep()
                except Exception:  # the store may be briefly down (G3): keep sweeping once it is back
                    log.exception("command expiry sweep failed; retrying")
                # Without mappings no new command can start; older open ones still expire, just less promptly.
                await asyncio.sleep(self.sweep_interval_s if self.mappings.entries else 5.0)
        finally:
            await self.close()

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for transport in list(self.transports.values()):
            with contextlib.suppress(Exception):
                await transport.close()
        self.transports.clear()

    # -- requests -------------------------------------------------------------------------------------------
    async def request(self, tenant: str, twin_id: str, name: str, payload: Any, ctx: Context, *,
                      command_id: str | None = None, timeout_s: float | None = None) -> tuple[Command, bool]:
        """Validate and accept a command; returns (command, created). Sending continues in the background."""
        command_id = check_command_id(command_id) if command_id is not None else new_id()
        digest = _digest(twin_id, name, payload)
        existing = await asyncio.to_thread(self._get_with_digest, tenant, command_id)
        if existing is not None:
            return self._replay(existing, digest), False
        mapping = await asyncio.to_thread(self._validate, tenant, twin_id, name, payload)
        transport = self.transports.get(mapping.target.transport)
        if transport is None:
            raise UnavailableError(f"the {mapping.target.transport} command transport is not running",
                                   where=f"{twin_id}/{name}", hint="check the server's broker / PLC settings")
        timeout = timeout_s if timeout_s is not None else (mapping.timeout_s or self.mappings.default_timeout_s)
        if not (isinstance(timeout, int | float) and math.isfinite(timeout) and 0 < timeout <= MAX_TIMEOUT_S):
            raise ValidationError(f"timeout must be in (0, {MAX_TIMEOUT_S:.0f}] seconds", where="timeout")
        now = self._clock.now()
        cmd = Command.request(id=command_id, tenant=tenant, twin_id=twin_id, name=name, payload=payload,
                              requested_at=now, expires_at=now + timedelta(seconds=float(timeout)), context=ctx,
                              transport=mapping.target.transport)
        inserted = await asyncio.to_thread(self._insert, cmd, digest)
        if inserted is not None:  # a concurrent request with the same id won the race
            return self._replay(inserted, digest), False
        self._inflight[cmd.id] = tenant
        while len(self._inflight) > MAX_REMEMBERED:  # expired ones stay for late answers; keep the newest only
            self._inflight.pop(next(iter(self._inflight)))
        req = CommandRequest(command_id=cmd.id, tenant=tenant, twin_id=twin_id, name=name,
                             value=mapping.device_value(payload), target=mapping.target, expires_at=cmd.expires_at)
        task = asyncio.create_task(self._send(transport, req), name=f"command-{cmd.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return cmd, True

    def _replay(self, existing: tuple[Command, str], digest: str) -> Command:
        cmd, stored = existing
        if stored != digest:
            raise ConflictError(f"command id {cmd.id} was already used for a different request", where=cmd.id,
                                hint="use a new command id for a new command")
        return cmd

    def _validate(self, tenant: str, twin_id: str, name: str, payload: Any) -> Any:
        with self._store.read() as tx:
            twin = tx.twins.get(tenant, twin_id)
        if twin is None:
            raise NotFoundError(f"twin {twin_id} does not exist", where=twin_id)
        model_set: Any = self._models.model_set(tenant)
        cdef = model_set.get(twin.model_id).commands.get(name) if twin.model_id in model_set else None
        if cdef is None:
            raise NotFoundError(f"the model of twin {twin_id} has no command {name!r}", where=name,
                                hint=f"see GET /api/v1/models/{twin.model_id}")
        problems: list[Problem] = []
        if cdef.request is None:
            if payload is not None:
                problems.append(Problem(f"command {name!r} takes no request payload", "body"))
        elif payload is None and not cdef.request.nullable:
            problems.append(Problem(f"command {name!r} needs a request payload {cdef.request.name!r}", "body"))
        elif payload is not None:
            problems.extend(check_value(cdef.request.schema, payload, "body", getattr(model_set, "schema", None)))
        mapping = self.mappings.get(tenant, twin_id, name)
        if mapping is not None and not problems and isinstance(payload, int | float):
            if mapping.min is not None and payload < mapping.min:
                problems.append(Problem(f"{payload} is below the minimum {mapping.min}", "body"))
            if mapping.max is not None and payload > mapping.max:
                problems.append(Problem(f"{payload} is above the maximum {mapping.max}", "body"))
        if problems:
            raise ValidationError(problems[0].message, where=problems[0].where, problems=problems)
        if mapping is None:
            raise UnmappedCommandError(f"command {name!r} of twin {twin_id} is not mapped to a device",
                                       where=f"{twin_id}/{name}", hint="add a row to the site's commands.yaml")
        return mapping

    # -- transitions ----------------------------------------------------------------------------------------
    async def _send(self, transport: CommandTransport, req: CommandRequest) -> None:
        try:
            outcome = await transport.send(req)
        except CommandSendError as exc:
            await self._move(req.tenant, req.command_id, CommandState.FAILED, f"not sent: {exc.message}")
            return
        except Exception as exc:  # a transport bug must not leave the command hanging until expiry unexplained
            log.exception("command transport %s failed on %s", transport.name, req.command_id)
            await self._move(req.tenant, req.command_id, CommandState.FAILED, f"not sent: {exc}")
            return
        await self._move(req.tenant, req.command_id, CommandState.SENT, "")
        if outcome is not None:
            await self.on_outcome(outcome)

    async def on_outcome(self, outcome: CommandOutcome) -> None:
        """A device's answer, from any transport, possibly late or for an unknown id."""
        tenant = self._inflight.get(outcome.command_id, self.mappings.tenant)
        state = CommandState.ACKED if outcome.status == "acked" else CommandState.FAILED
        try:
            await self._move(tenant, outcome.command_id, state, outcome.reason, dict(outcome.detail), answer=True)
        except NotFoundError:
            log.info("answer for unknown command %s ignored", outcome.command_id)

    async def sweep(self) -> int:
        """Expire every open command past its deadline; returns how many."""
        now = self._clock.now()
        due = await asyncio.to_thread(self._due, now)
        for tenant, command_id in due:
            with contextlib.suppress(NotFoundError):
                await self._move(tenant, command_id, CommandState.EXPIRED, "no answer from the device by the deadline")
        return len(due)

    def _due(self, now: datetime) -> list[tuple[str, str]]:
        with self._store.read() as tx:
            return SqlCommandRepo(tx.conn).due(now)

    async def _move(self, tenant: str, command_id: str, to: CommandState, reason: str,
                    detail: dict[str, Any] | None = None, *, answer: bool = False) -> None:
        key = (tenant, command_id)
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            result = await asyncio.to_thread(self._apply, tenant, command_id, to, reason, detail or {}, answer)
        if result is None:
            return
        cmd, events = result
        self._bus.publish(events)
        if cmd.terminal:
            self._locks.pop(key, None)
            if cmd.state is not CommandState.EXPIRED:
                self._inflight.pop(command_id, None)

    def _apply(self, tenant: str, command_id: str, to: CommandState, reason: str, detail: dict[str, Any],
               answer: bool) -> tuple[Command, list[Event]] | None:
        now = self._clock.now()
        with self._store.write() as tx:
            repo = SqlCommandRepo(tx.conn)
            found = repo.get(tenant, command_id, for_update=True)
            if found is None:
                raise NotFoundError(f"command {command_id} does not exist", where=command_id)
            cmd = found[0]
            steps_before = len(cmd.history)
            kind = f"command.{to.value}"
            if answer and cmd.state is CommandState.EXPIRED:
                cmd, kind = cmd.record_late(to, now, reason, detail), "command.late"
            elif answer and cmd.state is CommandState.REQUESTED:
                # The device answered before the transport reported the hand-over (a fast device, a slow PUBACK).
                cmd = cmd.move(CommandState.SENT, now)
                cmd = cmd.move(to, now, reason, detail)
            elif cmd.terminal or not cmd.can_move(to):
                if to is CommandState.SENT or cmd.terminal:
                    return None  # a duplicate answer, or the hand-over after the answer: nothing new
                raise IllegalTransition(f"command {command_id} cannot go from {cmd.state} to {to}")
            else:
                cmd = cmd.move(to, now, reason, detail)
            steps = list(cmd.history[steps_before:])
            repo.save(cmd, steps)
            events = [self._event(cmd, kind, now, {"state": s.state.value, "reason": s.reason, "late": s.late,
                                                   "detail": s.detail}) for s in steps[-1:]]
            tx.events.append(events)
        return cmd, events

    # -- store helpers --------------------------------------------------------------------------------------
    def _get_with_digest(self, tenant: str, command_id: str) -> tuple[Command, str] | None:
        with self._store.read() as tx:
            return SqlCommandRepo(tx.conn).get(tenant, command_id)

    def _insert(self, cmd: Command, digest: str) -> tuple[Command, str] | None:
        """Insert ``cmd``; if its id exists already (a concurrent retry), return the stored one instead."""
        try:
            with self._store.write() as tx:
                repo = SqlCommandRepo(tx.conn)
                found = repo.get(cmd.tenant, cmd.id)
                if found is not None:
                    return found
                repo.insert(cmd, digest)
                events = [self._event(cmd, "command.requested", cmd.requested_at,
                                      {"state": cmd.state.value, "payload": cmd.payload, "transport": cmd.transport,
                                       "expiresAt": cmd.as_dict()["expiresAt"]})]
                tx.events.append(events)
        except ConflictError:
            found = self._get_with_digest(cmd.tenant, cmd.id)
            if found is None:
                raise
            return found
        self._bus.publish(events)
        return None

    @staticmethod
    def _event(cmd: Command, kind: str, at: datetime, data: dict[str, Any]) -> Event:
        return Event(kind=kind, tenant=cmd.tenant, subject=cmd.twin_id, time=at, context_id=cmd.context.id,
                     parent_id=cmd.context.parent_id, actor=cmd.context.actor,
                     data={"commandId": cmd.id, "command": cmd.name, **data})

    # -- reads ----------------------------------------------------------------------------------------------
    def get(self, tenant: str, command_id: str) -> Command:
        found = self._get_with_digest(tenant, command_id)
        if found is None:
            raise NotFoundError(f"command {command_id} does not exist", where=command_id)
        return found[0]

    def list_for_twin(self, tenant: str, twin_id: str, *, after: tuple[datetime, str] | None = None,
                      limit: int = 100) -> list[Command]:
        with self._store.read() as tx:
            if tx.twins.get(tenant, twin_id) is None:
                raise NotFoundError(f"twin {twin_id} does not exist", where=twin_id)
            return SqlCommandRepo(tx.conn).list_for_twin(
                tenant, twin_id, after=after, limit=limit)

    def check_mappings(self) -> list[Problem]:
        """The mappings against their tenant's twins and models now (every problem at once)."""
        tenant = self.mappings.tenant

        def model_of(twin_id: str) -> str | None:
            with self._store.read() as tx:
                twin = tx.twins.get(tenant, twin_id)
            return twin.model_id if twin is not None else None

        return check_against_models(self.mappings, model_of, self._models.model_set(tenant))
