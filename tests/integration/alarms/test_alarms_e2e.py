"""Alarms through the running platform on both backends: HTTP telemetry -> ingest commit -> bus -> rule ->
alarm in the API and on a filtered WebSocket -> acknowledge -> clear -> restart keeps the open ones."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.support import dtdl_samples
from tests.support.platform import ApiRig, api_rig
from tvilling.core.roles import Role

RULES = f"""
version: 1
tenant: acme
rules:
  - id: room-hot
    model: "{dtdl_samples.ROOM}"
    property: temperature
    type: threshold
    severity: critical
    high: 30.0
    deadband: 2.0
"""
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)  # recent: ingestion refuses data > 7 days old


def _post(rig: ApiRig, twin: str, value: float, at: datetime, tenant: str = "acme") -> None:
    r = rig.call("POST", "/api/v1/telemetry", tenant=tenant, role=Role.OPERATOR, json={"readings": [
        {"twinId": twin, "name": "temperature", "sourceTime": at.isoformat().replace("+00:00", "Z"),
         "value": value}]})
    assert r.status_code == 200, r.text


def _wait(rig: ApiRig, query: str, pred: Any, tenant: str = "acme") -> list[dict[str, Any]]:
    deadline = time.monotonic() + 15
    items: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        items = rig.call("GET", f"/api/v1/alarms{query}", tenant=tenant, role=Role.VIEWER).json()["value"]
        if pred(items):
            return items
        time.sleep(0.05)
    raise AssertionError(f"timed out; last answer {items}")


def _alarm_frame(ws: Any) -> dict[str, Any]:
    frame: dict[str, Any] = ws.receive_json()
    assert frame["kind"].startswith("alarm."), frame  # the filter lets nothing else through
    return frame


def test_threshold_alarm_lifecycle_api_websocket_and_restart(db_url: str, tmp_path: Path) -> None:
    (tmp_path / "mappings.yaml").write_text("version: 1\ntopics: []\n")
    (tmp_path / "alarms.yaml").write_text(RULES)
    settings = {"mappings_file": tmp_path / "mappings.yaml"}
    with api_rig(db_url, **settings) as rig:
        for twin, model in (("office-1", dtdl_samples.OFFICE), ("room-2", dtdl_samples.ROOM)):
            r = rig.call("PUT", f"/api/v1/twins/{twin}", json=dtdl_samples.room(model=model))
            assert r.status_code in (200, 201), r.text
        r = rig.call("PUT", "/api/v1/twins/office-1", tenant="globex", json=dtdl_samples.room())
        assert r.status_code in (200, 201), r.text
        rules = rig.call("GET", "/api/v1/alarm-rules", role=Role.VIEWER).json()
        assert [x["id"] for x in rules["value"]] == ["room-hot"] and rules["problems"] == []
        assert rig.call("GET", "/api/v1/alarm-rules", tenant="globex").json()["value"] == []

        token = rig.tokens[("acme", Role.VIEWER)]
        with rig.client.websocket_connect(f"/api/v1/events?access_token={token}") as ws:
            ws.send_json({"type": "subscribe", "twins": ["office-1"], "kinds": ["alarm"]})
            assert ws.receive_json() == {"type": "subscribed", "filter": {
                "twins": ["office-1"], "models": None, "properties": None, "kinds": ["alarm"]}}
            ws.send_json({"type": "subscribe", "models": [dtdl_samples.ROOM], "properties": ["temperature"],
                          "kinds": ["alarm"], "colour": "red"})
            assert ws.receive_json()["type"] == "error"  # refused; the previous filter stays
            _post(rig, "office-1", 25.0, T0)
            _post(rig, "office-1", 35.0, T0 + timedelta(seconds=1))  # Office extends Room: the rule applies
            _post(rig, "office-1", 99.0, T0, tenant="globex")  # another tenant: no rules, never on this socket
            [alarm] = _wait(rig, "?state=open", lambda items: len(items) == 1)
            assert (alarm["twinId"], alarm["severity"], alarm["state"], alarm["value"]) == (
                "office-1", "critical", "active", 35.0)
            raised = _alarm_frame(ws)
            assert raised["kind"] == "alarm.raised" and raised["data"]["alarm"]["id"] == alarm["id"]
            with rig.platform.store.read() as tx:  # causality: the parent is the committed reading's event
                parent = [e.event for e in tx.events.list("acme", subject="office-1", limit=1000)
                          if e.event.context_id == raised["context"]["parent_id"]]
            assert [e.kind for e in parent] == ["twin.telemetry"]

            # Viewers cannot acknowledge; operators can, with a comment.
            path = f"/api/v1/alarms/{alarm['id']}/ack"
            assert rig.call("POST", path, role=Role.VIEWER, json={}).status_code == 403
            assert rig.call("POST", path, tenant="globex", json={}).status_code == 404
            r = rig.call("POST", path, role=Role.OPERATOR, json={"comment": "fan on"})
            assert r.status_code == 200 and r.json()["state"] == "acknowledged", r.text
            assert _alarm_frame(ws)["kind"] == "alarm.acknowledged"

            _post(rig, "office-1", 29.0, T0 + timedelta(seconds=2))  # inside the deadband: still active
            _post(rig, "office-1", 27.0, T0 + timedelta(seconds=3))
            cleared = _alarm_frame(ws)
            assert cleared["kind"] == "alarm.cleared" and cleared["data"]["alarm"]["state"] == "cleared"
            _wait(rig, "?state=open", lambda items: items == [])

            # A second occurrence, on the plain Room twin, left open across a restart.
            ws.send_json({"type": "subscribe", "models": [dtdl_samples.ROOM], "properties": ["temperature"],
                          "kinds": ["alarm"]})
            assert ws.receive_json()["type"] == "subscribed"
            _post(rig, "room-2", 40.0, T0 + timedelta(seconds=4))
            frame = _alarm_frame(ws)
            assert (frame["kind"], frame["subject"]) == ("alarm.raised", "room-2")
        open_id = frame["data"]["alarm"]["id"]
        detail = rig.call("GET", f"/api/v1/alarms/{alarm['id']}", role=Role.VIEWER).json()
        assert [t["kind"] for t in detail["transitions"]] == ["raised", "acknowledged", "cleared"]
        assert detail["transitions"][1]["comment"] == "fan on"
        assert rig.call("GET", f"/api/v1/alarms/{alarm['id']}", tenant="globex").status_code == 404
        assert rig.call("GET", "/api/v1/alarms?state=bogus").status_code == 422

    with api_rig(db_url, seed_models=False, **settings) as rig:  # restart on the same database
        [kept] = _wait(rig, "?state=open", lambda items: len(items) == 1)
        assert (kept["id"], kept["state"], kept["twinId"]) == (open_id, "active", "room-2")
        _post(rig, "room-2", 20.0, T0 + timedelta(seconds=5))  # the restored condition clears normally
        [returned] = _wait(rig, "?state=returned", lambda items: len(items) == 1)
        assert returned["id"] == open_id and not returned["acked"]
        by_severity = rig.call("GET", "/api/v1/alarms?state=open&severity=critical&twin=room-2").json()["value"]
        assert [a["id"] for a in by_severity] == [open_id]
