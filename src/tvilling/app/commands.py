"""Command service: validate, persist, send through a transport, track the device's answer, expire the silent.

Flow of ``request``: the twin must exist, its DTDL model must declare the command, the payload must match the
command's request schema, and the (tenant, twin, command) must be mapped to a running transport. The command is
then stored as ``requested`` (with a ``command.requested`` event, same transaction) and the caller gets it back
at once (HTTP 202); sending happens in a task: ``sent`` when the transport has handed it over, then ``acked`` /
``failed`` when the device answers, or ``expired`` by the sweep when it has not answered by ``expires_at``. A
late answer is recorded (``command.late`` event) but does not revive an expired command.

Guards (``guard`` on a commands.yaml row; :mod:`tvilling.policy.command_guard`) are checked at the request (slew,
rate, interlocks; a refusal is 409 and audited) and again right before the transport sends (interlocks, slew, the
kill switch: a refusal then is the state ``rejected`` / ``canceled``). A guard with ``approvals`` starts the command
``pending_approval``; :meth:`CommandService.approve` (two-person rule, bound to the request digest) releases it. A
kill switch (whole tenant or one twin) refuses new commands and cancels every one not yet handed to a device.

Every transition is one write transaction (state row, transition row, event, audit record) and is published on the
bus after commit. A client-supplied command id makes the request idempotent: the same id with the same request returns
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
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from tvilling.adapters.sql.audit_repo import SqlAuditRepo
from tvilling.adapters.sql.commands_repo import SqlCommandRepo
from tvilling.adapters.sql.kill_switch_repo import TENANT_WIDE, KillSwitch, SqlKillSwitchRepo
from tvilling.adapters.sql.store import SqlStore
from tvilling.app.command_mapping import CommandMapping, CommandMappingSet, check_against_models
from tvilling.app.events import EventBus
from tvilling.app.models import ModelService
from tvilling.core.audit import AuditEntry, AuditRecord, Verification
from tvilling.core.commands import LATE_STATES, Command, CommandState, IllegalTransition, check_command_id
from tvilling.core.context import Context, new_id
from tvilling.core.errors import (
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    Problem,
    TvillingError,
    UnavailableError,
    ValidationError,
)
from tvilling.core.events import Event
from tvilling.core.quality import Quality
from tvilling.core.twin import PropertyMetadata, Twin
from tvilling.dtdl.instance import check_value
from tvilling.policy.command_guard import check_guard
from tvilling.ports.clock import Clock
from tvilling.ports.commands import CommandOutcome, CommandRequest, CommandSendError, CommandTransport

log = logging.getLogger(__name__)

MAX_TIMEOUT_S = 86_400.0
MAX_LEASE_S = 3600.0
MAX_REMEMBERED = 10_000  # command id -> tenant entries kept for answers that name only the id


class UnmappedCommandError(ConflictError):
    """The twin's model declares the command, but no transport address is mapped for it."""


