"""`tvilling registry list|show|promote|rollback` against a live server (through the SDK)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.support.platform import ApiRig, api_rig, live_server
from tvilling.app.registry import registry_for
from tvilling.cli.main import app
from tvilling.core.context import Context
from tvilling.core.roles import Role

runner = CliRunner()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[ApiRig, dict[str, str]]]:
    with api_rig(f"sqlite:///{tmp_path / 'cli.db'}") as rig, live_server(rig.platform.app) as url:
        registry = registry_for(rig.platform.services)
        for mae in (0.9, 0.7):
            registry.register("acme", "pump-1:anomaly", "anomaly", b"{}", "test/1", Context.new(actor="monitoring"),
                              metrics={"residual_mae": mae}, lineage={"reason": "warmup"}, promote=True)
        yield rig, {"TVILLING_URL": url, "TVILLING_TOKEN": rig.tokens[("acme", Role.ENGINEER)]}


def tv(env: dict[str, str], *args: str) -> Any:
    return runner.invoke(app, ["registry", *args], env=env)


def last_json(output: str) -> Any:
    return json.loads(output.strip().splitlines()[-1])


def test_registry_cli(served: tuple[ApiRig, dict[str, str]]) -> None:
    rig, env = served
    listed = last_json(tv(env, "list", "--json").stdout)["value"]
    assert listed == [{"name": "pump-1:anomaly", "kind": "anomaly", "versions": 2, "latest_version": 2,
                       "production_version": 2}]
    shown = last_json(tv(env, "show", "pump-1:anomaly", "--json").stdout)
    assert [(v["version"], v["stage"]) for v in shown["versions"]] == [(1, "archived"), (2, "production")]
    one = last_json(tv(env, "show", "pump-1:anomaly", "--version", "1", "--json").stdout)
    assert one["metrics"] == {"residual_mae": 0.9} and one["created_by"] == "monitoring"
    rolled = last_json(tv(env, "rollback", "pump-1:anomaly", "--json").stdout)
    assert rolled["version"] == 1 and rolled["stage"] == "production"
    promoted = tv(env, "promote", "pump-1:anomaly", "2")
    assert promoted.exit_code == 0 and "promoted version 2" in promoted.stdout
    table = tv(env, "show", "pump-1:anomaly")
    assert table.exit_code == 0 and "production" in table.stdout and "mae=0.7" in table.stdout  # folded, never cut

    missing = tv(env, "promote", "pump-1:anomaly", "9")
    assert missing.exit_code != 0 and missing.stderr.startswith("error:") and len(missing.stderr.splitlines()) == 1
    viewer = {**env, "TVILLING_TOKEN": rig.tokens[("acme", Role.VIEWER)]}
    denied = tv(viewer, "rollback", "pump-1:anomaly")
    assert denied.exit_code != 0 and "engineer" in denied.stderr
    other = {**env, "TVILLING_TOKEN": rig.tokens[("globex", Role.ADMIN)]}
    assert last_json(tv(other, "list", "--json").stdout) == {"value": []}
