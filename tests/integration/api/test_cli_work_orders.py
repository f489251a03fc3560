"""`tvilling work-orders list|show|create|approve|reject|complete|cancel|policy` against a live server (through the
SDK): work orders made by hand, and one proposed by the policy from a degrading twin's insights."""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner, Result

from tests.support import dtdl_samples
from tests.support.platform import ApiRig, api_rig, live_server
from tests.support.services import until
from tests.unit.app.test_monitoring import SPEC, degrading, telemetry
from tests.unit.app.test_work_orders import service
from tvilling.app.monitoring import MonitoringService
from tvilling.app.monitoring_config import MonitoringConfig
from tvilling.cli.main import app
from tvilling.core.roles import Role

runner = CliRunner()
RULE = {"id": "room-72h", "model": dtdl_samples.ROOM, "p_failure": 0.5, "mode": "approve", "priority": "urgent",
        "title": "Service {twin}: P(failure within {horizon_hours} h) = {p_failure}"}
Cli = Callable[..., Result]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[ApiRig, Cli]]:
    """A live server whose work-order policy reads a ``maintenance.yaml`` with one approve-mode rule."""
    path = tmp_path / "maintenance.yaml"
    path.write_text(yaml.safe_dump({"version": 1, "rules": [RULE]}), encoding="utf-8")
    with api_rig(f"sqlite:///{tmp_path / 'cli.db'}", maintenance_file=path) as rig, \
            live_server(rig.platform.app) as url:
        for twin in ("office-1", "office-2"):
            r = rig.call("PUT", f"/api/v1/twins/{twin}", json=dtdl_samples.room(model=dtdl_samples.OFFICE))
            assert r.status_code in (200, 201), r.text
        until(lambda: service(rig).worker.attached and bool(service(rig).policy.rules))

        def wo(role: Role, *args: str) -> Result:
            env = {"TVILLING_URL": url, "TVILLING_TOKEN": rig.tokens[("acme", role)], "COLUMNS": "200"}
            return runner.invoke(app, ["work-orders", *args], env=env)

        yield rig, wo


def last_json(output: str) -> Any:
    return json.loads(output.strip().splitlines()[-1])


def one_line_error(result: Result) -> str:
    lines = result.stderr.strip().splitlines()
    assert result.exit_code != 0 and len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_by_hand_create_list_complete_show(served: tuple[ApiRig, Cli]) -> None:
    _rig, wo = served
    out = wo(Role.OPERATOR, "create", "--twin", "office-2", "--title", "Check the [damper]", "--priority", "low",
             "--description", "it rattles", "--due", "2026-12-01T08:00:00Z", "--json")
    assert out.exit_code == 0, out.stderr
    order = last_json(out.stdout)
    assert (order["state"], order["mode"], order["priority"], order["dueBy"]) == \
        ("open", "manual", "low", "2026-12-01T08:00:00Z")
    listed = wo(Role.VIEWER, "list")
    assert listed.exit_code == 0, listed.stderr
    assert order["id"] in listed.stdout and "Check the [damper]" in listed.stdout  # whole id; no Rich markup
    assert "2026-12-01 08:00" in listed.stdout
    assert [o["id"] for o in last_json(wo(Role.VIEWER, "list", "--twin", "office-2", "--json").stdout)["value"]] \
        == [order["id"]]
    assert last_json(wo(Role.VIEWER, "list", "--twin", "office-1", "--json").stdout)["value"] == []

    line = one_line_error(wo(Role.OPERATOR, "approve", order["id"]))
    assert "is open" in line and "cannot be approved" in line and "complete" in line
    done = wo(Role.OPERATOR, "complete", order["id"], "-m", "damper fixed")
    assert done.exit_code == 0 and f"work order {order['id']} completed: now done" in done.stdout, done.stderr
    assert last_json(wo(Role.VIEWER, "list", "--json").stdout)["value"] == []  # default: live only
    assert [o["state"] for o in last_json(wo(Role.VIEWER, "list", "--state", "done", "--state", "cancelled",
                                             "--json").stdout)["value"]] == ["done"]

    shown = wo(Role.VIEWER, "show", order["id"])
    assert shown.exit_code == 0, shown.stderr
    assert "transitions" in shown.stdout and "completed" in shown.stdout and "damper fixed" in shown.stdout
    detail = last_json(wo(Role.VIEWER, "show", order["id"], "--json").stdout)
    assert [(t["kind"], t["state"]) for t in detail["transitions"]] == [("created", "open"), ("completed", "done")]
    assert detail["transitions"][1]["comment"] == "damper fixed"

    assert "operator" in one_line_error(wo(Role.VIEWER, "create", "--twin", "office-2", "--title", "x"))
    cancelled = wo(Role.OPERATOR, "cancel", order["id"], "--json")
    assert "is done" in one_line_error(cancelled) and cancelled.stdout == ""


