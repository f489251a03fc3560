"""Reading the security audit trail (reliability S-15) in tests: the counted denials are flushed first, then one
chain's ``security`` records are read back, and counts are summed exactly."""

from __future__ import annotations

from typing import Any

from tvilling.adapters.sql.audit_repo import SqlAuditRepo


def security_records(platform: Any, tenant: str) -> list[dict[str, Any]]:
    """The ``security`` records of ``tenant``'s chain, after writing what was counted so far."""
    platform.app.state.security.flush()
    with platform.store.read() as tx:
        return [r.as_dict() for r in SqlAuditRepo(tx.conn).records(tenant) if r.category == "security"]


def denials(records: list[dict[str, Any]], action: str | None = None) -> int:
    """The denials the records count (the sum of their ``count``), of one action or all."""
    return sum(r["detail"]["count"] for r in records if action is None or r["action"] == action)
