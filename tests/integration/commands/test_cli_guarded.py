"""Guarded commands from the CLI against a live server, the plant behind a real Mosquitto: `commands send` of a
command that needs approval returns at once; `commands approve` by another engineer dispatches it to the device;
the requester cannot approve their own; `commands reject`; `killswitch engage|status|release` with a send refused
in between; `audit list` and `audit verify` (through the server and offline on the database file) find a record
edited in the database."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.integration.commands.rig import TENANT, command_rig, write_mappings
from tests.support.mosquitto import mosquitto_broker  # noqa: F401  (pytest fixture)
from tvilling.cli.main import app
from tvilling.core.roles import Role

pytestmark = pytest.mark.mosquitto
runner = CliRunner()
ROWS = [{"twin": "chiller-1", "command": "set_setpoint_c", "transport": "mqtt", "topic": "plant/chiller-1/commands",
         "guard": {"approvals": 1}}]


def last_json(output: str) -> Any:
    return json.loads(output.strip().splitlines()[-1])


def one_line(result: Any) -> str:
    """The error line of a failed command: non-zero exit and exactly one line on stderr."""
    assert result.exit_code != 0, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    text: str = lines[0]
    return text


def test_approve_reject_killswitch_and_audit(mosquitto_broker: int, tmp_path: Path) -> None:  # noqa: F811
    with command_rig(tmp_path, f"mqtt://127.0.0.1:{mosquitto_broker}", write_mappings(tmp_path / "c.yaml", ROWS),
                     live=True) as rig:
        tokens = rig.platform.services.tokens
        eng_a, eng_b = (tokens.create(TENANT, Role.ENGINEER, name).token for name in ("eng-a", "eng-b"))

        def cli(token: str, *args: str, **kwargs: Any) -> Any:
            return runner.invoke(app, [*args, "--url", rig.url, "--token", token], env={"COLUMNS": "200"}, **kwargs)

        # An operator's request waits for approval: printed at once, stderr names the approve command, exit 0.
        sent = cli(rig.token, "commands", "send", "chiller-1", "set_setpoint_c", "-p", "9.5", "--id", "g-1", "--json")
        assert sent.exit_code == 0, sent.output
        cmd = last_json(sent.stdout)
        assert cmd["state"] == "pending_approval" and cmd["approvalsRequired"] == 1 and len(cmd["digest"]) == 64
        assert sent.stderr.strip() == "command g-1 waits for 1 approval(s): tvilling commands approve g-1"
        assert rig.plant.chiller.setpoint_c != 9.5
        pending = cli(rig.token, "commands", "pending", "--json")
        assert pending.exit_code == 0 and [c["commandId"] for c in last_json(pending.stdout)["value"]] == ["g-1"]
        table = cli(rig.token, "commands", "pending")
        assert table.exit_code == 0 and "g-1" in table.stdout and "chiller-1" in table.stdout

        # The requester (an engineer here) cannot approve their own command: the two-person rule.
        mine = cli(eng_a, "commands", "send", "chiller-1", "set_setpoint_c", "-p", "8", "--id", "g-self")
        assert mine.exit_code == 0, mine.output
        assert "two-person rule" in one_line(cli(eng_a, "commands", "approve", "g-self", "--yes"))
        # Answering no approves nothing; another engineer's approval is bound to the digest shown, then it runs.
        assert "not approved" in one_line(cli(eng_b, "commands", "approve", "g-1", input="n\n"))
        assert "not approved" in one_line(cli(eng_b, "commands", "approve", "g-1"))  # no answer at all (EOF)
        assert rig.wait_state("g-1", {"pending_approval"})["approvals"] == []
        approved = cli(eng_b, "commands", "approve", "g-1", "--wait", "--json", input="y\n")
        assert approved.exit_code == 0, approved.output
        assert cmd["digest"] in approved.stdout and "requested by" in approved.stdout
        done = last_json(approved.stdout)
        assert done["state"] == "acked" and [a["actor"] for a in done["approvals"]] != [cmd["context"]["actor"]]
        assert rig.plant.chiller.setpoint_c == 9.5
        assert "acked, not waiting for approval" in one_line(cli(eng_b, "commands", "approve", "g-1", "--yes"))

        rejected = cli(eng_b, "commands", "reject", "g-self", "--reason", "not today", "--json")
        assert rejected.exit_code == 0, rejected.output
        assert last_json(rejected.stdout)["state"] == "rejected" and "not today" in last_json(rejected.stdout)["reason"]

        # The kill switch: an operator engages it (canceling what waits), a send is refused, an engineer releases.
        waiting = cli(rig.token, "commands", "send", "chiller-1", "set_setpoint_c", "-p", "9", "--id", "g-2")
        assert waiting.exit_code == 0, waiting.output
        engaged = cli(rig.token, "killswitch", "engage", "--reason", "drill")
        assert engaged.exit_code == 0, engaged.output
        assert "engaged for the whole tenant" in engaged.stdout and "1 open command(s) canceled" in engaged.stdout
        assert rig.wait_state("g-2", {"canceled"})["reason"].startswith("kill switch engaged")
        status = cli(rig.token, "killswitch", "status", "--json")
        assert [(k["scope"], k["reason"]) for k in last_json(status.stdout)["value"]] == [("*", "drill")]
        refused = one_line(cli(rig.token, "commands", "send", "chiller-1", "set_setpoint_c", "-p", "9"))
        assert "kill switch for the whole tenant is engaged" in refused
        assert "engineer" in one_line(cli(rig.token, "killswitch", "release"))  # an operator may not release it
        released = cli(eng_a, "killswitch", "release", "--reason", "drill over")
        assert released.exit_code == 0 and "released for the whole tenant" in released.stdout
        assert "no kill switch is engaged" in cli(rig.token, "killswitch", "status").stdout

        # The audit trail has it all, and verifies.
        listed = cli(eng_a, "audit", "list", "--limit", "1000", "--json")
        assert listed.exit_code == 0, listed.output
        actions = {r["action"] for r in last_json(listed.stdout)["value"]}
        assert {"approval.given", "approval.denied", "killswitch.engaged", "killswitch.released",
                "command.refused", "command.acked", "command.rejected", "command.canceled"} <= actions
        about = cli(eng_a, "audit", "list", "--subject", "g-1", "--json")
        assert {r["subject"] for r in last_json(about.stdout)["value"]} == {"g-1"}
        assert "killswitch.engaged" in cli(eng_a, "audit", "list", "--category", "killswitch").stdout
        verified = cli(eng_a, "audit", "verify")
        assert verified.exit_code == 0 and verified.stdout.startswith("audit trail ok, "), verified.output
        database = f"sqlite:///{tmp_path / 'cmd.db'}"
        offline = runner.invoke(app, ["audit", "verify", "--database", database])
        assert offline.exit_code == 0 and offline.stdout.startswith(f"tenant {TENANT}: ok, "), offline.output

        # Someone edits record 2 in the database: both checks name it.
        with sqlite3.connect(tmp_path / "cmd.db", timeout=10) as db:
            db.execute("""UPDATE audit_log SET text = replace(text, '"actor":"', '"actor":"x') WHERE n = 2""")
        broken = one_line(cli(eng_a, "audit", "verify"))
        assert "does not verify at record 2" in broken and "changed after it was written" in broken
        broken = one_line(runner.invoke(app, ["audit", "verify", "--database", database, "--tenant", TENANT]))
        assert f"tenant {TENANT} does not verify at record 2" in broken
        as_json = runner.invoke(app, ["audit", "verify", "--db", database, "--json"])
        assert as_json.exit_code == 1 and last_json(as_json.stdout)["tenants"][TENANT]["firstBad"] == 2
