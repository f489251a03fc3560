"""The audit chain as pure functions: canonical text, linking, and the first broken record named."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from tvilling.core.audit import GENESIS, AuditEntry, chain, link, verify

T0 = datetime(2026, 6, 1, tzinfo=UTC)


def entries(n: int) -> list[AuditEntry]:
    return [AuditEntry("command", "command.sent", f"c{i}", "system", T0 + timedelta(seconds=i), {"i": i, "x": 0.1})
            for i in range(n)]


def test_a_chain_verifies_and_continues() -> None:
    first = chain("t", 0, GENESIS, entries(3))
    more = chain("t", first[-1].n, first[-1].hash, entries(2))
    records = first + more
    assert [r.n for r in records] == [1, 2, 3, 4, 5] and records[0].prev_hash == GENESIS
    assert all(link(r.prev_hash, r.text) == r.hash for r in records)
    result = verify("t", records, head=(5, records[-1].hash))
    assert result.ok and result.records == 5 and result.as_dict()["headHash"] == records[-1].hash
    assert records[0].as_dict()["detail"] == {"i": 0, "x": 0.1} and '"tenant":"t"' in records[0].text


def test_each_kind_of_tampering_is_found_at_its_position() -> None:
    records = chain("t", 0, GENESIS, entries(5))
    edited = [*records[:2], replace(records[2], text=records[2].text.replace("c2", "c9")), *records[3:]]
    assert (verify("t", edited).first_bad, "changed" in verify("t", edited).reason) == (3, True)
    rehashed = replace(records[2], text=records[2].text.replace("c2", "c9"))
    rehashed = replace(rehashed, hash=link(rehashed.prev_hash, rehashed.text))  # rewritten, but the next link breaks
    assert verify("t", [*records[:2], rehashed, *records[3:]]).first_bad == 4
    assert verify("t", [*records[:1], *records[2:]]).first_bad == 2  # deleted
    assert verify("t", [records[1], records[0], *records[2:]]).first_bad == 1  # reordered
    assert verify("t", records[:4], head=(5, records[4].hash)).first_bad == 5  # cut off at the end
    moved = replace(records[0], tenant="u")
    assert "moved" in verify("u", [moved]).reason
    retimed = replace(records[0], at=T0 + timedelta(hours=1))
    assert "time column" in verify("t", [retimed]).reason
