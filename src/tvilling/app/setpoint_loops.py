"""Setpoint loops: a zone's setpoints chosen by the optimiser, proposed, approved or sent — within guards.

``run_setpoint_loops(platform)`` (in ``bootstrap.BACKGROUND``) loads ``setpoints.yaml`` (see
:mod:`tvilling.app.setpoint_config`) and decides once per ``period_s`` of each zone's own time: a committed
``twin.telemetry`` reading of the loop's twin whose source time has reached the next period starts a decision (so
an accelerated plant is followed at its own pace). A decision reads the zone's history (15-minute means), fits the
model, forecasts and proposes (:mod:`tvilling.optimize.setpoint`), then acts by mode:

- ``recommend``: the proposal is stored and published (``setpoint.proposed``); nothing is sent.
- ``approve``: the setpoint commands are requested with at least one approval (the Approvals page).
- ``auto``: sent through the command service like anyone's — kill switch, slew/rate guards and interlocks apply —
  but only while an engineer has enabled autonomy, and only when the model is confident (its held-out day's
  energy error within ``max_energy_error``, the outdoor forecast within the fitted range): otherwise the commands
  wait for an approval (an uncertain proposal is never executed by itself).

Autonomy suspends itself, with an event and an audit record, when a guard or the kill switch refuses a command,
or when ``max_failures`` commands in a row failed or expired; and after every restart (an engineer enables it
again). While commands from the previous decision are still open, a decision sends nothing (no retry storm).
Setpoint commands are absolute values, so a repeated one is harmless. When both setpoints move, the one that
widens the pair goes first and the second waits for the first's acknowledgement (the zone refuses a heating
setpoint less than ``min_gap`` below the cooling one).

Supervisory lease (reliability C-13, a loop with ``lease_s``): the setpoints a loop sends by itself carry a lease
held by ``loop:<name>``; :meth:`SetpointLoopService.keep_leases` renews it every quarter lease (wall clock) while
autonomy is enabled and no kill switch covers the twin, and releases it once — at once — when autonomy goes off
(disabled, suspended, and at every start) or a kill switch covers the twin. A crashed server renews nothing, so the
device falls back to its local setpoints within the lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from tvilling.adapters.sql.audit_repo import SqlAuditRepo
from tvilling.adapters.sql.commands_repo import SqlCommandRepo
from tvilling.adapters.sql.setpoints_repo import LoopState, SqlSetpointRepo
from tvilling.adapters.sql.timeseries_read import HistoryReader
from tvilling.app.commands import CommandService, GuardRefusedError
from tvilling.app.monitoring_twin import good_reading
from tvilling.app.setpoint_config import LoopSpec, SetpointConfig, load_config
from tvilling.app.site import site_file
from tvilling.core.audit import AuditEntry
from tvilling.core.commands import CommandState
from tvilling.core.context import Context, new_id
from tvilling.core.errors import ConflictError, NotFoundError, Problem, TvillingError, UnavailableError
from tvilling.core.events import Event
from tvilling.optimize.setpoint import (
    Band,
    IdentificationError,
    Limits,
    ZoneSeries,
    forecast,
    hold_last,
    identify,
    propose,
)
from tvilling.ports.commands import CommandSendError
from tvilling.ports.documents import iso

log = logging.getLogger(__name__)

BUCKET_S = 900  # the model's resolution: 15-minute means
OPEN_STATES = (CommandState.REQUESTED, CommandState.SENT, CommandState.PENDING_APPROVAL)
BAD_STATES = (CommandState.FAILED, CommandState.EXPIRED)
REFUSED_STATES = (CommandState.REJECTED, CommandState.CANCELED)
RESTART_REASON = "the platform restarted: autonomy stays off until an engineer enables it again"
ACK_WAIT_S = 60.0
KEEP_PROPOSALS = 20_000  # per loop (~7 months at one decision per quarter-hour)
PRUNE_EVERY = 500


@dataclass
class _CommandHistory:
    open: list[str]
    failures: int = 0
    refusal: str | None = None


class _Reader(HistoryReader):
    def __init__(self, engine: Any) -> None:
        self.engine = engine


@dataclass
class SetpointLoopService:
    services: Any  # tvilling.app.services.Services
    commands: CommandService | None
    config: SetpointConfig
    ack_wait_s: float = ACK_WAIT_S
    _next: dict[str, float] = field(default_factory=dict)
    _queue: asyncio.Queue[str] | None = None
    _pending: dict[str, float] = field(default_factory=dict)  # loop -> the newest zone time waiting for a decision
    started: bool = False  # on_start has run (autonomy may be enabled from now on)
    _stored: int = 0
    _loop: asyncio.AbstractEventLoop | None = None
    _remove: Any = None
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    # loop -> (end of what was read, property -> {bucket start s: mean}); see _series
    _cache: dict[str, tuple[int, dict[str, dict[int, float]]]] = field(default_factory=dict)
    _wake: asyncio.Event | None = None  # set when autonomy changes: the lease keeper acts at once

    @property
    def tenant(self) -> str:
        return self.config.tenant

    # -- lifecycle ------------------------------------------------------------------------------------------
    def on_start(self) -> list[str]:
        """Autonomy never survives a restart: every enabled auto loop is suspended (audited); enabling is refused
        until this has run (so no clock comparison decides it). Returns their names."""
        suspended = []
        for loop in self.config.loops:
            if loop.mode == "auto" and self._set_state(loop, enabled=False, reason=RESTART_REASON, actor="system",
                                                        action="setpoint.suspended", only_if_enabled=True):
                suspended.append(loop.name)
        self.started = True
        return suspended

    def attach(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._queue = asyncio.Queue()
        self._remove = self.services.bus.listen(self._on_event)

    def detach(self) -> None:
        if self._remove is not None:
            self._remove()
            self._remove = None

    def _on_event(self, event: Event) -> None:  # the publisher's thread: cheap
        if event.kind != "twin.telemetry" or event.tenant != self.tenant:
            return
        loops = self.config.for_twin(event.subject)
        changes = event.data.get("changes") if isinstance(event.data, dict) else None
        if not loops or not isinstance(changes, dict):
            return
        times = [r[1] for r in (good_reading(ch) for ch in changes.values()) if r is not None]
        if not times:
            return
        t = max(times)
        for loop in loops:
            due = self._next.get(loop.name, -math.inf)
            if t < due - 2 * loop.period_s:  # the zone's clock went back (a replay, a corrected clock): follow it
                due = -math.inf
            if t >= due:
                self._next[loop.name] = (math.floor(t / loop.period_s) + 1) * loop.period_s
                if self._loop is not None and not self._loop.is_closed():
                    self._loop.call_soon_threadsafe(self._enqueue, loop.name, t)

    def _enqueue(self, name: str, t: float) -> None:
        """One waiting decision per loop, for the newest time: when decisions fall behind the zone's clock (an
        accelerated plant), the stale ones are skipped rather than queued."""
        assert self._queue is not None
        if name not in self._pending:
            self._queue.put_nowait(name)
        self._pending[name] = max(t, self._pending.get(name, t))

    async def run(self) -> None:
        assert self._queue is not None, "attach() first"
        while True:
            name = await self._queue.get()
            t = self._pending.pop(name)
            loop = self.config.get(name)
            if loop is None:
                continue
            try:
                await self.decide(loop, t)
            except Exception:  # a store outage or a bad model loses one decision, never the service
                log.exception("setpoint loop %s: decision failed", name)

    # -- decisions ------------------------------------------------------------------------------------------
    async def decide(self, loop: LoopSpec, t: float) -> dict[str, Any]:
        """One decision for the zone's time ``t`` (epoch seconds): propose, act by mode, store, publish."""
        lock = self._locks.setdefault(loop.name, asyncio.Lock())
        async with lock:
            body, series_ok = await asyncio.to_thread(self._propose, loop, t)
            if series_ok:
                await self._act(loop, body)
            await asyncio.to_thread(self._store, loop, body, t)
            return body

    def _propose(self, loop: LoopSpec, t: float) -> tuple[dict[str, Any], bool]:
        """The proposal body (decision still to be made) and whether there is one to act on."""
        started = time.perf_counter()
        body: dict[str, Any] = {"id": new_id(), "loop": loop.name, "twin": loop.twin, "mode": loop.mode,
                                "at": iso(datetime.fromtimestamp(t, UTC)), "band": loop.band.model_dump(),
                                "reasons": [], "commands": []}
        current = self._current(loop)
        if current is None:
            body.update(decision="no model", reasons=[
                f"{loop.twin} reports no {loop.signals.heating_setpoint} / {loop.signals.cooling_setpoint} yet"])
            return body, False
        series = self._series(loop, t)
        try:
            model = identify(series)
        except IdentificationError as exc:
            body.update(decision="no model", reasons=[exc.message], current={"heatingSetpoint": current[0],
                                                                             "coolingSetpoint": current[1]})
            return body, False
        fc = forecast(series, max(1, round(loop.horizon_h * 3600 / BUCKET_S)))
        # Air and power must have been measured lately: a dead sensor or meter must not steer (C-04).
        recent = max(1, math.ceil(loop.max_input_age_s / BUCKET_S))
        fresh = bool(np.isfinite(series.air[-recent:]).any() and np.isfinite(series.power_kw[-recent:]).any())
        limits = Limits(loop.limits.heating, loop.limits.cooling, loop.limits.min_gap, loop.limits.step,
                        loop.limits.max_move)
        proposal = propose(model, fc, Band(loop.band.low, loop.band.high), limits, current, margin=loop.margin)
        lo, hi = model.outdoor_range
        near = fc.outdoor[:2]
        ood = bool(np.any(near < lo - loop.outdoor_margin_k) or np.any(near > hi + loop.outdoor_margin_k))
        err = model.replay_energy_error
        confident = fresh and not ood and math.isfinite(err) and abs(err) <= loop.max_energy_error
        reasons = list(proposal.reasons)
        if not confident:
            reasons.append("not confident: " + (
                f"no air or power measured in the last {loop.max_input_age_s / 60:.0f} min" if not fresh else
                "the outdoor forecast is outside the fitted range" if ood else
                f"held-out day's energy error {err:+.0%} (limit ±{loop.max_energy_error:.0%})" if math.isfinite(err)
                else "the held-out day has too little measured HVAC work to check the model on"))
        body.update(
            fresh=fresh, current=proposal.current.as_dict(), proposed=proposal.best.as_dict(), changes=proposal.changes,
            savingKwh=proposal.current.energy_kwh - proposal.best.energy_kwh, horizonH=proposal.horizon_s / 3600,
            unmodelled=list(proposal.unmodelled), reasons=reasons, model=model.as_dict(),
            confidence={"energyError": err if math.isfinite(err) else None, "outOfDistribution": ood,
                        "outdoorRange": [lo, hi], "confident": confident,
                        "maxEnergyError": loop.max_energy_error, "outdoorMarginK": loop.outdoor_margin_k},
            computeMs=round((time.perf_counter() - started) * 1000, 1))
        return body, True

    def _current(self, loop: LoopSpec) -> tuple[float, float] | None:
        with self.services.store.read() as tx:
            record = tx.twins.get(self.tenant, loop.twin)
        if record is None:
            raise NotFoundError(f"twin {loop.twin} of setpoint loop {loop.name} does not exist", where=loop.twin)
        contents = record.contents or {}
        h, c = contents.get(loop.signals.heating_setpoint), contents.get(loop.signals.cooling_setpoint)
        if not all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in (h, c)):
            return None
        assert isinstance(h, int | float) and isinstance(c, int | float)
        return float(h), float(c)

    def _series(self, loop: LoopSpec, t: float) -> ZoneSeries:
        """The model's input: 15-minute means over ``history_days`` up to the last complete bucket before ``t``.

        Kept per loop between decisions: each decision reads only what is new (and the last half hour again, for
        readings that arrive late), so an accelerated plant, deciding several times a second, stays cheap."""
        end = math.floor(t / BUCKET_S) * BUCKET_S  # complete buckets only
        start = end - round(loop.history_days * 86400 / BUCKET_S) * BUCKET_S
        n = (end - start) // BUCKET_S
        s = loop.signals
        props = (s.air, s.outdoor, s.power, s.occupancy, s.heating_setpoint, s.cooling_setpoint)
        cache = self._cache.get(loop.name)
        if cache is None or cache[0] > end:  # first decision, or time went back (a replay): read it all
            cache = (start, {p: {} for p in props})
        read_from = max(start, cache[0] - 2 * BUCKET_S)
        reader = _Reader(self.services.store.engine)
        if end > read_from:
            for prop in props:
                got = cache[1][prop]
                for row in reader.bucketed(self.tenant, loop.twin, prop, read_from * 1_000_000, end * 1_000_000,
                                           BUCKET_S, ["mean"]):
                    if row["mean"] is not None:
                        got[row["t"] // 1_000_000] = float(row["mean"])
                for key in [k for k in got if k < start]:
                    del got[key]
        self._cache[loop.name] = (end, cache[1])
        columns = []
        for prop in props:
            col = np.full(n, np.nan)
            for key, value in cache[1][prop].items():
                i = (key - start) // BUCKET_S
                if 0 <= i < n:
                    col[i] = value
            columns.append(col)
        # Outdoor temperature, occupancy and the setpoints change slowly and may be reported less often than the
        # quarter-hour: hold the last value across empty buckets (air and power must be measured).
        for j in (1, 3, 4, 5):
            columns[j] = hold_last(columns[j])
        air, outdoor, power, occupancy, heating, cooling = columns
        return ZoneSeries(float(BUCKET_S), air, outdoor, power, occupancy, heating, cooling, start_s=float(start))

    async def _act(self, loop: LoopSpec, body: dict[str, Any]) -> None:
        state = await asyncio.to_thread(self.state, loop)
        autonomous = loop.mode == "auto" and state.enabled
        if loop.mode == "recommend" or (loop.mode == "auto" and not state.enabled):
            body["decision"] = "recommended" if body.get("changes") else "unchanged"
            if loop.mode == "auto":
                body["reasons"].append("autonomy is off: " + (state.suspended_reason or "not enabled yet"))
            return
        history = await asyncio.to_thread(self._history, loop, state)
        if autonomous:
            stop = history.refusal or (
                f"{history.failures} setpoint commands in a row failed or expired"
                if history.failures >= loop.max_failures else None) or (
                None if body["fresh"] else f"no air temperature or power measured in the last "
                                           f"{loop.max_input_age_s / 60:.0f} min")
            if history.failures != state.failures:
                await asyncio.to_thread(self._put_failures, loop, history.failures)
            if stop is not None:
                await asyncio.to_thread(self._suspend, loop, stop)
                body["decision"] = "suspended"
                body["reasons"].append(f"autonomy suspended: {stop}")
                return
        if not body.get("changes"):
            body["decision"] = "unchanged"
            return
        if history.open:
            body["decision"] = "waiting"
            body["reasons"].append(f"commands of an earlier decision are still open: {', '.join(history.open)}")
            return
        approvals = 0 if autonomous and body["confidence"]["confident"] else 1
        await self._send(loop, body, approvals, autonomous)

    async def _send(self, loop: LoopSpec, body: dict[str, Any], approvals: int, autonomous: bool) -> None:
        assert self.commands is not None
        cur, new = body["current"], body["proposed"]
        pairs = [(loop.commands.heating, new["heatingSetpoint"], cur["heatingSetpoint"]),
                 (loop.commands.cooling, new["coolingSetpoint"], cur["coolingSetpoint"])]
        if new["coolingSetpoint"] > cur["coolingSetpoint"]:  # widen first: the zone keeps the pair min_gap apart
            pairs.reverse()
        moves = [(name, value) for name, value, was in pairs if value != was]
        ctx = Context.new(actor=f"loop:{loop.name}")
        for i, (name, value) in enumerate(moves):
            if autonomous and not (await asyncio.to_thread(self.state, loop)).enabled:
                body["decision"] = "suspended"  # disabled (or suspended) while this decision ran: stop here
                body["reasons"].append("autonomy was turned off during the decision")
                return
            lease = loop.lease_s if autonomous and approvals == 0 else None  # a person's approval: theirs, kept
            try:
                cmd, _ = await self.commands.request(self.tenant, loop.twin, name, value, ctx.child(),
                                                     min_approvals=approvals, lease_s=lease)
            except GuardRefusedError as exc:
                body["commands"].append({"command": name, "value": value, "state": "refused",
                                         "reason": exc.message})
                body["decision"] = "refused"
                if autonomous:
                    await asyncio.to_thread(self._suspend, loop, f"a guard refused {name}: {exc.message}")
                    body["reasons"].append("autonomy suspended: a guard refused the command")
                return
            except TvillingError as exc:
                body["commands"].append({"command": name, "value": value, "state": "refused", "reason": exc.message})
                body["decision"] = "failed"
                return
            body["commands"].append({"id": cmd.id, "command": name, "value": value, "state": cmd.state.value})
            if approvals == 0 and i + 1 < len(moves):
                final = await self._await_answer(cmd.id)
                body["commands"][-1]["state"] = final.value
                if final is not CommandState.ACKED:
                    body["decision"] = "failed"
                    return
        body["decision"] = "awaiting approval" if approvals else "sent"

    async def _await_answer(self, command_id: str) -> CommandState:
        assert self.commands is not None
        deadline = time.monotonic() + self.ack_wait_s
        while True:
            cmd = await asyncio.to_thread(self.commands.get, self.tenant, command_id)
            if cmd.state not in OPEN_STATES or time.monotonic() > deadline:
                return cmd.state
            await asyncio.sleep(0.05)

    def _history(self, loop: LoopSpec, state: LoopState) -> _CommandHistory:
        """The loop's own recent commands to its twin (actor ``loop:<name>``): which are still open; and, since
        autonomy was last enabled, among those it sent without an approval (newest first, until one was
        acknowledged), how many in a row failed or expired, and whether one was refused at dispatch (a guard) or
        canceled (the kill switch). Commands that waited for a person are a person's decision, not a device's."""
        with self.services.store.read() as tx:
            mine = SqlCommandRepo(tx.conn).by_actor(self.tenant, loop.twin, f"loop:{loop.name}", limit=50)
        result = _CommandHistory(open=[c.id for c in mine if c.state in OPEN_STATES])
        for cmd in mine:
            if state.changed_at is None or cmd.requested_at < state.changed_at:
                break
            if cmd.approvals_required or cmd.state in OPEN_STATES:
                continue
            if cmd.state in REFUSED_STATES and result.refusal is None and result.failures == 0:
                result.refusal = f"{cmd.name} was {cmd.state.value} at dispatch: {cmd.reason or 'no reason given'}"
            elif cmd.state in BAD_STATES:
                result.failures += 1
            elif cmd.state is CommandState.ACKED:
                break
        return result

    def _store(self, loop: LoopSpec, body: dict[str, Any], t: float) -> None:
        now = self.services.clock.now()
        body["createdAt"] = iso(now)
        body.setdefault("decision", "no model")
        event = Event(kind="setpoint.proposed", tenant=self.tenant, subject=loop.twin, time=now,
                      context_id=new_id(), actor=f"loop:{loop.name}",
                      data={k: v for k, v in body.items() if k != "model"})
        with self.services.store.write() as tx:
            repo = SqlSetpointRepo(tx.conn)
            repo.add(self.tenant, _finite(body), datetime.fromtimestamp(t, UTC), now)
            tx.events.append([event])
            self._stored += 1
            if self._stored % PRUNE_EVERY == 0:  # bounded: the newest KEEP_PROPOSALS per loop stay
                repo.prune(self.tenant, loop.name, KEEP_PROPOSALS)
        self.services.bus.publish([event])

    # -- supervisory leases (C-13) --------------------------------------------------------------------------
    async def keep_leases(self, sleep: Any = None) -> None:
        """Renew each leased loop's lease every quarter lease while its autonomy is on; release it when autonomy
        goes off or a kill switch covers its twin. Starts by releasing (a lease from before a restart may still be
        live on the device). A change of autonomy wakes it at once (``_wake``), so a disable or a suspension releases
        within moments, not at the next tick. Runs until cancelled; a failed renewal is logged and retried next tick
        (the device falls back if it never gets one); no loop's renewal waits longer than its own quarter lease."""
        loops = [loop for loop in self.config.loops if loop.lease_s is not None]
        if not loops:
            return
        held = {loop.name: True for loop in loops}
        tick = min(loop.lease_s or 0.0 for loop in loops) / 4
        self._wake = asyncio.Event()

        last_error: dict[str, str] = {}

        async def keep(loop: LoopSpec) -> None:
            try:
                held[loop.name] = await asyncio.wait_for(self.keep_lease(loop, held[loop.name]),
                                                         timeout=max(0.5, (loop.lease_s or 0.0) / 4))
                if last_error.pop(loop.name, None) is not None:
                    log.info("setpoint loop %s: lease messages go out again", loop.name)
            except Exception as exc:  # a broker or database outage: the device falls back, nothing piles up
                text = str(exc) or type(exc).__name__
                # once per new reason, not every tick (a server without a broker would log it every few seconds)
                level = logging.DEBUG if last_error.get(loop.name) == text else logging.WARNING
                last_error[loop.name] = text
                log.log(level, "setpoint loop %s: lease not renewed: %s", loop.name, text)

        while True:
            await asyncio.gather(*(keep(loop) for loop in loops))
            if sleep is not None:
                await sleep(tick)
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=tick)
            self._wake.clear()

    async def keep_lease(self, loop: LoopSpec, held: bool) -> bool:
        """One tick for one loop: renew, release or stay quiet. Returns whether the lease may still be held."""
        assert self.commands is not None and loop.lease_s is not None
        state = await asyncio.to_thread(self.state, loop)
        holder = f"loop:{loop.name}"
        if state.enabled and self.started:
            # Fail closed: a kill switch that cannot be read raises here, and nothing is renewed.
            switch = await asyncio.to_thread(self.commands.kill_switch_for, self.tenant, loop.twin)
            if switch is None:
                await self._tell(loop, holder, loop.lease_s)
                return True
            why = "a kill switch covers the twin"
        else:
            why = "autonomy is off"
        if held:
            # A release, not silence: the device falls back now, and MQTT's in-order delivery puts it after any
            # renewal the broker still held back (a QoS 1 publish paho re-sent after a reconnect).
            await self._tell(loop, holder, 0.0)
            log.info("setpoint loop %s: lease released (%s)", loop.name, why)
        return False

    async def _tell(self, loop: LoopSpec, holder: str, lease_s: float) -> None:
        assert self.commands is not None
        told = await self.commands.renew_leases(self.tenant, loop.twin, [loop.commands.heating,
                                                                        loop.commands.cooling], holder, lease_s)
        if told == 0:
            raise CommandSendError(f"no running transport carries leases for {loop.twin}'s setpoint commands")

    def _wake_keeper(self) -> None:
        """From any thread: autonomy changed, so the lease keeper should act now."""
        wake, loop = self._wake, self._loop
        if wake is not None and loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(wake.set)

    # -- autonomy state -------------------------------------------------------------------------------------
    def state(self, loop: LoopSpec) -> LoopState:
        """The stored autonomy state; a loop never enabled has none (off, changed by nobody)."""
        with self.services.store.read() as tx:
            found = SqlSetpointRepo(tx.conn).state(self.tenant, loop.name)
        return found or LoopState(loop.name, False, None, None, None)

    def _put_failures(self, loop: LoopSpec, failures: int) -> None:
        with self.services.store.write() as tx:
            repo = SqlSetpointRepo(tx.conn)
            old = repo.state(self.tenant, loop.name)
            if old is not None and old.enabled:
                repo.put(self.tenant, LoopState(old.name, old.enabled, old.suspended_reason, old.changed_at,
                                                old.changed_by, failures))

    def _suspend(self, loop: LoopSpec, reason: str) -> None:
        self._set_state(loop, enabled=False, reason=reason, actor=f"loop:{loop.name}", action="setpoint.suspended",
                        only_if_enabled=True)

    def _set_state(self, loop: LoopSpec, *, enabled: bool, reason: str | None, actor: str, action: str,
                   only_if_enabled: bool = False) -> bool:
        now = self.services.clock.now()
        with self.services.store.write() as tx:
            SqlAuditRepo(tx.conn).lock(self.tenant)  # the audit head first, as in every audited transaction
            repo = SqlSetpointRepo(tx.conn)
            old = repo.state(self.tenant, loop.name)
            if only_if_enabled and (old is None or not old.enabled):
                return False
            repo.put(self.tenant, LoopState(loop.name, enabled, reason, now, actor, 0))
            SqlAuditRepo(tx.conn).append(self.tenant, [AuditEntry(
                "setpoint", action, loop.twin, actor, now,
                {"loop": loop.name, "mode": loop.mode, "enabled": enabled, "reason": reason})])
            event = Event(kind=action, tenant=self.tenant, subject=loop.twin, time=now, context_id=new_id(),
                          actor=actor, data={"loop": loop.name, "enabled": enabled, "reason": reason})
            tx.events.append([event])
        self.services.bus.publish([event])
        self._wake_keeper()
        if not enabled:
            log.warning("setpoint loop %s: autonomy off (%s)", loop.name, reason)
        return True

    def enable(self, tenant: str, name: str, actor: str) -> dict[str, Any]:
        loop = self._loop_of(tenant, name)
        if not self.started:
            raise UnavailableError("the setpoint loops are starting (a start turns autonomy off first)", where=name,
                                   hint="try again in a moment")
        if loop.mode != "auto":
            raise ConflictError(f"setpoint loop {name!r} is in {loop.mode} mode: there is no autonomy to enable",
                                where=name, hint="set mode: auto in setpoints.yaml and restart to let it act")
        problems = self._lease_problems(loop)
        if problems:  # its autonomous commands would all be refused: a lease no transport of theirs carries
            raise ConflictError(f"setpoint loop {name!r} cannot act: {problems[0].message}", where=name,
                                hint=problems[0].hint)
        self._set_state(loop, enabled=True, reason=None, actor=actor, action="setpoint.enabled")
        return self.describe(tenant, name)

    def disable(self, tenant: str, name: str, actor: str, reason: str = "") -> dict[str, Any]:
        loop = self._loop_of(tenant, name)
        if loop.mode != "auto":
            raise ConflictError(f"setpoint loop {name!r} is in {loop.mode} mode: it has no autonomy to disable",
                                where=name, hint="a recommend loop sends nothing; an approve loop waits for people")
        self._set_state(loop, enabled=False, reason=f"disabled by {actor}" + (f": {reason}" if reason else ""),
                        actor=actor, action="setpoint.disabled")
        return self.describe(tenant, name)

    def _loop_of(self, tenant: str, name: str) -> LoopSpec:
        loop = self.config.get(name) if tenant == self.tenant else None  # other tenants' loops do not exist
        if loop is None:
            raise NotFoundError(f"setpoint loop {name!r} does not exist", where=name,
                                hint="GET /api/v1/setpoint-loops lists the loops of setpoints.yaml")
        return loop

    def check(self) -> list[Problem]:
        """Every loop against the command mappings and the twins now (every problem at once)."""
        return [p for loop in self.config.loops for p in self._problems(loop)]

    def _problems(self, loop: LoopSpec) -> list[Problem]:
        problems: list[Problem] = []
        where = f"setpoints.yaml: {loop.name}"
        with self.services.store.read() as tx:
            if tx.twins.get(self.tenant, loop.twin) is None:
                return [Problem(f"twin {loop.twin!r} does not exist in tenant {self.tenant!r}", where)]
        if loop.mode != "recommend":
            for name in (loop.commands.heating, loop.commands.cooling):
                if self.commands is None or self.commands.mappings.get(self.tenant, loop.twin, name) is None:
                    problems.append(Problem(f"command {name!r} of {loop.twin} is not mapped in commands.yaml", where,
                                            hint="map it, or use mode: recommend"))
        return problems + self._lease_problems(loop)

    def _lease_problems(self, loop: LoopSpec) -> list[Problem]:
        """A leased loop's mapped commands must go over a transport that carries leases."""
        if loop.lease_s is None or self.commands is None:
            return []
        out = []
        for name in (loop.commands.heating, loop.commands.cooling):
            mapping = self.commands.mappings.get(self.tenant, loop.twin, name)
            if mapping is not None and not self.commands.carries_leases(mapping.target.transport):
                out.append(Problem(f"command {name!r} of {loop.twin} goes over {mapping.target.transport}, which "
                                   "carries no supervisory lease", f"setpoints.yaml: {loop.name}",
                                   hint="map it to an MQTT topic, or drop lease_s"))
        return out

    # -- reads ----------------------------------------------------------------------------------------------
    def describe(self, tenant: str, name: str) -> dict[str, Any]:
        loop = self._loop_of(tenant, name)
        state = self.state(loop)
        last = self.proposals(tenant, name, limit=1)
        return {"name": loop.name, "twin": loop.twin, "mode": loop.mode, "band": loop.band.model_dump(),
                "margin": loop.margin, "periodS": loop.period_s, "leaseS": loop.lease_s,
                "autonomy": state.as_dict() if loop.mode == "auto" else None,
                "last": last[0] if last else None}

    def list_loops(self, tenant: str) -> list[dict[str, Any]]:
        if tenant != self.tenant:
            return []
        return [self.describe(tenant, loop.name) for loop in self.config.loops]

    def proposals(self, tenant: str, name: str, *, limit: int = 50,
                  before: tuple[datetime, str] | None = None) -> list[dict[str, Any]]:
        self._loop_of(tenant, name)
        with self.services.store.read() as tx:
            return SqlSetpointRepo(tx.conn).proposals(tenant, name, limit=limit, before=before)


