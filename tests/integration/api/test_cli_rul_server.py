"""`tvilling rul submit | jobs | predict --name` against a live server (through the SDK): train on the server,
follow the job, estimate with the registered model — the same estimates as with a model file."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from tests.support.platform import ApiRig, api_rig, live_server
from tests.unit.ml.rul.fleet import make_fleet
from tvilling.cli.main import app
from tvilling.core.roles import Role

runner = CliRunner()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[ApiRig, dict[str, str], dict[str, Path]]]:
    files = {"train": tmp_path / "train.csv", "now": tmp_path / "now.csv"}
    make_fleet(10, seed=51)[0].to_csv(files["train"], index=False)
    make_fleet(4, seed=52, truncate=True)[0].to_csv(files["now"], index=False)
    with api_rig(f"sqlite:///{tmp_path / 'cli.db'}") as rig, live_server(rig.platform.app) as url:
        yield rig, {"TVILLING_URL": url, "TVILLING_TOKEN": rig.tokens[("acme", Role.ENGINEER)]}, files


def tv(env: dict[str, str], *args: str) -> Any:
    return runner.invoke(app, ["rul", *args], env=env)


def last_json(output: str) -> Any:
    return json.loads(output.strip().splitlines()[-1])


def test_submit_wait_and_predict_by_name(served: tuple[ApiRig, dict[str, str], dict[str, Path]],
                                         tmp_path: Path) -> None:
    _rig, env, files = served
    done = tv(env, "submit", "--input", str(files["train"]), "--name", "fleet", "--folds", "2", "--promote",
              "--wait", "--json")
    assert done.exit_code == 0, done.stderr
    job = last_json(done.stdout)
    assert job["status"] == "succeeded" and job["version"] == 1
    listed = tv(env, "jobs")
    assert listed.exit_code == 0 and "fleet" in listed.stdout and "succeeded" in listed.stdout
    assert [j["id"] for j in last_json(tv(env, "jobs", "--json").stdout)["value"]] == [job["id"]]
    assert last_json(tv(env, "jobs", "--id", job["id"], "--json").stdout)["version"] == 1

    remote = tv(env, "predict", "--name", "fleet", "--input", str(files["now"]), "--out", str(tmp_path / "r.csv"),
                "--within", "15", "--json")
    assert remote.exit_code == 0, remote.stderr
    assert last_json(remote.stdout)["model"] == "fleet v1"
    # The same model trained locally on the same file gives the same estimates.
    assert runner.invoke(app, ["rul", "train", "--input", str(files["train"]), "--out", str(tmp_path / "m.json"),
                               "--folds", "2"]).exit_code == 0
    local = tv(env, "predict", "--model", str(tmp_path / "m.json"), "--input", str(files["now"]),
               "--out", str(tmp_path / "l.csv"), "--within", "15")
    assert local.exit_code == 0, local.stderr
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "r.csv"), pd.read_csv(tmp_path / "l.csv"))


def test_server_errors_are_one_line(served: tuple[ApiRig, dict[str, str], dict[str, Path]], tmp_path: Path) -> None:
    rig, env, files = served
    viewer = {**env, "TVILLING_TOKEN": rig.tokens[("acme", Role.VIEWER)]}
    cases = [
        (viewer, ["submit", "--input", str(files["train"]), "--name", "x"], "engineer"),
        (env, ["submit", "--input", str(files["train"]), "--name", "x", "--unit-col", "engine"], "no unit column"),
        (env, ["submit", "--input", str(tmp_path / "none.csv"), "--name", "x"], "no such file"),
        (env, ["predict", "--name", "nothing", "--input", str(files["now"]), "--out", str(tmp_path / "p.csv")],
         "nothing"),
        (env, ["predict", "--input", str(files["now"]), "--out", str(tmp_path / "p.csv")], "either --model"),
        (env, ["jobs", "--id", "nope"], "no training job"),
        (env, ["predict", "--model", "m.json", "--version", "2", "--input", str(files["now"]), "--out", "p.csv"],
         "use it with --name"),
    ]
    for who, args, message in cases:
        result = tv(who, *args)
        lines = result.stderr.strip().splitlines()
        assert result.exit_code != 0 and len(lines) == 1 and message in lines[0], (args, result.stderr)
