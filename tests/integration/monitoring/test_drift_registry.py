"""Acceptance through the running platform, on SQLite and PostgreSQL: HTTP telemetry with a regime change ->
insight.drift -> recalibration registered as version 2 (production) with before/after metrics -> the alert
clears; then an engineer rolls back through the API and the live monitor runs version 1 again."""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.support import dtdl_samples
from tests.support.platform import ApiRig, api_rig
from tvilling.core.roles import Role

MONITORING = f"""
version: 1
monitors:
  - model: "{dtdl_samples.ROOM}"
    signals: [temperature]
    warmup: 40
    threshold: 0.99
    open_after: 2
    quiet_hours: 2
    smooth: 1
    drift: {{monitor: residuals, method: page_hinkley, action: recalibrate, window: 40}}
"""
NAME = "office-1:anomaly"
CHANGE_AT = 100


def _iso(dt: datetime) -> str:
    return dt.isoformat().replace("+00:00", "Z")


def _wait(rig: ApiRig, what: Any, seconds: float = 60.0) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        found = what()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def test_drift_recalibrate_register_and_roll_back_through_the_platform(db_url: str, tmp_path: Path) -> None:
    (tmp_path / "mappings.yaml").write_text("version: 1\ntopics: []\n")
    (tmp_path / "monitoring.yaml").write_text(MONITORING)
    rng = random.Random(11)
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(days=3)
    with api_rig(db_url, mappings_file=tmp_path / "mappings.yaml") as rig:
        r = rig.call("PUT", "/api/v1/twins/office-1", json=dtdl_samples.room(model=dtdl_samples.OFFICE))
        assert r.status_code in (200, 201), r.text

        def post(i: int) -> None:
            gain = 2.0 if i >= CHANGE_AT else 1.0  # a new operating point at reading CHANGE_AT
            reading = {"twinId": "office-1", "name": "temperature", "sourceTime": _iso(t0 + timedelta(minutes=10 * i)),
                       "value": 20.0 * gain * rng.lognormvariate(0.0, 0.05)}
            r = rig.call("POST", "/api/v1/telemetry", json={"readings": [reading]}, role=Role.OPERATOR)
            assert r.status_code == 200, r.text

        def insights(kind: str) -> list[dict[str, Any]]:
            return list(rig.call("GET", f"/api/v1/insights?kind={kind}", role=Role.VIEWER).json()["value"])

        for i in range(CHANGE_AT + 60):
            post(i)
        drift = _wait(rig, lambda: insights("drift"))
        assert len(drift) == 1, drift
        # detected within 20 readings of the change (10 min apart)
        lag = datetime.fromisoformat(drift[0]["data"]["detected_at"]) - (t0 + timedelta(minutes=10 * CHANGE_AT))
        assert timedelta(0) <= lag < timedelta(minutes=10 * 20)
        recal = _wait(rig, lambda: insights("recalibrated"))
        assert len(recal) == 1 and recal[0]["data"]["version"] == 2, recal
        for i in range(CHANGE_AT + 60, CHANGE_AT + 100):  # the new regime, seen by the re-fitted model
            post(i)
        assert _wait(rig, lambda: insights("cleared")), "the alert of the regime change never cleared"
        live = _wait(rig, lambda: (lambda m: m if m and m["readings"] >= CHANGE_AT + 100 else None)(
            rig.call("GET", "/api/v1/twins/office-1/insights", role=Role.VIEWER).json()["monitor"]))
        assert live["model_version"] == 2 and live["score"] < 0.99 and live["alert"] is None

        versions = rig.call("GET", f"/api/v1/ml/models/{NAME}/versions", role=Role.VIEWER).json()["value"]
        assert [(v["version"], v["stage"], v["lineage"]["reason"]) for v in versions] == [
            (1, "archived", "warmup"), (2, "production", "recalibrate")]
        metrics = versions[1]["metrics"]
        assert metrics["before"]["residual_mae"] > 5 * metrics["after"]["residual_mae"]
        assert metrics["after"]["alarm_rate"] <= 0.05 and metrics["before"]["alarm_rate"] > 0.9
        assert rig.call("GET", f"/api/v1/ml/models/{NAME}", tenant="globex").status_code == 404

        # Roll back (engineer): the live monitor is rebuilt from version 1, the pre-change baseline.
        assert rig.call("POST", f"/api/v1/ml/models/{NAME}/rollback", role=Role.OPERATOR).status_code == 403
        r = rig.call("POST", f"/api/v1/ml/models/{NAME}/rollback", role=Role.ENGINEER)
        assert r.status_code == 200 and r.json()["version"] == 1 and r.json()["stage"] == "production", r.text
        for i in range(CHANGE_AT + 100, CHANGE_AT + 105):
            post(i)
        live = _wait(rig, lambda: (lambda m: m if m and m.get("model_version") == 1 and m["readings"] >= 5 else None)(
            rig.call("GET", "/api/v1/twins/office-1/insights", role=Role.VIEWER).json()["monitor"]))
        assert live and live["warmed_up"] and live["score"] >= 0.99, live  # no warm-up: loaded from the registry
