"""Kill switches on one connection: engaged scopes per tenant ("*" = the whole tenant, else a twin id)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select

from tvilling.adapters.sql.repos import aware
from tvilling.adapters.sql.schema_commands import kill_switches

TENANT_WIDE = "*"


@dataclass(frozen=True, slots=True)
class KillSwitch:
    scope: str
    engaged_at: datetime
    actor: str
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"scope": self.scope, "engagedAt": self.engaged_at.isoformat().replace("+00:00", "Z"),
                "actor": self.actor, "reason": self.reason}


class SqlKillSwitchRepo:
    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def engaged(self, tenant: str) -> list[KillSwitch]:
        rows = self.conn.execute(select(kill_switches).where(kill_switches.c.tenant == tenant)
                                 .order_by(kill_switches.c.engaged_at))
        return [KillSwitch(r.scope, aware(r.engaged_at), r.actor, r.reason) for r in rows]

    def blocking(self, tenant: str, twin_id: str) -> KillSwitch | None:
        """The switch that stops commands to ``twin_id`` (the tenant-wide one first), or None."""
        rows = self.conn.execute(select(kill_switches).where(
            kill_switches.c.tenant == tenant, kill_switches.c.scope.in_([TENANT_WIDE, twin_id])))
        found = sorted((KillSwitch(r.scope, aware(r.engaged_at), r.actor, r.reason) for r in rows),
                       key=lambda k: k.scope != TENANT_WIDE)
        return found[0] if found else None

    def engage(self, tenant: str, switch: KillSwitch) -> bool:
        """False when that scope was engaged already (the first engagement stays on record)."""
        c = kill_switches.c
        if self.conn.execute(select(c.scope).where(c.tenant == tenant, c.scope == switch.scope)).first():
            return False
        self.conn.execute(insert(kill_switches).values(tenant=tenant, scope=switch.scope, engaged_at=switch.engaged_at,
                                                       actor=switch.actor, reason=switch.reason))
        return True

    def release(self, tenant: str, scope: str) -> KillSwitch | None:
        c = kill_switches.c
        row = self.conn.execute(select(kill_switches).where(c.tenant == tenant, c.scope == scope)).first()
        if row is None:
            return None
        self.conn.execute(delete(kill_switches).where(c.tenant == tenant, c.scope == scope))
        return KillSwitch(row.scope, aware(row.engaged_at), row.actor, row.reason)
