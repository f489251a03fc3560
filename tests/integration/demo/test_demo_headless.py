"""`tvilling demo --headless --json`: the platform, the embedded broker and the plant process, end to end.

The summary must agree with the database, which this test reads independently. While the plant runs, the test
also drives line-1 through the line PLC over OPC UA (SignAndEncrypt): its throughput lands from the OPC UA
subscription, and a speed command goes out over OPC UA, is acked, and comes back as the speed readback.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.conftest import PROJECT_ROOT
from tests.support.services import free_port
from tests.support.sql import SAMPLE_POINTS

SITE = PROJECT_ROOT / "examples" / "bottling-plant"
OPCUA_POINTS = ("throughput", "speedSetpoint")  # line-1 points mapped from the PLC's NodeIds (mappings.yaml)
NOT_OPCUA = "NOT (twin_id = 'line-1' AND name IN ('throughput', 'speedSetpoint'))"
# Quarantine rows of those points come from the OPC UA source, or from the store (two values at one source time:
# the PLC's periodic readback and the write's own stamp can share one simulated instant).
OPCUA_QUARANTINE = ("(source = 'opcua' OR (coalesce(twin_id, '') = 'line-1' AND "
                    "coalesce(name, '') IN ('throughput', 'speedSetpoint')))")


def _count(db: Path, sql: str) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute(sql).fetchone()[0])


def _poll(what: str, probe: Callable[[], Any], timeout_s: float) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        got = probe()
        if got:
            return got
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _drive_line_over_opcua(api: str, token: str) -> dict[str, Any]:
    """While the plant runs: OPC UA throughput reaches the twin; set_speed_bpm over OPC UA is acked and read back."""
    with httpx.Client(base_url=api, headers={"Authorization": f"Bearer {token}"}, timeout=10) as http:
        def line() -> dict[str, Any]:
            r = http.get("/twins/line-1")
            return r.json() if r.status_code == 200 else {}

        _poll("line-1 throughput over OPC UA", lambda: line().get("$metadata", {}).get("throughput"), 30)
        r = http.post("/twins/line-1/commands/set_speed_bpm", params={"commandId": "demo-opcua-speed"}, json=450)
        assert r.status_code == 202, r.text
        doc: dict[str, Any] = _poll("the command's outcome", lambda: (
            (d := http.get("/commands/demo-opcua-speed").json())["state"] in ("acked", "failed", "expired") and d), 20)
        assert doc["state"] == "acked", doc
        assert doc["history"][-1]["detail"]["status"] == "Good"  # the PLC's verdict on the setpoint write
        _poll("the speed readback", lambda: line().get("speedSetpoint") == 450.0, 20)
        return doc


def test_headless_demo_summary_matches_database(tmp_path: Path) -> None:
    port = free_port()
    cmd = [sys.executable, "-m", "tvilling.cli.main", "demo", "--headless", "--duration", "12", "--speed", "43200",
           "--step", "300", "--period-scale", "10", "--seed", "3", "--json", "--data-dir", str(tmp_path),
           "--port", str(port)]
    proc = subprocess.Popen(cmd, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    err: list[str] = []
    token_seen = threading.Event()

    def read_stderr() -> None:
        assert proc.stderr is not None
        for ln in proc.stderr:
            err.append(ln)
            if "Token:" in ln:
                token_seen.set()

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    try:
        assert token_seen.wait(60), "".join(err)[-2000:]
        token = next(ln.split("Token:", 1)[1].strip() for ln in err if "Token:" in ln)
        _drive_line_over_opcua(f"http://127.0.0.1:{port}/api/v1", token)
        assert proc.stdout is not None
        out = proc.stdout.read()
        assert proc.wait(timeout=180) == 0, "".join(err)[-2000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reader.join(5)
    summary = json.loads(out.strip().splitlines()[-1])

    expected_keys = {"sim_days", "twins", "points_ingested", "points_quarantined", "anomalies", "work_orders",
                     "faults_injected", "detections", "false_alarms_per_day"}
    assert expected_keys <= summary.keys()

    db = tmp_path / "tvilling.db"
    graph = yaml.safe_load((SITE / "twins.yaml").read_text())
    assert summary["twins"] == len(graph["twins"]) == _count(db, "SELECT count(*) FROM twins")
    both = "SELECT (SELECT count(*) FROM samples) + (SELECT count(*) FROM samples_recent)"  # see adapters/sql/recent.py
    assert summary["points_ingested"] == _count(db, both)
    assert summary["points_quarantined"] == _count(db, "SELECT count(*) FROM quarantine")
    # Every point the plant published over MQTT JSON and Sparkplug B (QoS 1) is accounted for: stored, or
    # quarantined with a reason (NaN readings). Regression: the plant disconnected with a queued backlog and the
    # summary was taken mid-drain. The OPC UA points are a live view (a subscription may skip values), so they are
    # reconciled separately below.
    over_mqtt = summary["points_published"] - summary["points_published_opcua"]
    assert over_mqtt == (_count(db, f"SELECT count(*) FROM {SAMPLE_POINTS} WHERE {NOT_OPCUA}")
                         + _count(db, f"SELECT count(*) FROM quarantine WHERE NOT {OPCUA_QUARANTINE}"))
    # line-1 throughput came over OPC UA (its MQTT JSON pointer is not mapped): some landed, never more than served.
    opcua_throughput = (_count(db, f"SELECT count(*) FROM {SAMPLE_POINTS} WHERE twin_id = 'line-1' "
                                   "AND name = 'throughput'")
                        + _count(db, "SELECT count(*) FROM quarantine WHERE twin_id = 'line-1' "
                                     "AND name = 'throughput'"))
    assert 0 < opcua_throughput <= summary["points_published_opcua"]
    # The OPC UA command changed the PLC's speed setpoint, and the readback history shows both speeds.
    speeds = {row[0] for row in sqlite3.connect(db).execute(
        f"SELECT DISTINCT value FROM {SAMPLE_POINTS} WHERE twin_id = 'line-1' AND name = 'speedSetpoint'")}
    assert 450.0 in speeds and len(speeds) >= 2
    # The hall's setpoint loop (setpoints.yaml, autonomy enabled by the demo) learned the hall from its first days
    # and acted through the command service: commands sent (or, when unsure, put to a person), and every setpoint
    # command the plant acknowledged shows up in the hall's own setpoint readback.
    decisions = summary["setpoint_loops"]["hall-comfort"]["decisions"]
    assert decisions.get("sent", 0) + decisions.get("awaiting approval", 0) >= 1, decisions
    with sqlite3.connect(db) as conn:
        hall_commands = conn.execute("SELECT name, state, payload FROM commands WHERE twin_id = 'hall'").fetchall()
        readback = {name: {v for (v,) in conn.execute(f"SELECT DISTINCT value FROM {SAMPLE_POINTS} WHERE "
                                                       f"twin_id = 'hall' AND name = ?", (name,))}
                    for name in ("heatingSetpoint", "coolingSetpoint")}
    assert hall_commands, decisions
    assert 19.0 in readback["heatingSetpoint"]  # the plant's own setting before the loop
    acked_heating = [json.loads(p)["value"] for n, st, p in hall_commands
                     if n == "set_heating_setpoint_c" and st == "acked"]
    assert all(v in readback["heatingSetpoint"] for v in acked_heating), (acked_heating, readback)
    # Those sent by the loop itself were leased (C-13), and the plant held them: none fell back during the run.
    with sqlite3.connect(db) as conn:
        leased = conn.execute("SELECT COUNT(*) FROM commands WHERE twin_id = 'hall' AND lease_s = 20 AND state = "
                              "'acked'").fetchone()[0]
    leases = summary["setpoint_leases"]
    assert leases["expired"] == 0 and leases["released"] == 0, leases
    assert leases["held"] >= 1 or not leased, (leases, leased)
    # Live data really flowed: the plant published for ~5 simulated days.
    assert summary["sim_days"] > 1.0
    assert summary["points_ingested"] > 1000
    # The plant reports its ground truth; the platform never sees it before the end.
    assert all({"asset", "kind", "onset", "failure_at"} <= f.keys() for f in summary["faults_injected"])
    assert summary["faults_injected"], "the seeded scenario injects faults"
    # Secure by default: the demo made its own certificates in the data directory, private keys owner-only.
    keys = sorted((tmp_path / "opcua" / "keys").glob("*.pem"))
    assert len(keys) == 2 and all(k.stat().st_mode & 0o077 == 0 for k in keys)
