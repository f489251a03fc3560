"""`tvilling fmu upload|list|delete` against a live server's FMU library (through the SDK)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from tests.support.platform import ApiRig, api_rig, live_server
from tvilling.cli.main import app
from tvilling.core.roles import Role

runner = CliRunner()
Cli = Callable[..., Result]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[ApiRig, Cli]]:
    with api_rig(f"sqlite:///{tmp_path / 'cli.db'}", seed_models=False) as rig, live_server(rig.platform.app) as url:

        def fmu(role: Role, *args: str) -> Result:
            env = {"TVILLING_URL": url, "TVILLING_TOKEN": rig.tokens[("acme", role)], "COLUMNS": "200"}
            return runner.invoke(app, ["fmu", *args], env=env)

        yield rig, fmu


def test_upload_list_and_delete(served: tuple[ApiRig, Cli], thermal_zone_fmus: dict[str, Path]) -> None:
    _, fmu = served
    up = fmu(Role.ENGINEER, "upload", str(thermal_zone_fmus["3.0"]), "--name", "Hall", "--json")
    assert up.exit_code == 0, up.stderr
    ident = json.loads(up.stdout.strip().splitlines()[-1])["id"]
    listed = fmu(Role.VIEWER, "list")
    assert listed.exit_code == 0 and ident in listed.stdout
    assert "Hall  ThermalZone  FMI 3.0  8 variables" in listed.stdout
    assert json.loads(fmu(Role.VIEWER, "list", "--json").stdout.strip().splitlines()[-1])["count"] == 1
    again = fmu(Role.ENGINEER, "upload", str(thermal_zone_fmus["3.0"]))
    assert again.exit_code == 1 and f"already in the library as {ident}" in again.stderr
    assert fmu(Role.ENGINEER, "delete", ident).stdout.strip() == f"deleted {ident}"
    gone = fmu(Role.ENGINEER, "delete", ident)
    assert gone.exit_code == 1 and len(gone.stderr.strip().splitlines()) == 1 and ident in gone.stderr


def test_refusals_are_one_line(served: tuple[ApiRig, Cli], thermal_zone_fmus: dict[str, Path],
                               tmp_path: Path) -> None:
    _, fmu = served
    denied = fmu(Role.OPERATOR, "upload", str(thermal_zone_fmus["2.0"]))
    assert denied.exit_code == 1 and "engineer" in denied.stderr and len(denied.stderr.strip().splitlines()) == 1
    junk = tmp_path / "junk.fmu"
    junk.write_bytes(b"not a zip")
    bad = fmu(Role.ENGINEER, "upload", str(junk))
    assert bad.exit_code == 1 and "is not an FMU" in bad.stderr
    missing = fmu(Role.ENGINEER, "upload", str(tmp_path / "nope.fmu"))
    assert missing.exit_code == 1 and "cannot read" in missing.stderr
