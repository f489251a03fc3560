"""A physics model coupled to a live twin, through the running platform: telemetry over HTTP -> ingest commit ->
bus -> the FMU stepped in its own process on the twin's source time -> residual charts -> insight events and the
twin's physics status."""

from __future__ import annotations

import functools
import hashlib
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.support.fmus import ROOT
from tests.support.platform import ApiRig, api_rig
from tests.unit.simulation.test_residuals import zone_with_fault
from tvilling.app.fmus import fmu_id
from tvilling.cli.main import app
from tvilling.cli.physics import status_lines
from tvilling.core.roles import Role

ZONE = json.loads((ROOT / "examples" / "bottling-plant" / "models" / "Zone.json").read_text())
OCTET = {"Content-Type": "application/octet-stream"}
runner = CliRunner()


@functools.cache
def example() -> Any:
    """examples/fmus/live_coupling.py as a module: its physics.yaml and its run."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("live_coupling", ROOT / "examples/fmus/live_coupling.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def physics_yaml(fmu: str) -> str:
    """The example's physics.yaml: the Zone model coupled to ``fmu``, 2 h settling, 12 h reference."""
    return str(example().PHYSICS.format(fmu=fmu))


def _iso(dt: datetime) -> str:
    return dt.isoformat().replace("+00:00", "Z")


def _feed(rig: ApiRig, twin: str, t0: datetime, data: Any, rows: range) -> None:
    # One time step per request: a commit's telemetry event carries each property's latest value only.
    for k in rows:
        at = _iso(t0 + timedelta(seconds=data.times[k]))
        readings = [{"twinId": twin, "name": prop, "sourceTime": at, "value": value}
                    for prop, value in (("outdoorTemperature", data.inputs["T_out"][k]),
                                        ("hvacPower", data.inputs["Q_hvac"][k] / 1000.0),
                                        ("airTemperature", data.outputs["T"][k]))]
        r = rig.call("POST", "/api/v1/telemetry", role=Role.OPERATOR, json={"readings": readings})
        assert r.status_code == 200, r.text


def _wait(rig: ApiRig, twin: str, what: str, ok: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        body = rig.call("GET", f"/api/v1/twins/{twin}/{what}", role=Role.VIEWER).json()
        if ok(body) or time.monotonic() > deadline:
            return body
        time.sleep(0.1)


def test_a_coupled_twin_raises_a_physics_insight_after_its_fault_and_not_before(
        tmp_path: Path, thermal_zone_fmus: dict[str, Path]) -> None:
    artifact = thermal_zone_fmus["2.0"].read_bytes()
    ident = fmu_id(hashlib.sha256(artifact).hexdigest())
    (tmp_path / "mappings.yaml").write_text("version: 1\ntopics: []\n")
    (tmp_path / "physics.yaml").write_text(physics_yaml(ident))
    data = zone_with_fault(hours=30, fault_at_h=20, fault_ua=650.0)
    t0 = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=40)
    with api_rig(f"sqlite:///{tmp_path / 'live.db'}", seed_models=False,
                 mappings_file=tmp_path / "mappings.yaml") as rig:
        assert rig.call("POST", "/api/v1/models", json=[ZONE]).status_code == 201
        for twin in ("hall", "store"):
            r = rig.call("PUT", f"/api/v1/twins/{twin}", json={"$metadata": {"$model": ZONE["@id"]}})
            assert r.status_code == 201, r.text
        assert rig.call("POST", "/api/v1/fmus", role=Role.ENGINEER, content=artifact,
                        headers=OCTET).json()["id"] == ident
        before = rig.call("GET", "/api/v1/twins/hall/physics", role=Role.VIEWER).json()
        assert before["coupled"] is True and before["live"] is None and before["coupling"]["fmu"] == ident
        assert before["coupling"]["inputs"]["Q_hvac"] == {"property": "hvacPower", "scale": 1000.0, "offset": 0.0}
        _feed(rig, "hall", t0, data, range(0, 20 * 12))  # healthy: 20 hours
        healthy = _wait(rig, "hall", "physics", lambda b: b["live"] and b["live"]["modelTime"]
                        == _iso(t0 + timedelta(hours=20) - timedelta(minutes=5)))
        live = healthy["live"]
        assert live["phase"] == "watching" and live["episode"] is None and live["restarts"] == 0, live
        assert live["reference"] == {"rows": 144, "learned": 144}
        measured = live["outputs"]["airTemperature"]
        assert abs(measured["measured"] - measured["expected"]) < 0.5 and measured["ratio"] < 1.0
        _feed(rig, "hall", t0, data, range(20 * 12, 30 * 12))  # the envelope fault from hour 20
        found = _wait(rig, "hall", "insights", lambda b: any(i["kind"] == "insight.anomaly" for i in b["value"]))
        anomalies = [i for i in found["value"] if i["kind"] == "insight.anomaly"]
        assert len(anomalies) == 1, found["value"]
        alert = anomalies[0]["data"]
        assert alert["detector"] == "physics" and alert["signals"] == ["airTemperature"] and alert["fmu"] == ident
        assert _iso(t0 + timedelta(hours=20)) < alert["detected_at"] <= _iso(t0 + timedelta(hours=23))
        assert set(alert["expected"]) == {"airTemperature"} and found["physics"]["episode"] is not None
        # the other twin of the model sent nothing: no coupling runs for it
        assert rig.call("GET", "/api/v1/twins/store/physics", role=Role.VIEWER).json()["live"] is None
        assert rig.call("GET", "/api/v1/twins/hall/physics", tenant="globex").status_code == 404
        # what `tvilling physics status` prints of these answers
        shown = status_lines("hall", rig.call("GET", "/api/v1/twins/hall/physics", role=Role.VIEWER).json())
        assert shown[0].startswith(f"hall: watching — {ident} at ") and "0 restart(s)" in shown[0]
        assert shown[1].startswith("  airTemperature: expected ") and shown[2].startswith("  episode since ")
        other = status_lines("store", rig.call("GET", "/api/v1/twins/store/physics", role=Role.VIEWER).json())
        assert other == [f"store: coupled to {ident}; not running yet (it starts with the twin's next reading)"]