def test_errors_are_one_line(served: tuple[ApiRig, Cli]) -> None:
    _rig, wo = served
    for args, message in [
        (("create", "--twin", "ghost", "--title", "x"), "twin 'ghost' does not exist"),
        (("create", "--twin", "office-1", "--title", "x", "--priority", "asap"), "'urgent'"),
        (("create", "--twin", "office-1", "--title", "x", "--due", "2026-12-01T08:00"), "timezone"),
        (("list", "--state", "finished"), "unknown work-order state"),
        (("show", "nope"), "not found"),
        (("reject", "nope", "-m", "no"), "not found"),
    ]:
        assert message in one_line_error(wo(Role.OPERATOR, *args)), args


def test_policy_proposes_from_insights_and_the_cli_approves(served: tuple[ApiRig, Cli]) -> None:
    rig, wo = served
    view = last_json(wo(Role.VIEWER, "policy", "--json").stdout)
    assert (view["mode"], [r["id"] for r in view["rules"]], view["autoReleasedLast24h"]) == ("auto", ["room-72h"], 0)

    monitoring = MonitoringService(rig.platform.services, MonitoringConfig((SPEC,)))
    rng = random.Random(3)
    monitoring.process([telemetry("acme", "office-1", i, degrading(i, 150, rng)) for i in range(600)])
    until(lambda: service(rig).worker.idle)  # the server decides in its worker thread

    [proposed] = last_json(wo(Role.VIEWER, "list", "--state", "proposed", "--json").stdout)["value"]
    assert (proposed["twinId"], proposed["ruleId"], proposed["createdBy"], proposed["priority"]) == \
        ("office-1", "room-72h", "policy:room-72h", "urgent")
    listed = wo(Role.VIEWER, "list")
    assert proposed["id"] in listed.stdout and "proposed" in listed.stdout and "policy:room-72h" in listed.stdout
    shown = wo(Role.VIEWER, "show", proposed["id"])
    assert shown.exit_code == 0 and "evidence" in shown.stdout and "the rule asks for approval" in shown.stdout

    assert "operator" in one_line_error(wo(Role.VIEWER, "approve", proposed["id"]))
    approved = wo(Role.OPERATOR, "approve", proposed["id"], "-m", "parts in stock", "--json")
    assert approved.exit_code == 0, approved.stderr
    assert (last_json(approved.stdout)["state"], last_json(approved.stdout)["comment"]) == ("open", "parts in stock")
    detail = last_json(wo(Role.VIEWER, "show", proposed["id"], "--json").stdout)
    assert [(t["kind"], t["state"]) for t in detail["transitions"]] == [("created", "proposed"), ("approved", "open")]

    policy = wo(Role.VIEWER, "policy")
    assert policy.exit_code == 0 and "room-72h" in policy.stdout and "mode: auto" in policy.stdout
    view = last_json(wo(Role.VIEWER, "policy", "--json").stdout)
    assert (view["autoReleasedLast24h"], view["stats"]["proposed"]) == (0, 1)  # the limit counts automatic releases


def test_the_kill_switch_operators_lower_engineers_raise(served: tuple[ApiRig, Cli]) -> None:
    rig, wo = served
    assert "mode: auto (file: auto; no tenant cap)" in wo(Role.VIEWER, "policy").stdout
    off = wo(Role.OPERATOR, "mode", "off", "-m", "planners\non strike")
    assert off.exit_code == 0, off.stderr
    [line] = off.stdout.strip().splitlines()  # one line, the comment's newline folded
    assert line.startswith("work-order mode for this tenant: off (file: auto; set by token:") and \
        line.endswith(' UTC: "planners on strike")'), line
    view = last_json(wo(Role.VIEWER, "policy", "--json").stdout)
    assert (view["mode"], view["fileMode"], view["tenantMode"], view["modeComment"]) == \
        ("off", "auto", "off", "planners\non strike")
    assert view["modeChangedBy"].startswith("token:") and view["modeChangedAt"]
    shown = wo(Role.VIEWER, "policy")
    assert shown.exit_code == 0 and "mode: off (file: auto; set by token:" in shown.stdout, shown.stderr

    # Off means off: the degrading twin gets no work order, and the policy says why.
    monitoring = MonitoringService(rig.platform.services, MonitoringConfig((SPEC,)))
    rng = random.Random(3)
    monitoring.process([telemetry("acme", "office-1", i, degrading(i, 150, rng)) for i in range(600)])
    until(lambda: service(rig).worker.idle)
    assert last_json(wo(Role.VIEWER, "list", "--json").stdout)["value"] == []

    line = one_line_error(wo(Role.OPERATOR, "mode", "auto"))
    assert "engineer" in line and "off -> auto" in line
    assert "operator" in one_line_error(wo(Role.VIEWER, "mode", "off"))
    assert "mode" in one_line_error(wo(Role.OPERATOR, "mode", "sometimes"))
    assert last_json(wo(Role.VIEWER, "policy", "--json").stdout)["mode"] == "off"  # refusals changed nothing

    raised = wo(Role.ENGINEER, "mode", "auto", "--json")
    assert raised.exit_code == 0, raised.stderr
    view = last_json(raised.stdout)
    assert (view["mode"], view["tenantMode"], view["modeComment"]) == ("auto", "auto", None)
    again = wo(Role.OPERATOR, "mode", "approve")
    assert again.exit_code == 0 and "work-order mode for this tenant: approve (file: auto; set by" in again.stdout
