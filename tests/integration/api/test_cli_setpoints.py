"""`tvilling setpoints …` against a live server (through the SDK): list the loops, show one, page its proposals,
enable (engineer) and disable (operator) autonomy, as tables and with --json; every error is one line on stderr and
a non-zero exit."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from tests.integration.api.test_access_matrix import _proposal, _setpoints
from tests.integration.api.test_cli_work_orders import last_json, one_line_error
from tests.support.platform import ApiRig, api_rig, live_server
from tvilling.cli.main import app
from tvilling.core.roles import Role

runner = CliRunner()
Cli = Callable[..., Result]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[ApiRig, Cli]]:
    with api_rig(f"sqlite:///{tmp_path / 'cli.db'}", seed_models=False) as rig, \
            live_server(rig.platform.app) as url:
        _setpoints(rig)

        def setpoints(role: Role, *args: str, tenant: str = "acme") -> Result:
            env = {"TVILLING_URL": url, "TVILLING_TOKEN": rig.tokens[(tenant, role)], "COLUMNS": "250"}
            return runner.invoke(app, ["setpoints", *args], env=env)

        yield rig, setpoints


def _moves(rig: ApiRig, created_at: str, heating: tuple[float, float], saving: float, **extra: object) -> str:
    current = {"heatingSetpoint": heating[0], "coolingSetpoint": 24.0, "energyKwh": 10.0}
    proposed = {"heatingSetpoint": heating[1], "coolingSetpoint": 24.0, "energyKwh": 10.0 - saving}
    body = _proposal(rig, "hall", created_at, current=current, proposed=proposed, savingKwh=saving,
                     changes=heating[0] != heating[1], confidence={"confident": True}, **extra)
    return str(body["id"])


def test_list_show_and_proposals(served: tuple[ApiRig, Cli]) -> None:
    rig, setpoints = served
    listed = setpoints(Role.VIEWER, "list")
    assert listed.exit_code == 0, listed.stderr
    assert "hall" in listed.stdout and "office" in listed.stdout and "21..23 degC" in listed.stdout
    assert "off (not enabled yet)" in listed.stdout and "recommend" in listed.stdout
    as_json = last_json(setpoints(Role.VIEWER, "list", "--json").stdout)
    assert [lp["name"] for lp in as_json["value"]] == ["hall", "office"] and as_json["count"] == 2

    first = _moves(rig, "2024-05-01T12:00:00Z", (20.0, 20.0), 0.0, decision="unchanged")
    second = _moves(rig, "2024-05-01T12:15:00Z", (20.0, 21.5), 1.25, reasons=["the hall warms up by itself"])
    shown = setpoints(Role.VIEWER, "show", "hall")
    assert shown.exit_code == 0, shown.stderr
    assert "20 -> 21.5" in shown.stdout and "1.25 kWh" in shown.stdout and "the hall warms up" in shown.stdout
    assert last_json(setpoints(Role.VIEWER, "show", "hall", "--json").stdout)["last"]["id"] == second

    table = setpoints(Role.VIEWER, "proposals", "hall")
    assert table.exit_code == 0, table.stderr
    assert "2024-05-01 12:15:00" in table.stdout and "unchanged" in table.stdout and "older:" not in table.stdout
    page = last_json(setpoints(Role.VIEWER, "proposals", "hall", "--limit", "1", "--json").stdout)
    assert [p["id"] for p in page["value"]] == [second] and page["nextBefore"]
    paged = setpoints(Role.VIEWER, "proposals", "hall", "--limit", "1")
    assert f"--before '{page['nextBefore']}'" in paged.stdout
    older = last_json(setpoints(Role.VIEWER, "proposals", "hall", "--before", page["nextBefore"], "--json").stdout)
    assert [p["id"] for p in older["value"]] == [first] and older["nextBefore"] is None
    assert "no proposals of setpoint loop office yet" in setpoints(Role.VIEWER, "proposals", "office").stdout

    assert "is not a page cursor" in one_line_error(setpoints(Role.VIEWER, "proposals", "hall", "--before", "x"))
    assert "'nope' does not exist" in one_line_error(setpoints(Role.VIEWER, "show", "nope"))
    assert "'hall' does not exist" in one_line_error(setpoints(Role.ADMIN, "show", "hall", tenant="globex"))
    assert "no setpoint loops" in setpoints(Role.VIEWER, "list", tenant="globex").stdout


def test_enable_and_disable(served: tuple[ApiRig, Cli]) -> None:
    rig, setpoints = served
    assert "engineer" in one_line_error(setpoints(Role.OPERATOR, "enable", "hall"))
    enabled = setpoints(Role.ENGINEER, "enable", "hall")
    assert enabled.exit_code == 0, enabled.stderr
    assert enabled.stdout.startswith("setpoint loop hall: autonomy enabled by token:")
    assert " on " in setpoints(Role.VIEWER, "list").stdout
    assert "recommend mode" in one_line_error(setpoints(Role.ENGINEER, "enable", "office"))

    assert "operator" in one_line_error(setpoints(Role.VIEWER, "disable", "hall"))
    disabled = setpoints(Role.OPERATOR, "disable", "hall", "--reason", "odd readings")
    assert disabled.exit_code == 0, disabled.stderr
    assert "autonomy off (disabled by token:" in disabled.stdout and ": odd readings)" in disabled.stdout
    again = last_json(setpoints(Role.OPERATOR, "disable", "hall", "--json").stdout)
    assert again["autonomy"]["enabled"] is False and again["autonomy"]["suspendedReason"].startswith("disabled by")
    records = rig.call("GET", "/api/v1/audit", params={"category": "setpoint"}).json()["value"]
    assert [r["action"] for r in records] == ["setpoint.disabled", "setpoint.disabled", "setpoint.enabled"]


def test_no_server_is_one_line(tmp_path: Path) -> None:
    result = runner.invoke(app, ["setpoints", "list", "--url", "http://127.0.0.1:9", "--token", "t"])
    assert "cannot reach the server" in one_line_error(result)