def test_a_coupling_the_fmu_rejects_stops_and_says_why(tmp_path: Path, thermal_zone_fmus: dict[str, Path]) -> None:
    artifact = thermal_zone_fmus["3.0"].read_bytes()
    ident = fmu_id(hashlib.sha256(artifact).hexdigest())
    (tmp_path / "mappings.yaml").write_text("version: 1\ntopics: []\n")
    (tmp_path / "physics.yaml").write_text(physics_yaml(ident).replace("UA: 420", "UAA: 420"))
    data = zone_with_fault(hours=2, fault_at_h=1, fault_ua=420.0)
    t0 = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)
    with api_rig(f"sqlite:///{tmp_path / 'bad.db'}", seed_models=False,
                 mappings_file=tmp_path / "mappings.yaml") as rig:
        assert rig.call("POST", "/api/v1/models", json=[ZONE]).status_code == 201
        assert rig.call("PUT", "/api/v1/twins/hall", json={"$metadata": {"$model": ZONE["@id"]}}).status_code == 201
        _feed(rig, "hall", t0, data, range(0, 3))  # the FMU is not in the library yet
        missing = _wait(rig, "hall", "physics", lambda b: b["live"] and b["live"]["phase"] == "stopped")["live"]
        assert missing["phase"] == "stopped" and f"no FMU {ident}" in missing["error"], missing
        rig.call("POST", "/api/v1/fmus", role=Role.ENGINEER, content=artifact, headers=OCTET)  # restarts it
        _feed(rig, "hall", t0, data, range(3, 6))
        wrong = _wait(rig, "hall", "physics", lambda b: b["live"] and "UAA" in (b["live"]["error"] or ""))["live"]
        assert wrong["phase"] == "stopped" and "UAA" in wrong["error"] and "UA" in wrong["error"], wrong


def test_physics_check_reads_a_document_offline(tmp_path: Path) -> None:
    good = tmp_path / "physics.yaml"
    good.write_text(physics_yaml("fmu-0123456789abcdef"))
    result = runner.invoke(app, ["physics", "check", str(good)])
    assert result.exit_code == 0 and "1 coupling(s)" in result.stdout
    assert "Q_hvac <- hvacPower" in result.stdout and "2 h settling + 12 h reference" in result.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("couplings: [{model: zone, outputs: {}}]")
    result = runner.invoke(app, ["physics", "check", str(bad)])
    assert result.exit_code == 1 and len(result.stderr.strip().splitlines()) == 1
    assert "3 problem(s)" in result.stderr and "a DTMI is required" in result.stderr


