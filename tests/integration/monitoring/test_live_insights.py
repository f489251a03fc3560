"""The platform in-process: HTTP telemetry -> ingest commit -> bus -> monitoring -> insight events and API."""

from __future__ import annotations

import math
import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.support import dtdl_samples
from tests.support.platform import api_rig
from tvilling.core.roles import Role

MONITORING = f"""
version: 1
monitors:
  - model: "{dtdl_samples.ROOM}"
    signals: [temperature]
    warmup: 60
    threshold: 0.99
    open_after: 2
    smooth: 3
    health: {{signals: [temperature], failure_threshold: 8.0, window_hours: 24, min_points: 8}}
"""


def _iso(dt: datetime) -> str:
    return dt.isoformat().replace("+00:00", "Z")


def test_degrading_twin_gets_anomaly_and_rul_insights_through_the_running_platform(tmp_path: Path) -> None:
    (tmp_path / "mappings.yaml").write_text("version: 1\ntopics: []\n")
    (tmp_path / "monitoring.yaml").write_text(MONITORING)
    deadline = time.monotonic() + 60
    with api_rig(f"sqlite:///{tmp_path / 'live.db'}", mappings_file=tmp_path / "mappings.yaml") as rig:
        for twin in ("office-1", "office-2"):  # Office extends the monitored Room model
            r = rig.call("PUT", f"/api/v1/twins/{twin}", json=dtdl_samples.room(model=dtdl_samples.OFFICE))
            assert r.status_code in (200, 201), r.text
        rng = random.Random(4)
        # recent source times: ingestion quarantines data older than its max age (7 days)
        t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
        for i in range(200):  # one reading per commit: a commit carries each point's latest value only
            line = 0.004 * math.exp(0.04 * (i - 80)) if i >= 80 else 0.0
            readings = [
                {"twinId": "office-1", "name": "temperature", "sourceTime": _iso(t0 + timedelta(minutes=10 * i)),
                 "value": math.hypot(0.04, line) * rng.lognormvariate(0.0, 0.05)},
                {"twinId": "office-2", "name": "temperature", "sourceTime": _iso(t0 + timedelta(minutes=10 * i)),
                 "value": 0.04 * rng.lognormvariate(0.0, 0.05)}]
            r = rig.call("POST", "/api/v1/telemetry", json={"readings": readings}, role=Role.OPERATOR)
            assert r.status_code == 200, r.text
        kinds: set[str] = set()
        items: list[dict[str, object]] = []
        while time.monotonic() < deadline and not {"insight.anomaly", "insight.rul"} <= kinds:
            items = rig.call("GET", "/api/v1/insights", role=Role.VIEWER).json()["value"]
            kinds = {str(i["kind"]) for i in items}
            time.sleep(0.2)
        assert {"insight.anomaly", "insight.rul"} <= kinds, items
        assert {i["twin"] for i in items} == {"office-1"}
        anomaly = next(i for i in items if i["kind"] == "insight.anomaly")
        data = anomaly["data"]
        assert isinstance(data, dict) and data["detected_at"] > _iso(t0 + timedelta(minutes=10 * 80))
        # causality: the insight's parent is the telemetry event that triggered it
        events = rig.platform.services.store
        with events.read() as tx:
            parents = {e.event.context_id: e.event.kind for e in tx.events.list("acme", subject="office-1",
                                                                               limit=10_000)}
        context = anomaly["context"]
        assert isinstance(context, dict) and parents.get(str(context["parent_id"])) == "twin.telemetry"
        live = rig.call("GET", "/api/v1/twins/office-1/insights", role=Role.VIEWER).json()["monitor"]
        assert live["warmed_up"] is True and live["alert"] is not None and live["rul"] is not None
