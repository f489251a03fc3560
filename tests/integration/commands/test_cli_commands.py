"""`tvilling commands send|get|list` against a live server with the plant behind a real Mosquitto."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.integration.commands.rig import command_rig, write_mappings
from tests.support.mosquitto import mosquitto_broker  # noqa: F401  (pytest fixture)
from tvilling.cli.main import app

pytestmark = pytest.mark.mosquitto
runner = CliRunner()
ROWS = [{"twin": "chiller-1", "command": "set_setpoint_c", "transport": "mqtt", "topic": "plant/chiller-1/commands"}]


def last_json(output: str) -> Any:
    return json.loads(output.strip().splitlines()[-1])


def test_send_get_list(mosquitto_broker: int, tmp_path: Path) -> None:  # noqa: F811
    with command_rig(tmp_path, f"mqtt://127.0.0.1:{mosquitto_broker}", write_mappings(tmp_path / "c.yaml", ROWS),
                     live=True) as rig:
        auth = ["--url", rig.url, "--token", rig.token]
        r = runner.invoke(app, ["commands", "send", "chiller-1", "set_setpoint_c", "--payload", "9.5", "--id",
                                "cli-1", "--json", *auth])
        assert r.exit_code == 0, r.output
        assert last_json(r.stdout)["state"] == "acked" and rig.plant.chiller.setpoint_c == 9.5
        refused = runner.invoke(app, ["commands", "send", "chiller-1", "set_setpoint_c", "-p", "99", *auth])
        assert refused.exit_code != 0 and "failed" in refused.stderr and "outside" in refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1
        got = runner.invoke(app, ["commands", "get", "cli-1", "--json", *auth])
        assert got.exit_code == 0 and last_json(got.stdout)["commandId"] == "cli-1"
        listed = runner.invoke(app, ["commands", "list", "chiller-1", "--json", *auth])
        assert listed.exit_code == 0 and last_json(listed.stdout)["count"] == 2
        unknown = runner.invoke(app, ["commands", "send", "chiller-1", "fly", *auth])
        assert unknown.exit_code != 0 and "no command 'fly'" in unknown.stderr