def summary(engine: Any, tenant: str) -> dict[str, Any]:
    """Per loop, for the demo summary: its decisions by kind."""
    with engine.connect() as conn:
        counts = SqlSetpointRepo(conn).decision_counts(tenant)
    return {loop: {"decisions": by_kind} for loop, by_kind in counts.items()}


def _finite(value: Any) -> Any:
    """JSON without NaN/Infinity (the proposal's figures can be undefined)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def build_setpoint_service(services: Any, settings: Any, commands: CommandService | None) -> SetpointLoopService:
    """Called by bootstrap (sync): a broken ``setpoints.yaml`` stops the start, and the API has the service at
    once; :func:`run_setpoint_loops` then runs its decisions."""
    path = site_file(settings, "setpoints_file", "setpoints.yaml")
    config = load_config(path) if path else SetpointConfig()
    return SetpointLoopService(services, commands, config)


async def run_setpoint_loops(platform: Any) -> None:
    """Background factory for ``bootstrap.BACKGROUND``: runs until cancelled."""
    service: SetpointLoopService | None = getattr(platform.app.state, "setpoints", None)
    if service is None or not service.config.loops:
        log.info("setpoint loops: no setpoints.yaml beside the mappings; no loops")
        return
    suspended = await asyncio.to_thread(service.on_start)
    for name in suspended:
        log.warning("setpoint loop %s: %s", name, RESTART_REASON)
    # Twins may be created after start-up (a site loaded later): reported, not fatal, here; `tvilling demo` refuses.
    for problem in await asyncio.to_thread(service.check):
        log.warning("%s: %s", problem.where, problem.message)
    service.attach()
    keeper = asyncio.create_task(service.keep_leases(), name="setpoint-leases")
    try:
        await service.run()
    finally:
        keeper.cancel()
        service.detach()
