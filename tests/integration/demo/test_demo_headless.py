"""`tvilling demo --headless --json`: the platform, the embedded broker and the plant process, end to end.

The summary must agree with the database, which this test reads independently.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import yaml

from tests.conftest import PROJECT_ROOT
from tests.support.services import free_port

SITE = PROJECT_ROOT / "examples" / "bottling-plant"


def _count(db: Path, sql: str) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute(sql).fetchone()[0])


def test_headless_demo_summary_matches_database(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "tvilling.cli.main", "demo", "--headless", "--duration", "12", "--speed", "43200",
           "--step", "300", "--period-scale", "10", "--seed", "3", "--json", "--data-dir", str(tmp_path),
           "--port", str(free_port())]
    proc = subprocess.run(cmd, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])

    expected_keys = {"sim_days", "twins", "points_ingested", "points_quarantined", "anomalies", "work_orders",
                     "faults_injected", "detections", "false_alarms_per_day"}
    assert expected_keys <= summary.keys()

    db = tmp_path / "tvilling.db"
    graph = yaml.safe_load((SITE / "twins.yaml").read_text())
    assert summary["twins"] == len(graph["twins"]) == _count(db, "SELECT count(*) FROM twins")
    assert summary["points_ingested"] == _count(db, "SELECT count(*) FROM samples")
    assert summary["points_quarantined"] == _count(db, "SELECT count(*) FROM quarantine")
    # Live data really flowed: the plant published for ~5 simulated days.
    assert summary["sim_days"] > 1.0
    assert summary["points_ingested"] > 1000
    # The plant reports its ground truth; the platform never sees it before the end.
    assert all({"asset", "kind", "onset", "failure_at"} <= f.keys() for f in summary["faults_injected"])
    assert summary["faults_injected"], "the seeded scenario injects faults"
