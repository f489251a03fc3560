"""The CLI: `serve` as a real process (first-start token printed once), `token create` on the database, and the
SDK-backed commands (`models import`, `twins …`, `relationships …`, `query`) against a live server."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from tests.support.dtdl_samples import FLOOR, ROOM, models
from tests.support.platform import ApiRig, api_rig, live_server
from tests.support.services import free_port
from tvilling.cli.main import app
from tvilling.core.roles import Role

runner = CliRunner()


def last_json(output: str) -> dict[str, Any]:
    return json.loads(output.strip().splitlines()[-1])


def test_serve_prints_first_token_once_and_refuses_foreign_schema(tmp_path: Path) -> None:
    db = tmp_path / "data" / "tv.db"
    port = free_port()
    cmd = [sys.executable, "-m", "tvilling.cli.main", "serve", "--db", f"sqlite:///{db}", "--port", str(port)]
    env = {**os.environ, "TVILLING_LOG_LEVEL": "warning"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "server did not come up"
            time.sleep(0.1)
        assert httpx.get(f"http://127.0.0.1:{port}/api/v1/twins").status_code == 401
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=20)
    tokens = re.findall(r"tvl_[0-9a-f]{16}_[0-9a-f]{48}", err)
    assert len(tokens) == 1
    # The second start finds tenants and prints no token.
    out = runner.invoke(app, ["token", "create", "--role", "viewer", "--db", f"sqlite:///{db}", "--json"])
    assert out.exit_code == 0, out.output
    assert last_json(out.stdout)["role"] == "viewer"
    # A database stamped by a newer release: serve refuses with one line and a non-zero exit.
    import sqlite3

    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE alembic_version SET version_num = 'zz_future'")
    refused = runner.invoke(app, ["serve", "--db", f"sqlite:///{db}", "--port", str(port)])
    assert refused.exit_code != 0
    assert refused.stderr.strip().splitlines()[-1].startswith("error:") and "newer" in refused.stderr


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[ApiRig, dict[str, str]]]:
    with api_rig(f"sqlite:///{tmp_path / 'cli.db'}", seed_models=False) as rig, \
            live_server(rig.platform.app) as url:
        yield rig, {"TVILLING_URL": url, "TVILLING_TOKEN": rig.tokens[("acme", Role.ENGINEER)]}


def test_commands_through_the_sdk(served: tuple[ApiRig, dict[str, str]], tmp_path: Path) -> None:
    _, env = served
    folder = tmp_path / "models"
    folder.mkdir()
    for i, doc in enumerate(models()):
        (folder / f"m{i}.json").write_text(json.dumps(doc))

    def tv(*args: str) -> dict[str, Any]:
        result = runner.invoke(app, [*args, "--json"], env=env)
        assert result.exit_code == 0, (args, result.output)
        return last_json(result.stdout)

    assert tv("models", "import", str(folder))["count"] == 5
    tv("twins", "create", "r1", "--model", ROOM, "--set", "temperature=20.5", "--set", "name=lab",
       "--set", 'thermostat={"$metadata": {}, "setpoint": 21}')
    tv("twins", "create", "f1", "--model", FLOOR, "--set", "level=2")
    assert tv("twins", "get", "r1")["temperature"] == 20.5
    assert tv("twins", "patch", "r1", "--set", "temperature=22")["temperature"] == 22
    assert tv("twins", "patch", "r1", "--patch", '[{"op": "replace", "path": "/name", "value": "x"}]')["name"] == "x"
    assert tv("twins", "list", "--model", ROOM)["count"] == 1
    tv("relationships", "create", "f1", "c1", "--target", "r1", "--name", "contains")
    assert tv("relationships", "list", "f1")["count"] == 1
    assert tv("relationships", "incoming", "r1")["relationships"][0]["$sourceId"] == "f1"
    rows = tv("query", "SELECT * FROM DIGITALTWINS")
    assert rows["count"] == 2

    failed = runner.invoke(app, ["twins", "delete", "r1"], env=env)  # still has a relationship
    assert failed.exit_code != 0
    assert failed.stderr.count("\n") == 1 and failed.stderr.startswith("error:") and "relationship" in failed.stderr
    tv("relationships", "delete", "f1", "c1")
    assert tv("twins", "delete", "r1")["deleted"] == "r1"
    missing = runner.invoke(app, ["twins", "get", "r1"], env=env)
    assert missing.exit_code != 0 and "not found" in missing.stderr


def test_unreachable_server_is_one_line(tmp_path: Path) -> None:
    result = runner.invoke(app, ["twins", "get", "x"], env={"TVILLING_URL": "http://127.0.0.1:9",
                                                             "TVILLING_TOKEN": "t"})
    assert result.exit_code != 0 and result.stderr.startswith("error: cannot reach")
