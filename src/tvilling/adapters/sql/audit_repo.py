"""The audit chain on one connection: append inside the caller's transaction, read in pages, verify.

Appending locks the tenant's head row (``SELECT … FOR UPDATE`` on PostgreSQL; SQLite's write transaction is
exclusive already), so two servers appending at once still make one linear chain. The head row is created on the
tenant's first append with ``INSERT … ON CONFLICT DO NOTHING`` so concurrent first appends do not collide.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from tvilling.adapters.sql.repos import aware
from tvilling.adapters.sql.schema_audit import audit_heads, audit_log
from tvilling.core.audit import GENESIS, AuditEntry, AuditRecord, ChainChecker, Verification, chain


class SqlAuditRepo:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def lock(self, tenant: str) -> tuple[int, str]:
        """Lock the tenant's chain head until the transaction ends (created if missing); returns (n, hash).
        Also the lock that orders a kill switch against commands being released to a transport."""
        ins = postgresql.insert(audit_heads) if self.conn.dialect.name == "postgresql" else sqlite.insert(audit_heads)
        self.conn.execute(ins.values(tenant=tenant, n=0, hash=GENESIS).on_conflict_do_nothing())
        stmt = select(audit_heads.c.n, audit_heads.c.hash).where(audit_heads.c.tenant == tenant)
        if self.conn.dialect.name == "postgresql":
            stmt = stmt.with_for_update()
        head = self.conn.execute(stmt).one()
        return int(head.n), head.hash

    def append(self, tenant: str, entries: Sequence[AuditEntry]) -> list[AuditRecord]:
        if not entries:
            return []
        head_n, head_hash = self.lock(tenant)
        records = chain(tenant, head_n, head_hash, entries)
        self.conn.execute(audit_log.insert(), [
            {"tenant": tenant, "n": r.n, "at": r.at, "category": e.category[:32], "action": e.action[:64],
             "subject": e.subject[:512], "text": r.text, "prev_hash": r.prev_hash, "hash": r.hash}
            for r, e in zip(records, entries, strict=True)])
        self.conn.execute(update(audit_heads).where(audit_heads.c.tenant == tenant)
                          .values(n=records[-1].n, hash=records[-1].hash))
        return records

    def head(self, tenant: str) -> tuple[int, str]:
        row = self.conn.execute(select(audit_heads.c.n, audit_heads.c.hash)
                                .where(audit_heads.c.tenant == tenant)).first()
        return (0, GENESIS) if row is None else (int(row.n), row.hash)

    def page(self, tenant: str, *, after: int = 0, limit: int = 100, subject: str | None = None,
             category: str | None = None, newest_first: bool = False) -> list[AuditRecord]:
        c = audit_log.c
        stmt = select(audit_log).where(c.tenant == tenant)
        if subject is not None:
            stmt = stmt.where(c.subject == subject)
        if category is not None:
            stmt = stmt.where(c.category == category)
        if newest_first:
            stmt = stmt.where(c.n < after) if after > 0 else stmt
            stmt = stmt.order_by(c.n.desc())
        else:
            stmt = stmt.where(c.n > after).order_by(c.n)
        return [AuditRecord(r.tenant, int(r.n), aware(r.at), r.text, r.prev_hash, r.hash, r.category, r.subject)
                for r in self.conn.execute(stmt.limit(limit))]

    def records(self, tenant: str, page_size: int = 2_000, upto: int | None = None) -> Iterator[AuditRecord]:
        after = 0
        while True:
            batch = self.page(tenant, after=after, limit=page_size)
            if upto is not None:
                batch = [r for r in batch if r.n <= upto]
            yield from batch
            if len(batch) < page_size:
                return
            after = batch[-1].n

    def verify(self, tenant: str) -> Verification:
        """Check the chain of ``tenant`` up to the head read first (records appended meanwhile, under READ
        COMMITTED, are not a false alarm), in pages (constant memory), then that the head is where it ends."""
        head = self.head(tenant)
        checker = ChainChecker(tenant)
        for record in self.records(tenant, upto=head[0]):
            if not checker.feed(record):
                break
        checker.check_head(*head)
        return checker.result()

    def tenants(self) -> list[str]:
        return [r[0] for r in self.conn.execute(select(audit_heads.c.tenant).order_by(audit_heads.c.tenant))]
