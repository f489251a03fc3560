"""`tvilling maintenance plan FILE|--live` and `tvilling maintenance check FILE`: offline documents, a live server's
plan (through the SDK), and one clear line with a non-zero exit for what is wrong."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from typer.testing import CliRunner

from tests.support.dtdl_samples import room
from tests.support.platform import api_rig, live_server
from tvilling.cli.main import app
from tvilling.core.roles import Role

runner = CliRunner()
EXAMPLE = Path(__file__).parents[3] / "examples" / "bottling-plant" / "planning.yaml"
DOC: dict[str, Any] = {
    "start": "2026-12-07T00:00:00Z", "horizon_days": 14,
    "calendar": {"downtime_cost_per_hour": {"default": 3000, "saturday": 0, "sunday": 0}},
    "tasks": [{"id": "pump", "title": "Pump bearing", "line": "L", "duration_hours": 4, "preventive_cost": 1000,
               "failure_cost": 9000, "failure_downtime_hours": 24,
               "failure": {"rul_hours": {"lower": 200, "upper": 800}}}]}


def last_json(output: str) -> Any:
    return json.loads(output.strip().splitlines()[-1])


def test_plan_a_document_offline(tmp_path: Path) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(DOC))
    result = runner.invoke(app, ["maintenance", "plan", str(path), "--json"])
    assert result.exit_code == 0, result.output
    plan = last_json(result.stdout)
    assert plan["status"] == "optimal" and plan["tasks"][0]["date"] in ("2026-12-12", "2026-12-13")
    table = runner.invoke(app, ["maintenance", "plan", str(path)], env={"COLUMNS": "160"})
    assert table.exit_code == 0 and "optimal plan from 2026-12-07 over 14 days" in table.stdout
    assert "Pump bearing" in table.stdout
    # A buffer between the pump and the line: the line column says when the line stops.
    path.write_text(yaml.safe_dump({**DOC, "tasks": [{**DOC["tasks"][0], "line_delay_hours": 0.5}]}))
    table = runner.invoke(app, ["maintenance", "plan", str(path)], env={"COLUMNS": "200"})
    assert table.exit_code == 0 and "L after 30 min" in table.stdout, table.stdout


def test_errors_are_one_line_and_exit_non_zero(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({**DOC, "tasks": [{**DOC["tasks"][0], "duration_hours": "long"}]}))
    result = runner.invoke(app, ["maintenance", "plan", str(bad)])
    assert result.exit_code != 0 and "tasks[0].duration_hours" in result.output
    assert result.output.startswith("error: ")
    assert runner.invoke(app, ["maintenance", "plan"]).exit_code != 0  # neither a file nor --live
    site = runner.invoke(app, ["maintenance", "plan", str(EXAMPLE)])  # a site file names models: the server's
    assert site.exit_code != 0 and "--live" in site.output


def test_check_a_site_file() -> None:
    result = runner.invoke(app, ["maintenance", "check", str(EXAMPLE), "--json"])
    assert result.exit_code == 0, result.output
    assert [t["task"] for t in last_json(result.stdout)["tasks"]] == ["replace-bearing", "clean-chiller-condenser"]


def test_live_plan_from_a_server(tmp_path: Path) -> None:
    planning = tmp_path / "planning.yaml"
    planning.write_text(yaml.safe_dump({**{k: v for k, v in DOC.items() if k != "start"}, "tasks": [
        {**DOC["tasks"][0], "id": "service", "model": "dtmi:test:Room;1", "title": "Service {twin}"}]}))
    with api_rig(f"sqlite:///{tmp_path / 'cli.db'}", planning_file=planning) as rig, \
            live_server(rig.platform.app) as url:
        env = {"TVILLING_URL": url, "TVILLING_TOKEN": rig.tokens[("acme", Role.VIEWER)], "COLUMNS": "160"}
        empty = runner.invoke(app, ["maintenance", "plan", "--live"], env=env)
        assert empty.exit_code == 0 and "nothing to plan: no twin" in empty.stdout
        assert rig.call("PUT", "/api/v1/twins/room-1", json=room()).status_code == 201
        result = runner.invoke(app, ["maintenance", "plan", "--live", "--json"], env=env)
        assert result.exit_code == 0, result.output
        body = last_json(result.stdout)
        assert [t["title"] for t in body["plan"]["tasks"]] == ["Service room-1"] and body["notPlanned"] == []
    with api_rig(f"sqlite:///{tmp_path / 'bare.db'}") as rig, live_server(rig.platform.app) as url:
        env = {"TVILLING_URL": url, "TVILLING_TOKEN": rig.tokens[("acme", Role.VIEWER)]}
        result = runner.invoke(app, ["maintenance", "plan", "--live"], env=env)
        assert result.exit_code != 0 and "no planning.yaml" in result.output


def test_the_readme_example_plans() -> None:
    result = runner.invoke(app, ["maintenance", "plan", str(EXAMPLE.parents[1] / "maintenance" / "plan.yaml"),
                                 "--json"])
    assert result.exit_code == 0, result.output
    plan = last_json(result.stdout)
    assert plan["status"] == "optimal" and not plan["violations"]
    assert {t["task"] for t in plan["tasks"]} == {"pump-bearing", "filler-bearing", "conveyor-motor", "chiller-clean"}
    assert all(t["pFailureBefore"] <= 0.2 for t in plan["tasks"])
