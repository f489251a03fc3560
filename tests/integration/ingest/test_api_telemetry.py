"""HTTP batch ingest, history and quarantine through the real app (spine + ingestion background service)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.support import dtdl_samples
from tests.support.platform import api_rig
from tvilling.core.roles import Role


def _iso(dt: datetime) -> str:
    return dt.isoformat().replace("+00:00", "Z")


def _no_constant(name: str) -> None:
    raise AssertionError(f"non-standard JSON constant {name}")


def test_http_ingest_history_twin_state_quarantine(tmp_path: Path) -> None:
    with api_rig(f"sqlite:///{tmp_path / 'api.db'}") as rig:
        assert rig.call("PUT", "/api/v1/twins/room1", json=dtdl_samples.room()).status_code in (200, 201)
        t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
        readings = [{"twinId": "room1", "name": "temperature", "value": 20.0 + i, "unit": "degreeCelsius",
                     "sourceTime": _iso(t0 + timedelta(seconds=i))} for i in range(120)]
        body = json.dumps({"readings": readings})
        h = {"Idempotency-Key": "batch-1", "Content-Type": "application/json"}
        r = rig.call("POST", "/api/v1/telemetry", content=body, headers=h, role=Role.OPERATOR)
        assert r.status_code == 200, r.text
        assert r.json() == {"accepted": 120, "committed": True}
        again = rig.call("POST", "/api/v1/telemetry", content=body, headers=h, role=Role.OPERATOR)
        assert again.status_code == 200 and again.json()["replayed"] is True
        other = rig.call("POST", "/api/v1/telemetry", content=body.replace("20.0", "21.0"), headers=h)
        assert other.status_code == 409  # same key, different body
        # NDJSON with a NaN, a null and an out-of-order (late) reading
        nd = "\n".join(json.dumps(x) for x in [
            {"twinId": "room1", "name": "temperature", "value": float("nan"), "sourceTime": _iso(t0)},
            {"twinId": "room1", "name": "temperature", "value": None, "sourceTime": _iso(t0)},
            {"twinId": "room1", "name": "temperature", "value": 5.5, "unit": "degreeCelsius",
             "sourceTime": _iso(t0 - timedelta(seconds=30))}])
        r = rig.call("POST", "/api/v1/telemetry", content=nd, headers={"Content-Type": "application/x-ndjson"},
                     role=Role.OPERATOR)
        assert r.status_code == 200, r.text
        assert rig.call("POST", "/api/v1/telemetry", content=body, role=Role.VIEWER).status_code == 403

        twin = rig.call("GET", "/api/v1/twins/room1").json()
        assert twin["temperature"] == 139.0  # latest by source time; the late 5.5 did not regress it
        meta = twin["$metadata"]["temperature"]
        assert meta["quality"] == "good" and meta["sourceTime"] == _iso(t0 + timedelta(seconds=119))

        start, end = _iso(t0 - timedelta(minutes=1)), _iso(t0 + timedelta(minutes=5))
        hist = rig.call("GET", f"/api/v1/twins/room1/history/temperature?start={start}&end={end}").json()
        assert len(hist["items"]) == 121 and hist["items"][0]["value"] == 5.5
        assert all(x["quality"] == "good" for x in hist["items"])
        b = rig.call("GET", f"/api/v1/twins/room1/history/temperature?start={start}&end={end}&bucket=1m"
                            "&agg=count,max").json()
        assert sum(x["count"] for x in b["items"]) == 121 and max(x["max"] for x in b["items"]) == 139.0
        assert rig.call("GET", f"/api/v1/twins/room1/history/temperature?start={start}&end={end}",
                        tenant="globex").status_code == 404  # another tenant's twin looks absent
        assert rig.call("GET", "/api/v1/twins/room1/history/temperature?bucket=0").status_code == 422
        q = rig.call("GET", "/api/v1/quarantine?reason=non_finite", role=Role.OPERATOR).json()
        assert len(q["items"]) == 2 and {i["name"] for i in q["items"]} == {"temperature"}
        body_text = rig.call("GET", "/api/v1/quarantine", role=Role.OPERATOR).text
        json.loads(body_text, parse_constant=_no_constant)  # strict JSON out: no NaN literal (B-06)
        deadline = time.monotonic() + 5
        while "tvilling_ingest_samples_total" not in (m := rig.call("GET", "/metrics").text):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert 'reason="non_finite"' in m
