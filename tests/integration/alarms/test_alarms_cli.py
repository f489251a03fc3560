"""`tvilling alarms list|ack|rules` against a live server, through the SDK."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from tests.support.platform import api_rig, live_server
from tvilling.app.alarms import alarm_service
from tvilling.cli.main import app
from tvilling.core.roles import Role

runner = CliRunner()


def last_json(output: str) -> Any:
    return json.loads(output.strip().splitlines()[-1])


def test_list_ack_and_rules(tmp_path: Path) -> None:
    with api_rig(f"sqlite:///{tmp_path / 'cli.db'}", seed_models=False) as rig, \
            live_server(rig.platform.app) as url:
        svc = alarm_service(rig.platform.app.state, rig.platform.services)
        hot = svc.raise_alarm("acme", "boiler-1", "temperature", "critical", "too hot")
        svc.raise_alarm("globex", "boiler-1", "temperature", "critical", "not yours")

        def run(role: Role, *args: str) -> Any:
            env = {"TVILLING_URL": url, "TVILLING_TOKEN": rig.tokens[("acme", role)]}
            return runner.invoke(app, ["alarms", *args], env=env)

        out = run(Role.VIEWER, "list", "--json")
        assert out.exit_code == 0, out.output
        assert [(a["id"], a["state"]) for a in last_json(out.stdout)["value"]] == [(hot.id, "active")]
        denied = run(Role.VIEWER, "ack", hot.id)
        assert denied.exit_code != 0 and denied.stderr.strip().startswith("error:")
        out = run(Role.OPERATOR, "ack", hot.id, "-m", "burner off", "--json")
        assert out.exit_code == 0, out.output
        acked = last_json(out.stdout)
        assert (acked["state"], acked["ackComment"]) == ("acknowledged", "burner off")
        out = run(Role.VIEWER, "list", "--state", "acknowledged", "--severity", "critical", "--json")
        assert [a["id"] for a in last_json(out.stdout)["value"]] == [hot.id]
        out = run(Role.VIEWER, "rules", "--json")
        assert out.exit_code == 0 and last_json(out.stdout) == {"value": [], "problems": []}
        missing = run(Role.OPERATOR, "ack", "no-such-alarm")
        assert missing.exit_code != 0 and "not found" in missing.stderr