class _Refusal(Exception):
    """Raised inside a write transaction to roll it back; becomes an audited GuardRefusedError outside."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(problems[0].message)
        self.problems = problems


class GuardRefusedError(ConflictError):
    """A guard (slew, rate, interlock) or an engaged kill switch refuses the command now; ``problems`` says why."""


def _parse_time(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def twin_view(record: Any) -> Twin:
    """A stored twin as the guard sees it: top-level values with their update time and quality (unknown quality
    reads as bad, so a guard fails closed)."""
    meta: dict[str, PropertyMetadata] = {}
    for key, entry in (record.meta or {}).items():
        if key.startswith("$") or not isinstance(entry, dict):
            continue
        at = _parse_time(entry.get("lastUpdateTime"))
        if at is None:
            continue
        try:
            quality = Quality(str(entry.get("quality", "good")).lower())
        except ValueError:
            quality = Quality.BAD
        meta[key] = PropertyMetadata(at, quality=quality)
    return Twin(id=record.id, model_id=record.model_id, tenant=record.tenant, contents=dict(record.contents or {}),
                metadata=meta, etag=record.etag, last_update_time=record.last_update_time)


def _locked(repo: SqlCommandRepo, tenant: str, command_id: str) -> Command:
    """The command, locked for this write transaction; NotFoundError when there is none."""
    found = repo.get(tenant, command_id, for_update=True)
    if found is None:
        raise NotFoundError(f"command {command_id} does not exist", where=command_id)
    return found[0]


def _switch_problem(switch: KillSwitch) -> Problem:
    where = "the whole tenant" if switch.scope == TENANT_WIDE else switch.scope
    return Problem(f"the kill switch for {where} is engaged (since {switch.engaged_at:%Y-%m-%d %H:%M:%S} UTC, by "
                   f"{switch.actor}: {switch.reason or 'no reason given'})", "killSwitch",
                   "an engineer releases it: tvilling killswitch release")


def _audit(cmd: Command, action: str, at: datetime, actor: str, detail: dict[str, Any],
           category: str = "command") -> AuditEntry:
    return AuditEntry(category, action, cmd.id, actor, at,
                      {"twinId": cmd.twin_id, "command": cmd.name, "contextId": cmd.context.id, **detail})


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
                      command_id: str | None = None, timeout_s: float | None = None,
                      min_approvals: int = 0, lease_s: float | None = None) -> tuple[Command, bool]:
        """Validate and accept a command; returns (command, created). Sending continues in the background.
        ``min_approvals`` raises the approvals the guard asks for (a setpoint loop routes what it is not sure of to
        a person); it never lowers them. ``lease_s`` sends it under a supervisory lease held by the requester
        (``ctx.actor``), who must then renew it (:meth:`renew_leases`) or the device falls back to its local value;
        only transports that carry leases take one."""
        command_id = check_command_id(command_id) if command_id is not None else new_id()
        digest = _digest(twin_id, name, payload)
        existing = await asyncio.to_thread(self._get_with_digest, tenant, command_id)
        if existing is not None:
            return self._replay(existing, digest), False
        mapping = await asyncio.to_thread(self._validate, tenant, twin_id, name, payload)
        if mapping.target.transport not in self.transports:
            raise UnavailableError(f"the {mapping.target.transport} command transport is not running",
                                   where=f"{twin_id}/{name}", hint="check the server's broker / PLC settings")
        if lease_s is not None:
            self._check_lease(twin_id, name, mapping, lease_s)
        timeout = timeout_s if timeout_s is not None else (mapping.timeout_s or self.mappings.default_timeout_s)
        if not (isinstance(timeout, int | float) and math.isfinite(timeout) and 0 < timeout <= MAX_TIMEOUT_S):
            raise ValidationError(f"timeout must be in (0, {MAX_TIMEOUT_S:.0f}] seconds", where="timeout")
        now = self._clock.now()
        await asyncio.to_thread(self._check_guard, tenant, twin_id, name, payload, mapping, ctx, now)
        guard = mapping.guard
        approvals = max(guard.approvals, min(max(min_approvals, 0), 2))
        wait = guard.approval_ttl_s if approvals else float(timeout)
        cmd = Command.request(id=command_id, tenant=tenant, twin_id=twin_id, name=name, payload=payload,
                              requested_at=now, expires_at=now + timedelta(seconds=wait), context=ctx,
                              transport=mapping.target.transport, digest=digest,
                              approvals_required=approvals, timeout_s=float(timeout),
                              lease_s=float(lease_s) if lease_s is not None else None)
        try:
            inserted = await asyncio.to_thread(self._insert, cmd, digest, mapping)
        except _Refusal as refusal:
            raise await asyncio.to_thread(self._refused, tenant, twin_id, name, payload, ctx, now,
                                          refusal.problems) from None
        if inserted is not None:  # a concurrent request with the same id won the race
            return self._replay(inserted, digest), False
        if cmd.state is CommandState.REQUESTED:
            self._dispatch(cmd, mapping)
        return cmd, True

    def _dispatch(self, cmd: Command, mapping: CommandMapping) -> None:
        """Send ``cmd`` in a task (after the last check, in :meth:`_send`)."""
        transport = self.transports.get(mapping.target.transport)
        if transport is None:  # gone since the request (server shutting down): the sweep expires it
            return
        self._inflight[cmd.id] = cmd.tenant
        while len(self._inflight) > MAX_REMEMBERED:  # expired ones stay for late answers; keep the newest only
            self._inflight.pop(next(iter(self._inflight)))
        req = CommandRequest(command_id=cmd.id, tenant=cmd.tenant, twin_id=cmd.twin_id, name=cmd.name,
                             value=mapping.device_value(cmd.payload), target=mapping.target, expires_at=cmd.expires_at,
                             lease_s=cmd.lease_s, holder=cmd.context.actor if cmd.lease_s is not None else "")
        task = asyncio.create_task(self._send(transport, req, cmd.payload, mapping), name=f"command-{cmd.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _check_lease(self, twin_id: str, name: str, mapping: CommandMapping, lease_s: float) -> None:
        if isinstance(lease_s, bool) or not isinstance(lease_s, int | float) or not (
                math.isfinite(lease_s) and 0 < lease_s <= MAX_LEASE_S):
            raise ValidationError(f"a lease must be in (0, {MAX_LEASE_S:.0f}] seconds", where="leaseS")
        if not hasattr(self.transports.get(mapping.target.transport), "renew_lease"):
            raise ValidationError(f"the {mapping.target.transport} transport carries no supervisory leases",
                                  where=f"{twin_id}/{name}", hint="map the command to an MQTT topic, or send it "
                                                                  "without a lease")

    async def renew_leases(self, tenant: str, twin_id: str, names: list[str], holder: str, lease_s: float) -> int:
        """Renew (``lease_s`` > 0) or release (0) ``holder``'s leases on the devices ``names`` of ``twin_id`` are
        mapped to; each device once. Returns how many devices were told; raises :class:`CommandSendError`."""
        told: set[tuple[str, str]] = set()
        for name in names:
            mapping = self.mappings.get(tenant, twin_id, name)
            if mapping is None:
                continue
            target = mapping.target
            carrier = self.transports.get(target.transport)
            renew = getattr(carrier, "renew_lease", None)
            if renew is None or (target.transport, target.address) in told:
                continue
            await renew(target, holder, lease_s)
            told.add((target.transport, target.address))
        return len(told)

    def carries_leases(self, transport: str) -> bool:
        """Whether commands over ``transport`` can carry a supervisory lease: asked of the running transport; before
        the transports have started, of the name (MQTT is the one that does)."""
        running = self.transports.get(transport)
        return hasattr(running, "renew_lease") if running is not None else transport == "mqtt"

    def kill_switch_for(self, tenant: str, twin_id: str) -> KillSwitch | None:
        """The engaged kill switch covering ``twin_id`` (the whole tenant or the twin), if any."""
        with self._store.read() as tx:
            return SqlKillSwitchRepo(tx.conn).blocking(tenant, twin_id)

    def _check_guard(self, tenant: str, twin_id: str, name: str, payload: Any, mapping: CommandMapping,
                     ctx: Context, now: datetime) -> None:
        """Kill switch, slew, rate and interlocks at the request (a read; the kill switch and the rate are checked
        again under the tenant's lock when the command is stored); a refusal is audited, then raised (409)."""
        with self._store.read() as tx:
            problems = self._guard_problems(tx, tenant, twin_id, name, payload, mapping, now, full=True)
        if problems:
            raise self._refused(tenant, twin_id, name, payload, ctx, now, problems)

    @staticmethod
    def _guard_problems(tx: Any, tenant: str, twin_id: str, name: str, payload: Any, mapping: CommandMapping,
                        now: datetime, *, full: bool) -> list[Problem]:
        """The kill switch and the rate, and with ``full`` also slew and interlocks (the twin's state)."""
        switch = SqlKillSwitchRepo(tx.conn).blocking(tenant, twin_id)
        problems = [_switch_problem(switch)] if switch is not None else []
        guard = mapping.guard
        recent = (SqlCommandRepo(tx.conn).count_since(tenant, twin_id, name, now - timedelta(seconds=60))
                  if guard.rate_per_min is not None else None)
        if full and guard.active:
            record = tx.twins.get(tenant, twin_id)
            if record is not None:
                problems += check_guard(guard, payload, twin_view(record), now, recent_count=recent)
        elif recent is not None:
            problems += check_guard(replace(guard, max_step=None, interlocks=()), payload,
                                    Twin(twin_id, "", tenant), now, recent_count=recent)
        return problems

    def _refused(self, tenant: str, twin_id: str, name: str, payload: Any, ctx: Context, now: datetime,
                 problems: list[Problem]) -> GuardRefusedError:
        """The refusal, audited (its own transaction: the request's was rolled back or never began)."""
        entry = AuditEntry("guard", "command.refused", twin_id, ctx.actor, now,
                           {"command": name, "payload": payload, "contextId": ctx.id,
                            "reasons": [p.message for p in problems]})
        with self._store.write() as tx:
            SqlAuditRepo(tx.conn).append(tenant, [entry])
        return GuardRefusedError(f"command {name!r} to {twin_id} refused: {problems[0].message}",
                                 where=problems[0].where, hint=problems[0].hint, problems=problems)

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
    async def _send(self, transport: CommandTransport, req: CommandRequest, payload: Any,
                    mapping: CommandMapping) -> None:
        key = (req.tenant, req.command_id)
        ready = getattr(transport, "ready", None)  # connect first: after the last check nothing may wait
        if ready is not None:
            try:
                await ready(req)
            except CommandSendError as exc:
                await self._move(req.tenant, req.command_id, CommandState.FAILED, f"not sent: {exc.message}")
                return
        try:
            async with self._locks.setdefault(key, asyncio.Lock()):
                released = await asyncio.to_thread(self._hand_over, req.tenant, req.command_id, req.twin_id, payload,
                                                   mapping)
        except Exception:  # fail closed: without the kill switch's state nothing is sent; the sweep expires it
            log.exception("command %s not sent: its kill switch / guard could not be checked", req.command_id)
            return
        if released is None:  # no longer requested (canceled or expired meanwhile)
            return
        cmd, events = released
        self._bus.publish(events)
        if cmd.state is not CommandState.SENT:
            self._forget(cmd)
            return
        try:
            outcome = await transport.send(req)
        except CommandSendError as exc:
            await self._move(req.tenant, req.command_id, CommandState.FAILED, f"not sent: {exc.message}")
            return
        except Exception as exc:  # a transport bug must not leave the command hanging until expiry unexplained
            log.exception("command transport %s failed on %s", transport.name, req.command_id)
            await self._move(req.tenant, req.command_id, CommandState.FAILED, f"not sent: {exc}")
            return
        if outcome is not None:
            await self.on_outcome(outcome)

    def _hand_over(self, tenant: str, command_id: str, twin_id: str, payload: Any,
                   mapping: CommandMapping) -> tuple[Command, list[Event]] | None:
        """The last check before the transport, and its verdict, in one write transaction: ``sent`` (released to
        the transport), ``canceled`` (a kill switch) or ``rejected`` (the guard again, without the rate: an
        interlock that became true after approval still stops it). The transaction first locks the tenant's audit
        head, as engaging a kill switch does, so a switch either commits first and is seen here, or finds the
        command already ``sent`` — never a command released after the engage returned."""
        now = self._clock.now()
        with self._store.write() as tx:
            SqlAuditRepo(tx.conn).lock(tenant)
            repo = SqlCommandRepo(tx.conn)
            cmd = _locked(repo, tenant, command_id)
            if cmd.state is not CommandState.REQUESTED:
                return None
            to, reason = CommandState.SENT, ""
            switch = SqlKillSwitchRepo(tx.conn).blocking(tenant, twin_id)
            rate = mapping.guard.rate_per_min
            if switch is not None:
                to, reason = CommandState.CANCELED, _switch_problem(switch).message
            elif cmd.is_due(now):
                to, reason = CommandState.EXPIRED, "not sent by the deadline"
            elif rate is not None and repo.count_sent_since(tenant, twin_id, cmd.name,
                                                            now - timedelta(seconds=60)) >= rate:
                # Approved commands bunch up: the rate holds for what is sent, too.
                to, reason = CommandState.REJECTED, f"at dispatch: {rate} commands of this kind sent in the last 60 s"
            elif mapping.guard.active:
                record = tx.twins.get(tenant, twin_id)
                problems = ([Problem(f"twin {twin_id} no longer exists", twin_id)] if record is None
                            else check_guard(mapping.guard, payload, twin_view(record), now))
                if problems:
                    to, reason = CommandState.REJECTED, "at dispatch: " + "; ".join(p.message for p in problems)
            before = len(cmd.history)
            cmd = cmd.move(to, now, reason)
            events = self._record(tx, repo, cmd, list(cmd.history[before:]), f"command.{to.value}", now, "system")
        return cmd, events

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
        for tenant, command_id, state in due:
            reason = {CommandState.PENDING_APPROVAL.value: "not approved by the deadline",
                      CommandState.REQUESTED.value: "not sent by the deadline"}.get(
                state, "no answer from the device by the deadline")
            with contextlib.suppress(NotFoundError):
                await self._move(tenant, command_id, CommandState.EXPIRED, reason)
        return len(due)

    def _due(self, now: datetime) -> list[tuple[str, str, str]]:
        with self._store.read() as tx:
            return SqlCommandRepo(tx.conn).due(now)

    async def _move(self, tenant: str, command_id: str, to: CommandState, reason: str,
                    detail: dict[str, Any] | None = None, *, answer: bool = False,
                    actor: str = "") -> Command | None:
        """Apply one transition (None when there was nothing new to record)."""
        key = (tenant, command_id)
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            result = await asyncio.to_thread(self._apply, tenant, command_id, to, reason, detail or {}, answer,
                                             actor)
        if result is None:
            return None
        cmd, events = result
        self._bus.publish(events)
        self._forget(cmd)
        return cmd

    def _forget(self, cmd: Command) -> None:
        if cmd.terminal:
            self._locks.pop((cmd.tenant, cmd.id), None)
            if cmd.state is not CommandState.EXPIRED:
                self._inflight.pop(cmd.id, None)

    def _apply(self, tenant: str, command_id: str, to: CommandState, reason: str, detail: dict[str, Any],
               answer: bool, actor: str = "") -> tuple[Command, list[Event]] | None:
        now = self._clock.now()
        with self._store.write() as tx:
            SqlAuditRepo(tx.conn).lock(tenant)  # always the tenant's audit head before a command row (no deadlock)
            repo = SqlCommandRepo(tx.conn)
            cmd = _locked(repo, tenant, command_id)
            if to is CommandState.EXPIRED and not answer and not cmd.is_due(now):
                return None  # approved (a new deadline) or answered since the sweep read it
            steps_before = len(cmd.history)
            kind = f"command.{to.value}"
            if answer and cmd.state in LATE_STATES:
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
            who = actor or (f"device:{cmd.transport}" if answer else "system")
            events = self._record(tx, repo, cmd, list(cmd.history[steps_before:]), kind, now, who)
        return cmd, events

    def _record(self, tx: Any, repo: SqlCommandRepo, cmd: Command, steps: list[Any], kind: str, now: datetime,
                who: str) -> list[Event]:
        """Save ``steps`` of ``cmd`` with their event and one audit record each, in the caller's transaction."""
        repo.save(cmd, steps)
        events = [self._event(cmd, kind, now, {"state": s.state.value, "reason": s.reason, "late": s.late,
                                               "detail": s.detail}) for s in steps[-1:]]
        tx.events.append(events)
        SqlAuditRepo(tx.conn).append(cmd.tenant, [
            _audit(cmd, "command.late" if st.late else f"command.{st.state.value}", now, who,
                   {"reason": st.reason, **({"detail": st.detail} if st.detail else {})}) for st in steps])
        return events

    # -- approvals ------------------------------------------------------------------------------------------
    async def approve(self, tenant: str, command_id: str, actor: str, digest: str) -> Command:
        """``actor``'s approval of a pending command, bound to ``digest``; the last one needed dispatches it.
        A refused approval (the requester, a second approval by one actor, another digest) is audited, then raised."""
        key = (tenant, command_id)
        async with self._locks.setdefault(key, asyncio.Lock()):
            cmd, events = await asyncio.to_thread(self._approve, tenant, command_id, actor, digest)
        self._bus.publish(events)
        if cmd.state is CommandState.REQUESTED:
            mapping = self.mappings.get(tenant, cmd.twin_id, cmd.name)
            if mapping is None:
                await self._move(tenant, cmd.id, CommandState.FAILED, "no longer mapped to a device")
            else:
                self._dispatch(cmd, mapping)
        return cmd

    def _approve(self, tenant: str, command_id: str, actor: str, digest: str) -> tuple[Command, list[Event]]:
        now = self._clock.now()
        try:
            with self._store.write() as tx:
                SqlAuditRepo(tx.conn).lock(tenant)
                repo = SqlCommandRepo(tx.conn)
                before = _locked(repo, tenant, command_id)
                if before.state is CommandState.PENDING_APPROVAL and now >= before.expires_at:
                    raise ConflictError(f"command {command_id} waited longer than its approval deadline",
                                        where=command_id, hint="request it again")
                cmd = before.approve(actor, digest, now)
                steps = list(cmd.history[len(before.history):])
                repo.save(cmd, steps, cmd.approvals[-1:])
                entries = [_audit(cmd, "approval.given", now, actor,
                                  {"digest": digest, "approvals": len(cmd.approvals),
                                   "approvalsRequired": cmd.approvals_required}, "approval")]
                entries += [_audit(cmd, f"command.{st.state.value}", now, actor, {"reason": st.reason})
                            for st in steps]
                SqlAuditRepo(tx.conn).append(tenant, entries)
                events = [self._event(cmd, "command.approval", now,
                                      {"state": cmd.state.value, "approver": actor, "approvals": len(cmd.approvals),
                                       "approvalsRequired": cmd.approvals_required})]
                if steps:
                    events.append(self._event(cmd, "command.requested", now,
                                              {"state": cmd.state.value, "reason": "approved"}))
                tx.events.append(events)
            return cmd, events
        except (PermissionDeniedError, ConflictError) as exc:
            self._audit_denial(tenant, command_id, actor, now, "approval.denied", exc)
            raise

    async def reject(self, tenant: str, command_id: str, actor: str, reason: str) -> Command:
        """An approver refuses a pending command; a refusal of this (not pending) is audited, then raised."""
        cmd = await asyncio.to_thread(self.get, tenant, command_id)
        try:
            if cmd.state is not CommandState.PENDING_APPROVAL:
                raise ConflictError(f"command {command_id} is {cmd.state.value}, not waiting for approval",
                                    where=command_id)
            await self._move(tenant, command_id, CommandState.REJECTED,
                             f"rejected by {actor}: {reason or 'no reason'}", actor=actor)
        except ConflictError as exc:  # IllegalTransition too: it moved on meanwhile
            await asyncio.to_thread(self._audit_denial, tenant, command_id, actor, self._clock.now(),
                                    "approval.denied", exc)
            raise
        return await asyncio.to_thread(self.get, tenant, command_id)

    def pending(self, tenant: str, limit: int = 200) -> list[Command]:
        """Commands waiting for approval, oldest first."""
        with self._store.read() as tx:
            return SqlCommandRepo(tx.conn).list_by_state(tenant, [CommandState.PENDING_APPROVAL], limit)

    def _audit_denial(self, tenant: str, subject: str, actor: str, at: datetime, action: str,
                      exc: TvillingError) -> None:
        # Best effort: the refusal itself must still reach the caller when the audit cannot be written.
        with contextlib.suppress(Exception), self._store.write() as tx:
            SqlAuditRepo(tx.conn).append(tenant, [AuditEntry("approval", action, subject, actor, at,
                                                             {"reason": exc.message})])

    # -- kill switch ----------------------------------------------------------------------------------------
    async def engage(self, tenant: str, scope: str, actor: str, reason: str) -> tuple[KillSwitch, int]:
        """Engage the kill switch for ``scope`` ("*" or a twin id); returns it and how many commands it canceled.
        Engaging an engaged scope keeps the first engagement (and still cancels what is open)."""
        now = self._clock.now()
        switch = KillSwitch(scope, now, actor, reason)
        stored, open_ids, events = await asyncio.to_thread(self._engage, tenant, switch)
        self._bus.publish(events)
        canceled = 0
        for command_id in open_ids:
            # A command released to its transport meanwhile is "sent" now and cannot be recalled: it stays so.
            with contextlib.suppress(NotFoundError, IllegalTransition):
                moved = await self._move(tenant, command_id, CommandState.CANCELED,
                                         f"kill switch engaged by {actor}: {reason or 'no reason given'}", actor=actor)
                canceled += moved is not None and moved.state is CommandState.CANCELED
        return stored, canceled

    def _engage(self, tenant: str, switch: KillSwitch) -> tuple[KillSwitch, list[str], list[Event]]:
        events: list[Event] = []
        with self._store.write() as tx:
            SqlAuditRepo(tx.conn).lock(tenant)  # serialises with every hand-over to a transport (_hand_over)
            if switch.scope != TENANT_WIDE and tx.twins.get(tenant, switch.scope) is None:
                raise NotFoundError(f"twin {switch.scope} does not exist", where=switch.scope,
                                    hint='use "*" for the whole tenant')
            switches = SqlKillSwitchRepo(tx.conn)
            fresh = switches.engage(tenant, switch)
            stored = switch if fresh else next(k for k in switches.engaged(tenant) if k.scope == switch.scope)
            if fresh:
                SqlAuditRepo(tx.conn).append(tenant, [AuditEntry("killswitch", "killswitch.engaged", switch.scope,
                                                                 switch.actor, switch.engaged_at,
                                                                 {"reason": switch.reason})])
                events.append(self._switch_event(tenant, "killswitch.engaged", stored, switch.actor))
                tx.events.append(events)
            open_ids = SqlCommandRepo(tx.conn).open_ids(tenant, None if switch.scope == TENANT_WIDE else switch.scope)
        return stored, open_ids, events

    async def release(self, tenant: str, scope: str, actor: str, reason: str = "") -> KillSwitch:
        return await asyncio.to_thread(self._release, tenant, scope, actor, reason)

    def _release(self, tenant: str, scope: str, actor: str, reason: str) -> KillSwitch:
        now = self._clock.now()
        with self._store.write() as tx:
            released = SqlKillSwitchRepo(tx.conn).release(tenant, scope)
            if released is None:
                raise NotFoundError(f"no kill switch is engaged for {scope}", where=scope,
                                    hint="GET /api/v1/killswitch lists the engaged ones")
            SqlAuditRepo(tx.conn).append(tenant, [AuditEntry(
                "killswitch", "killswitch.released", scope, actor, now,
                {"reason": reason, "engagedAt": released.as_dict()["engagedAt"], "engagedBy": released.actor})])
            event = self._switch_event(tenant, "killswitch.released", released, actor)
            tx.events.append([event])
        self._bus.publish([event])
        return released

    def kill_switches(self, tenant: str) -> list[KillSwitch]:
        with self._store.read() as tx:
            return SqlKillSwitchRepo(tx.conn).engaged(tenant)

    def _switch_event(self, tenant: str, kind: str, switch: KillSwitch, actor: str) -> Event:
        ctx = Context.new(actor=actor)
        return Event(kind=kind, tenant=tenant, subject=switch.scope, time=self._clock.now(), context_id=ctx.id,
                     parent_id=None, actor=actor, data=switch.as_dict())

    # -- audit ----------------------------------------------------------------------------------------------
    def audit_page(self, tenant: str, *, before: int = 0, limit: int = 100, subject: str | None = None,
                   category: str | None = None) -> list[AuditRecord]:
        """Newest first; ``before`` is the position of the last record of the previous page (0: from the head)."""
        with self._store.read() as tx:
            return SqlAuditRepo(tx.conn).page(tenant, after=before, limit=limit, subject=subject, category=category,
                                              newest_first=True)

    def verify_audit(self, tenant: str) -> Verification:
        with self._store.read() as tx:
            return SqlAuditRepo(tx.conn).verify(tenant)

    # -- store helpers --------------------------------------------------------------------------------------
    def _get_with_digest(self, tenant: str, command_id: str) -> tuple[Command, str] | None:
        with self._store.read() as tx:
            return SqlCommandRepo(tx.conn).get(tenant, command_id)

    def _insert(self, cmd: Command, digest: str, mapping: CommandMapping) -> tuple[Command, str] | None:
        """Insert ``cmd``; if its id exists already (a concurrent retry), return the stored one instead. Under the
        tenant's lock the kill switch and the rate are checked again (concurrent requests cannot all pass a rate
        they each read before the others were stored); a refusal raises :class:`_Refusal`."""
        try:
            with self._store.write() as tx:
                SqlAuditRepo(tx.conn).lock(cmd.tenant)
                repo = SqlCommandRepo(tx.conn)
                found = repo.get(cmd.tenant, cmd.id)
                if found is not None:
                    return found
                problems = self._guard_problems(tx, cmd.tenant, cmd.twin_id, cmd.name, cmd.payload, mapping,
                                                cmd.requested_at, full=False)
                if problems:
                    raise _Refusal(problems)
                repo.insert(cmd, digest)
                events = [self._event(cmd, f"command.{cmd.state.value}", cmd.requested_at,
                                      {"state": cmd.state.value, "payload": cmd.payload, "transport": cmd.transport,
                                       "expiresAt": cmd.as_dict()["expiresAt"],
                                       "approvalsRequired": cmd.approvals_required})]
                tx.events.append(events)
                SqlAuditRepo(tx.conn).append(cmd.tenant, [_audit(
                    cmd, f"command.{cmd.state.value}", cmd.requested_at, cmd.context.actor,
                    {"payload": cmd.payload, "digest": digest, "transport": cmd.transport,
                     "approvalsRequired": cmd.approvals_required, "expiresAt": cmd.as_dict()["expiresAt"]})])
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
