"""Fleet RUL models through the API, against the real platform app: a training job registers a version, estimates
come from the production version (the same as `tvilling rul train` + `predict` on the same file), and bad input is
problem+json."""

from __future__ import annotations

import time
from typing import Any

import pandas as pd
import pytest

from tests.support.platform import ApiRig, api_rig, database_url
from tests.unit.ml.rul.fleet import make_fleet
from tvilling.app import offline_rul
from tvilling.core.roles import Role

CSV = {"Content-Type": "text/csv"}


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with api_rig(database_url("sqlite", tmp_path_factory.mktemp("rul"), None), max_upload_bytes=400_000) as r:
        yield r


@pytest.fixture(scope="module")
def histories() -> dict[str, bytes]:
    train, _ = make_fleet(12, seed=31)
    now, _ = make_fleet(5, seed=32, truncate=True)
    return {"train": train.to_csv(index=False).encode(), "now": now.to_csv(index=False).encode()}


def wait_for(rig: ApiRig, job: dict[str, Any], timeout: float = 180.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = rig.call("GET", f"/api/v1/ml/rul/jobs/{job['id']}", role=Role.VIEWER)
        assert r.status_code == 200, r.text
        if r.json()["status"] in ("succeeded", "failed"):
            out: dict[str, Any] = r.json()
            return out
        time.sleep(0.2)
    raise AssertionError(f"training job {job['id']} did not finish in {timeout} s")


@pytest.fixture(scope="module")
def trained(rig: ApiRig, histories: dict[str, bytes]) -> dict[str, Any]:
    r = rig.call("POST", "/api/v1/ml/rul/jobs?name=fleet-a&folds=3", role=Role.ENGINEER, content=histories["train"],
                 headers=CSV)
    assert r.status_code == 202, r.text
    assert r.headers["location"] == f"/api/v1/ml/rul/jobs/{r.json()['id']}"
    assert r.json()["status"] in ("queued", "running")
    done = wait_for(rig, r.json())
    assert done["status"] == "succeeded", done
    return done


def test_a_job_registers_a_candidate_version(rig: ApiRig, trained: dict[str, Any]) -> None:
    assert trained["version"] == 1 and trained["summary"]["units"] == 12 and trained["summary"]["cv_folds"] == 3
    meta = rig.call("GET", "/api/v1/ml/models/fleet-a/versions/1", role=Role.VIEWER).json()
    assert meta["kind"] == "rul" and meta["format"] == "tvilling.rul-lightgbm/1" and meta["stage"] == "candidate"
    assert meta["metrics"]["cv_rmse"] == trained["summary"]["cv_rmse"]
    assert meta["training"]["units"] == 12 and len(meta["training"]["sha256"]) == 64
    assert meta["lineage"]["reason"] == "trained" and meta["lineage"]["job"] == trained["id"]
    assert meta["lineage"]["parent_version"] is None
    jobs = rig.call("GET", "/api/v1/ml/rul/jobs", role=Role.VIEWER).json()["value"]
    assert trained["id"] in [j["id"] for j in jobs]
    # Another tenant sees neither the job nor the model.
    assert rig.call("GET", f"/api/v1/ml/rul/jobs/{trained['id']}", tenant="globex").status_code == 404
    assert rig.call("GET", "/api/v1/ml/rul/jobs", tenant="globex").json()["value"] == []


def test_estimates_come_from_the_production_version(rig: ApiRig, trained: dict[str, Any],
                                                   histories: dict[str, bytes]) -> None:
    r = rig.call("POST", "/api/v1/ml/models/fleet-a/predict", role=Role.VIEWER, content=histories["now"],
                 headers=CSV)
    assert r.status_code == 409 and "no production version" in r.json()["detail"], r.text
    by_version = rig.call("POST", "/api/v1/ml/models/fleet-a/predict?version=1&within=20", role=Role.VIEWER,
                          content=histories["now"], headers=CSV)
    assert by_version.status_code == 200, by_version.text
    assert rig.call("POST", "/api/v1/ml/models/fleet-a/versions/1/promote", role=Role.ENGINEER).status_code == 200
    r = rig.call("POST", "/api/v1/ml/models/fleet-a/predict?within=20", role=Role.VIEWER, content=histories["now"],
                 headers=CSV)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["version"] == 1 and out["units"] == 5 and out["within"] == 20
    assert out["estimates"] == by_version.json()["estimates"]
    # The same code path as `tvilling rul train` + `predict` on the same table: the same estimates.
    train = pd.read_csv(pd.io.common.BytesIO(histories["train"]))
    options = offline_rul.HistoryOptions()
    data, _ = offline_rul.fit_model(train, offline_rul.schema_for(train, options),
                                    offline_rul.TrainSettings(folds=3), source="x", source_sha256="0")
    model, _ = offline_rul.load_model_bytes(data)
    table, _ = offline_rul.predict(model, pd.read_csv(pd.io.common.BytesIO(histories["now"])), within=20)
    assert out["estimates"] == table.to_dict("records")
    every = rig.call("POST", "/api/v1/ml/models/fleet-a/predict?everyRow=true", role=Role.VIEWER,
                     content=histories["now"], headers=CSV).json()
    assert len(every["estimates"]) == len(pd.read_csv(pd.io.common.BytesIO(histories["now"])))


def test_a_promoted_retrain_records_its_parent(rig: ApiRig, trained: dict[str, Any],
                                               histories: dict[str, bytes]) -> None:
    rig.call("POST", "/api/v1/ml/models/fleet-a/versions/1/promote", role=Role.ENGINEER)
    r = rig.call("POST", "/api/v1/ml/rul/jobs?name=fleet-a&folds=2&promote=true", role=Role.ENGINEER,
                 content=histories["train"], headers=CSV)
    done = wait_for(rig, r.json())
    assert done["status"] == "succeeded" and done["version"] == 2, done
    meta = rig.call("GET", "/api/v1/ml/models/fleet-a/versions/2").json()
    assert meta["stage"] == "production" and meta["lineage"]["parent_version"] == 1
    assert rig.call("POST", "/api/v1/ml/models/fleet-a/rollback", role=Role.ENGINEER).json()["version"] == 1


@pytest.mark.parametrize(("query", "body", "status", "detail"), [
    ("name=x", b"unit;cycle;s\n1;1;2\n", 422, "column(s) read with separator ','"),
    ("name=x&unitCol=engine", None, 422, "no unit column 'engine'"),
    ("name=x&folds=20", None, 422, "needs at least 20"),
    ("name=x&format=cmapss", None, 422, "expected 26 columns"),
    ("name=x", b"unit,cycle,s\n" + b"".join(b"%d,%d,%s\n" % (u, c, b"" if c == 3 else b"1.5") for u in range(1, 7)
                                              for c in range(1, 9)), 422, "missing or non-finite"),
    ("name=x", b"x" * 400_001, 413, "larger than 400000 bytes"),
])
def test_bad_training_input_is_refused_at_once(rig: ApiRig, histories: dict[str, bytes], query: str,
                                               body: bytes | None, status: int, detail: str) -> None:
    r = rig.call("POST", f"/api/v1/ml/rul/jobs?{query}", role=Role.ENGINEER, content=body or histories["train"],
                 headers=CSV)
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert detail in r.text


def test_bad_estimate_requests(rig: ApiRig, histories: dict[str, bytes]) -> None:
    from tvilling.app.registry import registry_for
    from tvilling.core.context import Context
    registry_for(rig.platform.services).register("acme", "not-rul", "anomaly", b"{}", "test/1", Context.new(),
                                                 promote=True)
    cases = [("/api/v1/ml/models/nothing/predict", 404, "nothing"),
             ("/api/v1/ml/models/not-rul/predict", 409, "is not a RUL model"),
             ("/api/v1/ml/models/not-rul/predict?within=-1", 422, "within")]
    for path, status, detail in cases:
        r = rig.call("POST", path, role=Role.VIEWER, content=histories["now"], headers=CSV)
        assert r.status_code == status and detail in r.text, (path, r.text)
    # The default body limit still holds elsewhere: the larger one is for data files only.
    big = rig.call("POST", "/api/v1/detect", role=Role.VIEWER, content=b"a\n" + b"1\n" * 600_000, headers=CSV)
    assert big.status_code == 413