def test_the_documented_live_coupling_example(capsys: pytest.CaptureFixture[str]) -> None:
    """examples/fmus/live_coupling.py as docs/physics.md runs it: a real server on loopback, the SDK, the FMU's own
    process; the anomaly comes within two hours of the fault, none before."""
    result = example().main()
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("hall: watching — fmu-") and "0 restart(s)" in printed[0]
    (insight,) = result["insights"]
    assert result["fault_at"] < insight["data"]["since"] <= _iso(
        datetime.fromisoformat(result["fault_at"]) + timedelta(hours=2))
    assert printed[-1].startswith("insight.anomaly by the physics model: airTemperature since ")


def test_learned_references_survive_a_restart_through_the_model_registry(
        tmp_path: Path, thermal_zone_fmus: dict[str, Path]) -> None:
    artifact = thermal_zone_fmus["2.0"].read_bytes()
    ident = fmu_id(hashlib.sha256(artifact).hexdigest())
    (tmp_path / "mappings.yaml").write_text("version: 1\ntopics: []\n")
    (tmp_path / "physics.yaml").write_text(physics_yaml(ident))
    data = zone_with_fault(hours=24, fault_at_h=23, fault_ua=420.0)  # healthy throughout
    t0 = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=30)
    db = f"sqlite:///{tmp_path / 'restart.db'}"
    with api_rig(db, seed_models=False, mappings_file=tmp_path / "mappings.yaml") as rig:
        assert rig.call("POST", "/api/v1/models", json=[ZONE]).status_code == 201
        assert rig.call("PUT", "/api/v1/twins/hall", json={"$metadata": {"$model": ZONE["@id"]}}).status_code == 201
        rig.call("POST", "/api/v1/fmus", role=Role.ENGINEER, content=artifact, headers=OCTET)
        _feed(rig, "hall", t0, data, range(0, 16 * 12))  # 2 h settling + 12 h learning + 2 h watching
        live = _wait(rig, "hall", "physics", lambda b: b["live"] and b["live"]["referenceVersion"] == 1)["live"]
        assert live["phase"] == "watching" and live["referenceVersion"] == 1, live
        (version,) = rig.call("GET", "/api/v1/ml/models/hall:physics/versions").json()["value"]
        assert version["stage"] == "production" and version["format"] == "tvilling.residual-references.v1"
        assert version["training"]["points"] == 144 and version["parameters"]["fmu"] == ident
        assert version["training"]["start"] == _iso(t0 + timedelta(hours=2))
        assert 0.08 < version["metrics"]["T"]["spread"] < 0.2  # the sensor noise is 0.1 K
    with api_rig(db, seed_models=False, mappings_file=tmp_path / "mappings.yaml") as rig:  # a new server process
        _feed(rig, "hall", t0, data, range(16 * 12, 19 * 12 + 1))
        live = _wait(rig, "hall", "physics", lambda b: b["live"] and b["live"]["phase"] == "watching")["live"]
        # after settling again (2 h), it watches at once with the stored references: no 12 h of learning
        assert live["phase"] == "watching" and live["referenceVersion"] == 1, live
        assert live["reference"] == {"rows": 144, "learned": 144} and live["modelTime"] <= _iso(
            t0 + timedelta(hours=19))
        assert len(rig.call("GET", "/api/v1/ml/models/hall:physics/versions").json()["value"]) == 1
    # other model settings: the stored references do not hold, so it learns afresh
    (tmp_path / "physics.yaml").write_text(physics_yaml(ident).replace("UA: 420", "UA: 430"))
    with api_rig(db, seed_models=False, mappings_file=tmp_path / "mappings.yaml") as rig:
        _feed(rig, "hall", t0, data, range(19 * 12 + 1, 22 * 12))
        live = _wait(rig, "hall", "physics", lambda b: b["live"] and b["live"]["phase"] == "learning")["live"]
        assert live["phase"] == "learning" and live["referenceVersion"] is None, live
