"""Security events in the audit trail (reliability S-15): every refused authentication and every denied access.

What is recorded: each 401 and 403 the API answers (a missing, malformed, unknown or revoked token; a role that
does not allow the operation; a domain rule such as the two-person rule), each 429 (a token or an address over its
rate), each refused WebSocket handshake and each WebSocket closed for abuse (a message too large, too many
messages), each failed dashboard sign-in, and the denials outside the API (:mod:`tvilling.app.security_events`): a
webhook target refused, an MQTT payload whose ``device_id`` is not the topic's device, an OPC UA connection refused
for its security. A denial by an authenticated caller goes into its tenant's hash chain; a caller that could not be
authenticated has no tenant, so those go into a chain of their own, ``_security`` (not a valid tenant name, so it
never collides with one; read it offline with ``tvilling audit list/verify --database URL --tenant _security``).

Why aggregated: a credential-stuffing scan must not be able to flood the chain (or the database) one row per
request. Denials are counted in memory per (tenant, kind, source address, actor, method, route, status, reason) —
never per anything the caller invents: an unauthenticated caller's claimed token id (a device's claimed id) is kept
only as a sample of up to five per record — and written once per ``window_s`` as one record carrying the ``count``
and the first and last time, with an event id; the sum of ``count`` over the chain equals the number of denials
answered (nothing is dropped: past ``max_groups`` distinct groups in one window, the rest are counted together under
a catch-all group). A crash loses at most the current window (by default one second) of these records.

An error raised on purpose can say that it is a security denial: ``extra[MARK]`` names its action (see
:func:`denial_action`), and the boundary that answers it (the API's error handler, a dashboard page) counts it with
what it knows of the caller. Errors that are 401/403 by their type need no mark.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from tvilling.adapters.sql.audit_repo import SqlAuditRepo
from tvilling.core.audit import AuditEntry
from tvilling.core.context import new_id
from tvilling.ports.documents import iso

log = logging.getLogger(__name__)

SECURITY_TENANT = "_security"
CATEGORY = "security"
SAMPLE_IDS = 5  # claimed token ids kept per record (the key must not be the attacker's choice)
MARK = "security"  # TvillingError.extra key: the audit action of an error that is a security denial
# The detail key of the claimed-id samples, by action (a device claims a device id, everyone else a token id).
CLAIMED_KEY = {"mqtt.identity_refused": "claimedDeviceIds"}


@dataclass(frozen=True, slots=True)
class Denial:
    action: str  # auth.failed | access.denied | rate.limited | websocket.refused | websocket.closed | ... (docs)
    tenant: str  # the caller's tenant, or SECURITY_TENANT when the caller is not known
    source: str  # client address (the peer: a webhook's host, an OPC UA server's URL)
    actor: str  # "token:<id>" of an authenticated caller, "system" for the platform's own clients, else "anonymous"
    method: str
    path: str
    status: int  # the HTTP status answered; outside HTTP the nearest one (the protocol's own code in the reason)
    reason: str
    claimed: str = field(default="", compare=False)  # the id an unauthenticated caller claimed (not grouped on)


class SecurityAudit:
    """Thread-safe: ``record`` is called from the event loop and from worker threads, ``flush`` from one task."""

    def __init__(self, store: Any, clock: Any, *, window_s: float = 1.0, max_groups: int = 1_000) -> None:
        self._store = store
        self._clock = clock
        self.window_s = window_s
        self.max_groups = max_groups
        self._lock = threading.Lock()
        self._groups: dict[Denial, list[Any]] = {}  # denial -> [count, first, last]
        self.recorded = 0  # denials counted since start
        self.written = 0  # audit records written

    def record(self, denial: Denial, count: int = 1) -> None:
        """Count ``count`` denials alike (a batch of refused messages is one call)."""
        now = self._clock.now()
        with self._lock:
            self.recorded += count
            key = denial
            if key not in self._groups and len(self._groups) >= self.max_groups:
                key = Denial(denial.action, denial.tenant, "*", "*", "*", "*", denial.status,
                             "more distinct denials in one window than are recorded one by one")
            group = self._groups.get(key)
            if group is None:
                group = self._groups[key] = [0, now, now, set()]
            group[0] += count
            group[2] = now
            if denial.claimed and len(group[3]) < SAMPLE_IDS:
                group[3].add(denial.claimed)

    def flush(self) -> int:
        """Write what was counted since the last flush; returns the records written. On a store error the counts
        are put back and written with the next window."""
        with self._lock:
            groups, self._groups = self._groups, {}
        if not groups:
            return 0
        by_tenant: dict[str, list[AuditEntry]] = {}
        for d, (count, first, last, claimed) in groups.items():
            detail = {"count": count, "first": iso(first), "last": iso(last), "source": d.source,
                      "method": d.method, "path": d.path, "status": d.status, "reason": d.reason, "result": "denied",
                      "eventId": new_id()}
            if claimed:
                detail[CLAIMED_KEY.get(d.action, "claimedTokenIds")] = sorted(claimed)
            by_tenant.setdefault(d.tenant, []).append(AuditEntry(CATEGORY, d.action, d.path, d.actor, first, detail))
        try:
            with self._store.write() as tx:
                audit = SqlAuditRepo(tx.conn)
                for tenant in sorted(by_tenant):  # one lock order for every writer
                    audit.lock(tenant)
                for tenant in sorted(by_tenant):
                    audit.append(tenant, by_tenant[tenant])
        except Exception:
            with self._lock:
                for d, (count, first, last, claimed) in groups.items():
                    group = self._groups.setdefault(d, [0, first, last, set()])
                    group[0] += count
                    group[1] = min(group[1], first)
                    group[2] = max(group[2], last)
                    group[3] |= claimed
            raise
        written = sum(len(v) for v in by_tenant.values())
        self.written += written
        return written

    async def run(self) -> None:
        try:
            while True:
                await asyncio.sleep(self.window_s)
                try:
                    await asyncio.to_thread(self.flush)
                except Exception:  # the store may be briefly down: the counts wait for the next window
                    log.exception("security audit: flush failed; retrying")
        finally:
            try:
                await asyncio.to_thread(self.flush)
            except Exception:
                log.exception("security audit: the last flush failed")


def denial_action(exc: BaseException) -> str | None:
    """The audit action an error was marked with (``extra[MARK]``), or None: not a security denial."""
    extra = getattr(exc, "extra", None)
    action = extra.get(MARK) if isinstance(extra, dict) else None
    return action if isinstance(action, str) else None


def claimed_id(token: str | None) -> str:
    """The id part of a well-formed token (not a secret), else ""."""
    from tvilling.app.auth import TOKEN_RE

    match = TOKEN_RE.match(token or "")
    return match.group(1) if match else ""


async def run_security_audit(platform: Any) -> None:
    """Background factory for ``bootstrap.BACKGROUND``: flushes the counted denials until cancelled."""
    audit: SecurityAudit | None = getattr(platform.app.state, "security", None)
    if audit is not None:
        await audit.run()
