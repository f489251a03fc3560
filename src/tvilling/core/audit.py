"""The tamper-evident audit trail: records chained by SHA-256, and the check that finds the first broken link.

Each tenant has one chain. Record ``n`` stores the canonical JSON text of its content (position, tenant, time,
actor, category, action, subject, detail) and ``hash = SHA-256(prev_hash + "\\n" + text)`` with ``prev_hash`` the
hash of record ``n - 1`` (64 zeros for the first). Changing, deleting, inserting or reordering any stored record
breaks the chain at that position, and :func:`verify` names it. The chain proves the trail was not edited after
the fact by someone without the means to rewrite every later hash; an export of the head hash kept elsewhere
(``GET /api/v1/audit/verify`` prints it) closes that gap too.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

GENESIS = "0" * 64


def iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """What happened, before it has a place in the chain."""

    category: str  # "command", "approval", "killswitch", "guard", ...
    action: str  # e.g. "command.requested", "approval.denied", "killswitch.engaged"
    subject: str  # the command id, twin id or scope it is about
    actor: str
    at: datetime
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """A chained record as stored: position, canonical text, and the hashes."""

    tenant: str
    n: int
    at: datetime
    text: str
    prev_hash: str
    hash: str
    category: str = ""  # the stored query columns, when read from a table: checked against the content
    subject: str = ""

    def content(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.text)
        return data

    def as_dict(self) -> dict[str, Any]:
        c = self.content()
        return {"n": self.n, "at": c.get("at"), "actor": c.get("actor"), "category": c.get("category"),
                "action": c.get("action"), "subject": c.get("subject"), "detail": c.get("detail", {}),
                "prevHash": self.prev_hash, "hash": self.hash}


def _plain(value: Any) -> Any:
    """JSON-safe without loss of meaning: a non-finite number (a device may answer NaN) becomes its name."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def canonical(tenant: str, n: int, entry: AuditEntry) -> str:
    """The exact text that is hashed and stored (sorted keys, no spaces, ASCII)."""
    return json.dumps({"n": n, "tenant": tenant, "at": iso(entry.at), "actor": entry.actor,
                       "category": entry.category, "action": entry.action, "subject": entry.subject,
                       "detail": _plain(entry.detail)}, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      default=str, allow_nan=False)


def link(prev_hash: str, text: str) -> str:
    return hashlib.sha256(f"{prev_hash}\n{text}".encode()).hexdigest()


def chain(tenant: str, head_n: int, head_hash: str, entries: Iterable[AuditEntry]) -> list[AuditRecord]:
    """The records that extend a chain whose last record is (``head_n``, ``head_hash``)."""
    out: list[AuditRecord] = []
    n, prev = head_n, head_hash
    for entry in entries:
        n += 1
        text = canonical(tenant, n, entry)
        h = link(prev, text)
        out.append(AuditRecord(tenant, n, entry.at, text, prev, h))
        prev = h
    return out


@dataclass(frozen=True, slots=True)
class Verification:
    ok: bool
    records: int
    head_n: int
    head_hash: str
    first_bad: int | None = None  # the position of the first record that does not check
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"ok": self.ok, "records": self.records, "headN": self.head_n,
                               "headHash": self.head_hash}
        if not self.ok:
            out["firstBad"] = self.first_bad
            out["reason"] = self.reason
        return out


class ChainChecker:
    """Checks records in order, one at a time (so a long chain is verified in pages, in constant memory)."""

    def __init__(self, tenant: str, head_n: int = 0, head_hash: str = GENESIS) -> None:
        self.tenant = tenant
        self.n, self.hash = head_n, head_hash
        self.count = 0
        self.bad: tuple[int, str] | None = None

    def feed(self, record: AuditRecord) -> bool:
        """False (and ``bad`` set) at the first record that breaks the chain; later records are not checked."""
        if self.bad is not None:
            return False
        expected = self.n + 1
        problem = self._problem(record, expected)
        if problem:
            self.bad = (expected, problem)
            return False
        self.n, self.hash = record.n, record.hash
        self.count += 1
        return True

    def _problem(self, record: AuditRecord, expected: int) -> str:
        if record.n != expected:
            return (f"record {expected} is missing (the next stored record is {record.n})" if record.n > expected
                    else f"record {record.n} appears out of order after {self.n}")
        if record.prev_hash != self.hash:
            return f"record {record.n} does not link to record {record.n - 1} (prev_hash differs)"
        if link(record.prev_hash, record.text) != record.hash:
            return f"record {record.n} was changed after it was written (its hash does not match its content)"
        try:
            content = record.content()
        except ValueError:
            return f"record {record.n} is not valid JSON"
        if content.get("n") != record.n or content.get("tenant") != record.tenant:
            return f"record {record.n} was moved (its content names another position or tenant)"
        if content.get("at") != iso(record.at):
            return f"record {record.n}'s time column was changed (content says {content.get('at')})"
        if record.category and content.get("category", "")[:32] != record.category:
            return f"record {record.n}'s category column was changed (content says {content.get('category')})"
        if record.subject and str(content.get("subject", ""))[:512] != record.subject:
            return f"record {record.n}'s subject column was changed (content says {content.get('subject')})"
        return ""

    def result(self) -> Verification:
        if self.bad is not None:
            return Verification(False, self.count, self.n, self.hash, self.bad[0], self.bad[1])
        return Verification(True, self.count, self.n, self.hash)

    def check_head(self, head_n: int, head_hash: str) -> None:
        """The stored head must be the last record checked (records cut off at the end show here)."""
        if self.bad is None and (head_n, head_hash) != (self.n, self.hash):
            self.bad = (self.n + 1, f"the chain's head says record {head_n} but the trail ends at record {self.n}")


def verify(tenant: str, records: Iterable[AuditRecord], head: tuple[int, str] | None = None) -> Verification:
    checker = ChainChecker(tenant)
    for r in records:
        if not checker.feed(r):
            break
    if head is not None:
        checker.check_head(*head)
    return checker.result()
