"""Commands and their transitions on one connection. Every statement names the tenant (promise G7), except the
expiry sweep's scan, which is a maintenance query over all tenants and returns (tenant, id) pairs only."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.engine import Connection, Row

from tvilling.adapters.sql.repos import aware
from tvilling.adapters.sql.schema_commands import command_approvals, command_transitions, commands
from tvilling.core.commands import TERMINAL, Approval, Command, CommandState, Transition
from tvilling.core.context import Context

_OPEN = [s.value for s in CommandState if s not in TERMINAL]
# The payload is stored wrapped, {"value": …}: a bare JSON number in a SQLite column of declared type JSON gets
# NUMERIC affinity and comes back as a number, not as JSON text.


class SqlCommandRepo:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def get(self, tenant: str, command_id: str, *, for_update: bool = False) -> tuple[Command, str] | None:
        """The command with its full history, and its request digest."""
        stmt = select(commands).where(commands.c.tenant == tenant, commands.c.id == command_id)
        if for_update and self.conn.dialect.name == "postgresql":
            stmt = stmt.with_for_update()
        row = self.conn.execute(stmt).first()
        if row is None:
            return None
        steps = self._history(tenant, [command_id]).get(command_id, [])
        approvals = self._approvals(tenant, [command_id]).get(command_id, [])
        return _command(row, steps, approvals), row.request_digest

    def insert(self, cmd: Command, digest: str) -> None:
        ctx = cmd.context
        self.conn.execute(insert(commands).values(
            tenant=cmd.tenant, id=cmd.id, twin_id=cmd.twin_id, name=cmd.name, payload={"value": cmd.payload},
            state=cmd.state.value, reason=cmd.reason, transport=cmd.transport, requested_at=cmd.requested_at,
            expires_at=cmd.expires_at, updated_at=cmd.history[-1].at, context_id=ctx.id, parent_id=ctx.parent_id,
            actor=ctx.actor, request_digest=digest, approvals_required=cmd.approvals_required,
            timeout_s=cmd.timeout_s, lease_s=cmd.lease_s))
        self._append(cmd, cmd.history)

    def save(self, cmd: Command, new_steps: Sequence[Transition], new_approvals: Sequence[Approval] = ()) -> None:
        """Write the current state and append ``new_steps`` (the transitions since the last save) and
        ``new_approvals``."""
        at = new_steps[-1].at if new_steps else new_approvals[-1].at
        self.conn.execute(update(commands).where(commands.c.tenant == cmd.tenant, commands.c.id == cmd.id)
                          .values(state=cmd.state.value, reason=cmd.reason, updated_at=at,
                                  expires_at=cmd.expires_at))
        self._append(cmd, new_steps)
        if new_approvals:
            self.conn.execute(insert(command_approvals), [
                {"tenant": cmd.tenant, "command_id": cmd.id, "actor": a.actor, "at": a.at} for a in new_approvals])

    def list_by_state(self, tenant: str, states: Sequence[CommandState], limit: int = 100) -> list[Command]:
        """Commands of the tenant in ``states``, oldest first (an approval queue)."""
        stmt = (select(commands).where(commands.c.tenant == tenant, commands.c.state.in_([s.value for s in states]))
                .order_by(commands.c.requested_at, commands.c.id).limit(limit))
        return self._full(tenant, list(self.conn.execute(stmt)))

    def open_ids(self, tenant: str, twin_id: str | None) -> list[str]:
        """Commands not yet handed to a device (pending approval or requested), in one twin or the whole tenant."""
        stmt = select(commands.c.id).where(
            commands.c.tenant == tenant,
            commands.c.state.in_([CommandState.PENDING_APPROVAL.value, CommandState.REQUESTED.value]))
        if twin_id is not None:
            stmt = stmt.where(commands.c.twin_id == twin_id)
        return [r[0] for r in self.conn.execute(stmt)]

    def count_sent_since(self, tenant: str, twin_id: str, name: str, since: datetime) -> int:
        """Commands of this kind to this twin that went ``sent`` at or after ``since`` (the rate at dispatch)."""
        c, t = commands.c, command_transitions.c
        stmt = select(func.count()).select_from(command_transitions.join(
            commands, and_(commands.c.tenant == t.tenant, commands.c.id == t.command_id))).where(
            c.tenant == tenant, c.twin_id == twin_id, c.name == name, t.state == CommandState.SENT.value,
            t.at >= since, t.late.is_(False))
        return int(self.conn.execute(stmt).scalar_one())

    def count_since(self, tenant: str, twin_id: str, name: str, since: datetime) -> int:
        """Commands of this kind to this twin requested at or after ``since`` (the rate guard), in any state."""
        c = commands.c
        stmt = select(func.count()).select_from(commands).where(
            c.tenant == tenant, c.twin_id == twin_id, c.name == name, c.requested_at >= since)
        return int(self.conn.execute(stmt).scalar_one())

    def list_for_twin(self, tenant: str, twin_id: str, *, after: tuple[datetime, str] | None = None,
                      limit: int = 100) -> list[Command]:
        """Newest first; ``after`` is the (requested_at, id) of the last item of the previous page."""
        stmt = select(commands).where(commands.c.tenant == tenant, commands.c.twin_id == twin_id)
        if after is not None:
            at, cid = after
            stmt = stmt.where(or_(commands.c.requested_at < at,
                                  and_(commands.c.requested_at == at, commands.c.id < cid)))
        rows = list(self.conn.execute(stmt.order_by(commands.c.requested_at.desc(), commands.c.id.desc())
                                      .limit(limit)))
        return self._full(tenant, rows)

    def by_actor(self, tenant: str, twin_id: str, actor: str, limit: int = 50) -> list[Command]:
        """One requester's commands to one twin, newest first (a setpoint loop's own commands)."""
        stmt = (select(commands).where(commands.c.tenant == tenant, commands.c.twin_id == twin_id,
                                       commands.c.actor == actor)
                .order_by(commands.c.requested_at.desc(), commands.c.id.desc()).limit(limit))
        return self._full(tenant, list(self.conn.execute(stmt)))

    def _full(self, tenant: str, rows: list[Row[Any]]) -> list[Command]:
        ids = [r.id for r in rows]
        history = self._history(tenant, ids)
        approvals = self._approvals(tenant, [r.id for r in rows if r.approvals_required])
        return [_command(r, history.get(r.id, []), approvals.get(r.id, [])) for r in rows]

    def due(self, now: datetime, limit: int = 500) -> list[tuple[str, str, str]]:
        """Open commands whose deadline has passed, oldest deadline first: (tenant, id, state)."""
        stmt = (select(commands.c.tenant, commands.c.id, commands.c.state)
                .where(commands.c.state.in_(_OPEN), commands.c.expires_at <= now)
                .order_by(commands.c.expires_at).limit(limit))
        return [(r.tenant, r.id, r.state) for r in self.conn.execute(stmt)]

    def _append(self, cmd: Command, steps: Sequence[Transition]) -> None:
        if steps:
            self.conn.execute(insert(command_transitions), [
                {"tenant": cmd.tenant, "command_id": cmd.id, "state": s.state.value, "at": s.at,
                 "reason": s.reason, "detail": s.detail, "late": s.late} for s in steps])

    def _approvals(self, tenant: str, ids: Sequence[str]) -> dict[str, list[Approval]]:
        out: dict[str, list[Approval]] = {}
        if not ids:
            return out
        c = command_approvals.c
        stmt = (select(command_approvals).where(c.tenant == tenant, c.command_id.in_(list(ids))).order_by(c.at))
        for r in self.conn.execute(stmt):
            out.setdefault(r.command_id, []).append(Approval(r.actor, aware(r.at)))
        return out

    def _history(self, tenant: str, ids: Sequence[str]) -> dict[str, list[Transition]]:
        out: dict[str, list[Transition]] = {}
        if not ids:
            return out
        stmt = (select(command_transitions)
                .where(command_transitions.c.tenant == tenant, command_transitions.c.command_id.in_(list(ids)))
                .order_by(command_transitions.c.seq))
        for r in self.conn.execute(stmt):
            out.setdefault(r.command_id, []).append(
                Transition(CommandState(r.state), aware(r.at), r.reason, dict(r.detail or {}), bool(r.late)))
        return out


def _command(row: Row[Any], steps: list[Transition], approvals: list[Approval]) -> Command:
    payload = row.payload.get("value") if isinstance(row.payload, dict) else row.payload
    return Command(id=row.id, tenant=row.tenant, twin_id=row.twin_id, name=row.name, payload=payload,
                   requested_at=aware(row.requested_at), expires_at=aware(row.expires_at),
                   context=Context(id=row.context_id, parent_id=row.parent_id, actor=row.actor),
                   transport=row.transport, state=CommandState(row.state), reason=row.reason,
                   history=tuple(steps), digest=row.request_digest, approvals_required=int(row.approvals_required),
                   approvals=tuple(approvals), timeout_s=row.timeout_s, lease_s=row.lease_s)
