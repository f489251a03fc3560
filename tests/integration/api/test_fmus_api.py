"""/api/v1/fmus against the real platform app with real FMUs: upload, read, simulate in a child process, and
problem+json for everything that cannot be done."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.fmus import patched_thermal_zone
from tests.support.platform import ApiRig, api_rig, database_url
from tvilling.app.fmu_runner import SimulationRequest
from tvilling.app.fmus import fmu_library
from tvilling.core.context import Context
from tvilling.core.errors import PermissionDeniedError
from tvilling.core.roles import Role

OCTET = {"Content-Type": "application/octet-stream"}
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiRig]:
    # The library's SQL is plain inserts and selects; the access matrix runs it on PostgreSQL too.
    with api_rig(database_url("sqlite", tmp_path_factory.mktemp("fmus"), None), seed_models=False) as r:
        yield r


@pytest.fixture(scope="module")
def uploaded(rig: ApiRig, thermal_zone_fmus: dict[str, Path]) -> dict[str, str]:
    ids = {}
    for version, path in thermal_zone_fmus.items():
        r = rig.call("POST", f"/api/v1/fmus?name=Hall%20{version}", role=Role.ENGINEER,
                     content=path.read_bytes(), headers=OCTET)
        assert r.status_code == 201, r.text
        assert r.headers["Location"] == f"/api/v1/fmus/{r.json()['id']}"
        ids[version] = r.json()["id"]
    return ids


def _problem(r: Any, status: int, *needles: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = r.json()
    text = f"{body.get('detail', '')} {body.get('hint', '')}"
    for needle in needles:
        assert needle in text, body
    return body


def test_upload_list_and_read(rig: ApiRig, uploaded: dict[str, str]) -> None:
    listing = rig.call("GET", "/api/v1/fmus", role=Role.VIEWER).json()["value"]
    assert {e["id"] for e in listing} == set(uploaded.values())
    one = rig.call("GET", f"/api/v1/fmus/{uploaded['3.0']}", role=Role.VIEWER).json()
    assert one["name"] == "Hall 3.0" and one["fmiVersion"] == "3.0" and one["modelName"] == "ThermalZone"
    assert one["canSnapshot"] and one["defaultExperiment"]["stopTime"] == 86400.0
    ua = next(v for v in one["variables"] if v["name"] == "UA")
    assert (ua["causality"], ua["unit"], ua["start"]) == ("parameter", "W/K", 500.0)


@pytest.mark.parametrize("version", ["2.0", "3.0"])
def test_simulate_with_values_and_inputs(rig: ApiRig, uploaded: dict[str, str], version: str) -> None:
    body = {"stopTime": 7200, "step": 600, "values": {"UA": 400, "T_start": 21},
            "inputs": {"time": [0, 3600], "columns": {"Q_hvac": [0, -2000], "T_out": [21, 5]}}, "record": ["T"]}
    r = rig.call("POST", f"/api/v1/fmus/{uploaded[version]}/simulations", role=Role.OPERATOR, json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["steps"] == 12 and len(out["time"]) == 13 and list(out["columns"]) == ["T"]
    assert out["units"] == {"T": "degC"} and out["seconds"] > 0
    assert out["columns"]["T"][6] == pytest.approx(21.0)  # balanced until the inputs change at 1 h
    equilibrium = 5.0 - 2000.0 / 400.0
    expected = equilibrium + (21.0 - equilibrium) * math.exp(-400.0 * 3600.0 / 5.0e6)
    assert out["final"]["T"] == pytest.approx(expected, abs=1e-9)


def test_the_same_file_twice_is_a_conflict(rig: ApiRig, uploaded: dict[str, str],
                                           thermal_zone_fmus: dict[str, Path]) -> None:
    r = rig.call("POST", "/api/v1/fmus", role=Role.ENGINEER, content=thermal_zone_fmus["2.0"].read_bytes(),
                 headers=OCTET)
    _problem(r, 409, uploaded["2.0"])


@pytest.mark.parametrize(("body", "needle"), [
    ({"values": {"UAx": 1}}, "UAx"),
    ({"values": {"T": 1}}, "output"),
    ({"values": {"C": 0}}, "C must be > 0"),
    ({"stopTime": 0}, "must be after the start time"),
    ({"record": ["C"]}, "'C' is a parameter"),
    ({"inputs": {"time": [0, 10], "columns": {"Q_hvac": [1]}}}, "has 1 values for 2 times"),
    ({"inputs": {"time": [10, 0], "columns": {"Q_hvac": [1, 2]}}}, "times must increase"),
    ({"stopTime": 1e9, "step": 1}, "more than the limit"),
    ({"color": "red"}, "color"),
])
def test_bad_simulations_are_problems(rig: ApiRig, uploaded: dict[str, str], body: dict[str, Any],
                                      needle: str) -> None:
    r = rig.call("POST", f"/api/v1/fmus/{uploaded['2.0']}/simulations", role=Role.OPERATOR, json=body)
    assert r.status_code == 422, r.text
    assert needle in r.text


def test_nan_is_refused(rig: ApiRig, uploaded: dict[str, str]) -> None:
    r = rig.call("POST", f"/api/v1/fmus/{uploaded['2.0']}/simulations", role=Role.OPERATOR,
                 content=b'{"values": {"UA": NaN}}', headers={"Content-Type": "application/json"})
    assert r.status_code == 422, r.text


def test_uploads_that_cannot_run_are_refused(rig: ApiRig) -> None:
    _problem(rig.call("POST", "/api/v1/fmus", role=Role.ENGINEER, content=b"not a zip", headers=OCTET), 422,
             "is not an FMU", "zip archive")
    _problem(rig.call("POST", "/api/v1/fmus", role=Role.ENGINEER, content=b"", headers=OCTET), 422, "empty")


def test_roles_and_tenants(rig: ApiRig, uploaded: dict[str, str], thermal_zone_fmus: dict[str, Path]) -> None:
    data = thermal_zone_fmus["2.0"].read_bytes()
    for role in (Role.VIEWER, Role.OPERATOR):
        assert rig.call("POST", "/api/v1/fmus", role=role, content=data, headers=OCTET).status_code == 403
    assert rig.call("POST", f"/api/v1/fmus/{uploaded['2.0']}/simulations", role=Role.VIEWER,
                    json={}).status_code == 403
    assert rig.call("DELETE", f"/api/v1/fmus/{uploaded['2.0']}", role=Role.OPERATOR).status_code == 403
    other = "globex"
    assert rig.call("GET", "/api/v1/fmus", tenant=other).json()["value"] == []
    for method, path in (("GET", ""), ("DELETE", ""), ("POST", "/simulations")):
        r = rig.call(method, f"/api/v1/fmus/{uploaded['2.0']}{path}", tenant=other, json={} if method == "POST"
                     else None)
        _problem(r, 404, uploaded["2.0"])


def test_delete(rig: ApiRig, thermal_zone_fmus: dict[str, Path]) -> None:
    r = rig.call("POST", "/api/v1/fmus", role=Role.ENGINEER, tenant="globex",
                 content=thermal_zone_fmus["3.0"].read_bytes(), headers=OCTET)
    ident = r.json()["id"]
    assert rig.call("DELETE", f"/api/v1/fmus/{ident}", tenant="globex", role=Role.ENGINEER).status_code == 204
    _problem(rig.call("GET", f"/api/v1/fmus/{ident}", tenant="globex"), 404, ident)
    _problem(rig.call("DELETE", f"/api/v1/fmus/{ident}", tenant="globex"), 404, ident)


def test_a_run_past_its_limit_is_stopped(tmp_path: Path, thermal_zone_fmus: dict[str, Path]) -> None:
    # A fresh interpreter takes far longer than 50 ms to start, so the limit is certain to be hit; the child is
    # killed and the server answers.
    with api_rig(database_url("sqlite", tmp_path, None), seed_models=False, fmu_timeout_s=0.05) as tight:
        ident = tight.call("POST", "/api/v1/fmus", role=Role.ENGINEER,
                           content=thermal_zone_fmus["2.0"].read_bytes(), headers=OCTET).json()["id"]
        r = tight.call("POST", f"/api/v1/fmus/{ident}/simulations", json={"stopTime": 600})
        _problem(r, 422, "ran past its limit of 0.05 s", "TVILLING_FMU_TIMEOUT_S")
        assert tight.call("GET", "/api/v1/fmus").status_code == 200


def test_a_crashing_fmu_costs_one_request(rig: ApiRig, tmp_path: Path) -> None:
    # The example FMU with one line added: its doStep aborts the process on a step longer than 1e8 s. A real
    # crash of native code, which must end the child process only.
    crashing = patched_thermal_zone(tmp_path, "if (h > 1e8) abort();")
    r = rig.call("POST", "/api/v1/fmus?name=crashing", role=Role.ENGINEER, content=crashing, headers=OCTET)
    assert r.status_code == 201, r.text
    ident = r.json()["id"]
    ok = rig.call("POST", f"/api/v1/fmus/{ident}/simulations", json={"stopTime": 600})
    assert ok.status_code == 200, ok.text
    crashed = rig.call("POST", f"/api/v1/fmus/{ident}/simulations", json={"stopTime": 4e8, "step": 2e8})
    _problem(crashed, 422, "crashed the simulation process (signal SIGABRT)")
    assert rig.call("POST", f"/api/v1/fmus/{ident}/simulations", json={"stopTime": 600}).status_code == 200


def test_the_library_refuses_by_role_on_its_own(rig: ApiRig) -> None:
    library = fmu_library(rig.platform.app.state, rig.platform.services)
    with pytest.raises(PermissionDeniedError, match="the operator role cannot upload FMUs; it needs engineer"):
        library.upload("acme", b"x", Context.new(), role=Role.OPERATOR)
    with pytest.raises(PermissionDeniedError, match="the viewer role cannot simulate FMUs; it needs operator"):
        library.simulate("acme", "fmu-0000000000000000", SimulationRequest(), role=Role.VIEWER)
    with pytest.raises(PermissionDeniedError, match="cannot delete FMUs"):
        library.delete("acme", "fmu-0000000000000000", Context.new(), role=Role.OPERATOR)


def test_an_ensemble_gives_bands_spread_and_exceedance(rig: ApiRig, uploaded: dict[str, str]) -> None:
    body = {"vary": {"Q_hvac": {"dist": "uniform", "low": 0, "high": 4000}}, "samples": 100, "seed": 3,
            "values": {"T_out": 21}, "limits": {"T": {"above": 25}}, "step": 3600}
    r = rig.call("POST", f"/api/v1/fmus/{uploaded['3.0']}/ensembles", role=Role.OPERATOR, json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["samples"] == 100 and out["failed"] == 0 and out["steps"] == 24 and len(out["time"]) == 25
    assert out["vary"] == {"Q_hvac": {"dist": "uniform", "low": 0.0, "high": 4000.0}}
    band = out["bands"]["T"]
    assert all(a <= b <= c for a, b, c in zip(band["p5"], band["p50"], band["p95"], strict=True))
    # T ends at 21 + Q/500 (the day is nine time constants): above 25 when Q > 2000, half of the range.
    assert out["exceedance"]["T"] == pytest.approx(0.5, abs=0.05)
    assert out["final"]["T"]["p50"] == pytest.approx(25.0, abs=0.2)
    again = rig.call("POST", f"/api/v1/fmus/{uploaded['3.0']}/ensembles", role=Role.OPERATOR, json=body).json()
    assert again["bands"] == out["bands"] and again["drawn"] == out["drawn"]  # the seed decides the samples


@pytest.mark.parametrize(("body", "needle"), [
    ({"vary": {}}, "vary"),
    ({"vary": {"UA": {"dist": "normal", "mean": 500, "sd": 0}}}, "sd must be > 0"),
    ({"vary": {"UA": {"dist": "normal", "mean": 500}}}, "needs exactly mean, sd"),
    ({"vary": {"UA": {"dist": "gauss"}}}, "dist"),
    ({"vary": {"T": {"dist": "normal", "mean": 1, "sd": 1}}}, "'T' is an output"),
    ({"vary": {"UA": {"dist": "normal", "mean": 500, "sd": 5}}, "samples": 1}, "samples"),
    ({"vary": {"UA": {"dist": "normal", "mean": 500, "sd": 5}}, "limits": {"T": {}}}, "exactly one of above"),
    ({"vary": {"UA": {"dist": "normal", "mean": 500, "sd": 5}}, "samples": 1000, "stopTime": 1e7, "step": 1},
     "more than the limit"),
])
def test_bad_ensembles_are_problems(rig: ApiRig, uploaded: dict[str, str], body: dict[str, Any],
                                    needle: str) -> None:
    r = rig.call("POST", f"/api/v1/fmus/{uploaded['2.0']}/ensembles", role=Role.OPERATOR, json=body)
    assert r.status_code == 422, r.text
    assert needle in r.text
    assert rig.call("POST", f"/api/v1/fmus/{uploaded['2.0']}/ensembles", role=Role.VIEWER,
                    json=body).status_code == 403


def test_calibration_fits_measured_data(rig: ApiRig, uploaded: dict[str, str]) -> None:
    from tests.unit.simulation.test_calibrate import measured_zone

    data = measured_zone(hours=24)
    measured: list[float | None] = list(data.outputs["T"])
    measured[5] = None  # a missing measurement
    body = {"time": list(data.times), "inputs": {k: list(v) for k, v in data.inputs.items()},
            "outputs": {"T": measured}, "fit": {"UA": [100, 2000], "C": [1e6, 1e8]}, "values": {"T_start": 19}}
    r = rig.call("POST", f"/api/v1/fmus/{uploaded['2.0']}/calibrations", role=Role.ENGINEER, json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["values"]["UA"] == pytest.approx(420.0, rel=0.02) and out["converged"]
    assert out["rmseAfter"]["T"] < 0.15 < out["rmseBefore"]["T"] and len(out["model"]["T"]) == 288
    low, high = out["intervals"]["UA"]
    assert low < out["values"]["UA"] < high
    assert rig.call("POST", f"/api/v1/fmus/{uploaded['2.0']}/calibrations", role=Role.OPERATOR,
                    json=body).status_code == 403
    bad = {**body, "fit": {"Q_hvac": [0, 1]}}
    assert "'Q_hvac' is an input" in rig.call("POST", f"/api/v1/fmus/{uploaded['2.0']}/calibrations",
                                              role=Role.ENGINEER, json=bad).text
    short = {**body, "time": [0, 1, 2]}
    r = rig.call("POST", f"/api/v1/fmus/{uploaded['2.0']}/calibrations", role=Role.ENGINEER, json=short)
    assert r.status_code == 422 and "values for 3 times" in r.text


def test_calibration_from_a_twins_history(tmp_path: Path, thermal_zone_fmus: dict[str, Path]) -> None:
    # Readings of a zone with UA 420 W/K and C 6 MJ/K (HVAC heat reported in kW, as the plant's hall does) go in
    # through the ingest API; the calibration reads them back from the store and finds the parameters.
    from datetime import UTC, datetime, timedelta

    from tests.unit.simulation.test_calibrate import measured_zone

    zone = json.loads((ROOT / "examples" / "bottling-plant" / "models" / "Zone.json").read_text())
    data = measured_zone(hours=36)
    t0 = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=40)
    with api_rig(database_url("sqlite", tmp_path, None), seed_models=False) as rig:
        assert rig.call("POST", "/api/v1/models", json=[zone]).status_code == 201
        assert rig.call("PUT", "/api/v1/twins/hall", json={"$metadata": {"$model": zone["@id"]}}).status_code == 201
        readings = []
        for k, t in enumerate(data.times):
            at = (t0 + timedelta(seconds=t)).isoformat().replace("+00:00", "Z")
            for prop, value in (("outdoorTemperature", data.inputs["T_out"][k]),
                                ("hvacPower", data.inputs["Q_hvac"][k] / 1000.0),
                                ("airTemperature", data.outputs["T"][k])):
                readings.append({"twinId": "hall", "name": prop, "sourceTime": at, "value": value})
        for i in range(0, len(readings), 300):
            r = rig.call("POST", "/api/v1/telemetry", role=Role.OPERATOR, json={"readings": readings[i:i + 300]})
            assert r.status_code == 200, r.text
        ident = rig.call("POST", "/api/v1/fmus", role=Role.ENGINEER, content=thermal_zone_fmus["2.0"].read_bytes(),
                         headers=OCTET).json()["id"]
        history = {"twin": "hall", "start": t0.isoformat(), "end": (t0 + timedelta(hours=36)).isoformat(),
                   "bucket": "5m", "inputs": {"T_out": "outdoorTemperature",
                                              "Q_hvac": {"property": "hvacPower", "scale": 1000}},
                   "outputs": {"T": "airTemperature"}}
        body = {"history": history, "fit": {"UA": [100, 2000], "C": [1e6, 1e8]}, "values": {"T_start": 19}}
        r = rig.call("POST", f"/api/v1/fmus/{ident}/calibrations", role=Role.ENGINEER, json=body)
        assert r.status_code == 200, r.text
        out = r.json()
        assert out["samples"] == len(data.times) and len(out["measured"]["T"]) == len(data.times)
        assert out["values"]["UA"] == pytest.approx(420.0, rel=0.02)
        assert out["values"]["C"] == pytest.approx(6e6, rel=0.02)
        assert out["rmseAfter"]["T"] < 0.15
        # Problems are named: an unknown property, another tenant's twin, both kinds of source at once.
        wrong = {**body, "history": {**history, "outputs": {"T": "airTemp"}}}
        assert "no history of 'airTemp'" in rig.call("POST", f"/api/v1/fmus/{ident}/calibrations",
                                                      role=Role.ENGINEER, json=wrong).text
        assert rig.call("POST", f"/api/v1/fmus/{ident}/calibrations", role=Role.ENGINEER,
                        json={**body, "history": {**history, "twin": "nope"}}).status_code == 404
        both = rig.call("POST", f"/api/v1/fmus/{ident}/calibrations", role=Role.ENGINEER,
                        json={**body, "time": [0, 1, 2], "outputs": {"T": [1, 2, 3]}})
        assert both.status_code == 422 and "either as time, inputs and outputs, or as history" in both.text
        # The same history compared with the calibrated model: a healthy zone, no episode; time 0 is the start.
        fitted = {"T_start": 19, "UA": out["values"]["UA"], "C": out["values"]["C"]}
        r = rig.call("POST", f"/api/v1/fmus/{ident}/residuals", role=Role.OPERATOR,
                     json={"history": history, "values": fitted, "referenceRows": 144})
        assert r.status_code == 200, r.text
        res = r.json()
        assert res["timeOrigin"] == t0.isoformat().replace("+00:00", "Z") and res["referenceRows"] == 144
        assert res["episodes"] == [] and res["anomalousRows"] == 0
        assert res["stats"]["T"]["rmseAfter"] < 0.15 and len(res["residual"]["T"]) == len(data.times)


def test_residuals_find_a_fault_and_name_the_output(rig: ApiRig, uploaded: dict[str, str]) -> None:
    from tests.unit.simulation.test_residuals import HEALTHY, zone_with_fault

    data = zone_with_fault(hours=72, fault_at_h=48, fault_ua=600.0)
    measured: list[float | None] = list(data.outputs["T"])
    measured[10] = None  # a missing measurement stays missing
    body = {"time": list(data.times), "inputs": {k: list(v) for k, v in data.inputs.items()},
            "outputs": {"T": measured}, "values": HEALTHY, "referenceRows": 288}
    for version in ("2.0", "3.0"):
        r = rig.call("POST", f"/api/v1/fmus/{uploaded[version]}/residuals", role=Role.OPERATOR, json=body)
        assert r.status_code == 200, r.text
        out = r.json()
        first = out["episodes"][0]
        assert first["outputs"] == ["T"] and 48 * 3600 <= first["start"] <= 51 * 3600
        assert out["residual"]["T"][10] is None and out["units"] == {"T": "degC"}
        assert not any(out["anomalous"][: 48 * 12]) and out["anomalousRows"] > 0
    assert rig.call("POST", f"/api/v1/fmus/{uploaded['2.0']}/residuals", role=Role.VIEWER,
                    json=body).status_code == 403
    r = rig.call("POST", f"/api/v1/fmus/{uploaded['2.0']}/residuals", role=Role.OPERATOR,
                 json={**body, "referenceRows": 5000})
    problem = _problem(r, 422, "the reference must be between 10 rows", "healthy period")
    assert problem["problems"][0]["where"] == "referenceRows"
    r = rig.call("POST", f"/api/v1/fmus/{uploaded['2.0']}/residuals", role=Role.OPERATOR,
                 json={**body, "outputs": {"Q_loss_typo": measured}})
    assert r.status_code == 422 and "Q_loss_typo" in r.text
