"""`tvilling impact show/risks` against a live server (through the SDK): the bottling site with its impact.yaml (for
tenant acme) and a few live RUL estimates; what pump 1's bearing takes with it, as a summary line and a table, and
the likely failures ranked by expected cost; --json; every error (no impact.yaml, another tenant's, an unknown twin,
no server) is one line on stderr and a non-zero exit. The rig: tests/support/impact_rig.py."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from tests.integration.api.test_cli_work_orders import last_json, one_line_error
from tests.support.impact_rig import impact_rig
from tests.support.platform import ApiRig, api_rig, live_server
from tvilling.cli.main import app
from tvilling.core.roles import Role

runner = CliRunner()
Cli = Callable[..., Result]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[ApiRig, Cli]]:
    with impact_rig(tmp_path) as rig, live_server(rig.platform.app) as url:

        def impact(*args: str, tenant: str = "acme") -> Result:
            env = {"TVILLING_URL": url, "TVILLING_TOKEN": rig.tokens[(tenant, Role.VIEWER)], "COLUMNS": "250"}
            return runner.invoke(app, ["impact", *args], env=env)

        yield rig, impact


def _rows(text: str) -> list[list[str]]:
    return [[cell.strip() for cell in line.strip("│").split("│")] for line in text.splitlines()
            if line.startswith("│ ")]


def test_show_says_what_a_failure_stops(served: tuple[ApiRig, Cli]) -> None:
    _rig, impact = served
    out = impact("show", "pump-1-bearing")
    assert out.exit_code == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "If pump-1-bearing stops: 3 twins stop, 0 slow; 2 400/h lost; repair 36 h"
    assert "twin" in lines[3] and "after (min)" in lines[3] and "cost/h" in lines[3]
    assert _rows(out.stdout) == [
        ["pump-1", "stops", "0", "pump-1-bearing <-hasPart- pump-1", "0"],
        ["filler-1", "stops", "20", "pump-1-bearing <-hasPart- pump-1 -feeds-> filler-1", "0"],
        ["line-1", "stops", "20", "pump-1-bearing <-hasPart- pump-1 -feeds-> filler-1 <-contains- line-1", "2 400"]]

    chiller = impact("show", "chiller-1").stdout
    assert chiller.splitlines()[0] == "If chiller-1 stops: 2 twins stop, 0 slow; 2 400/h lost; repair 4 h"
    assert ["filler-1", "stops", "90", "chiller-1 -cools-> filler-1", "0"] in _rows(chiller)

    body = last_json(impact("show", "pump-1-bearing", "--json").stdout)
    assert (body["twinId"], body["costPerHour"], body["repairHours"]) == ("pump-1-bearing", 2400.0, 36.0)
    assert body["affected"][1] == {"twinId": "filler-1", "effect": "stops", "afterMin": 20.0, "hops": 2,
                                   "path": ["pump-1 hasPart pump-1-bearing", "pump-1 feeds filler-1"],
                                   "costPerHour": 0.0}


def test_risks_rank_likely_failures_by_expected_cost(served: tuple[ApiRig, Cli]) -> None:
    _rig, impact = served
    out = impact("risks")
    assert out.exit_code == 0, out.stderr
    assert out.stdout.splitlines()[0] == "4 twin(s) with a live RUL estimate"
    header = out.stdout.splitlines()[3]
    assert all(c in header for c in ("P(failure)", "horizon h", "repair h", "expected cost", "what stops"))
    rows = _rows(out.stdout)
    assert rows[0] == ["pump-1-bearing", "20.0 %", "72", "2 400", "36", "17 280", "pump-1, filler-1, line-1"]
    assert [r[0] for r in rows[1:]] == ["chiller-1", "filler-1-bearing", "hall"]  # conveyor's: cleared
    assert rows[1][5] == "4 800" and rows[2][5] == "4 320" and rows[3][3:7] == ["0", "8", "0", "-"]

    top = impact("risks", "--limit", "1")
    assert top.stdout.splitlines()[0] == "4 twin(s) with a live RUL estimate, the 1 costliest shown"
    body = last_json(impact("risks", "--limit", "2", "--json").stdout)
    assert body["count"] == 4 and [r["twinId"] for r in body["value"]] == ["pump-1-bearing", "chiller-1"]
    assert body["value"][0]["expectedCost"] == pytest.approx(17280.0)
    assert body["value"][0]["rulHours"]["mean"] == 400.0 and body["value"][0]["horizonHours"] == 72.0


def test_errors_are_one_line(served: tuple[ApiRig, Cli]) -> None:
    _rig, impact = served
    assert "twin nowhere does not exist" in one_line_error(impact("show", "nowhere"))
    assert "no impact.yaml for this tenant" in one_line_error(impact("show", "pump-1-bearing", tenant="globex"))
    assert "no impact.yaml for this tenant" in one_line_error(impact("risks", tenant="globex"))
    assert "--limit" in impact("risks", "--limit", "0").stderr and impact("risks", "--limit", "0").exit_code != 0


def test_no_impact_yaml_or_no_estimate_says_so(tmp_path: Path) -> None:
    with api_rig(f"sqlite:///{tmp_path / 'bare.db'}", seed_models=False) as bare, live_server(bare.platform.app) as url:
        env = {"TVILLING_URL": url, "TVILLING_TOKEN": bare.tokens[("acme", Role.VIEWER)]}
        assert "no impact.yaml" in one_line_error(runner.invoke(app, ["impact", "show", "pump-1"], env=env))
        assert "no impact.yaml" in one_line_error(runner.invoke(app, ["impact", "risks"], env=env))
    with impact_rig(tmp_path, estimates=False) as rig, live_server(rig.platform.app) as url:
        env = {"TVILLING_URL": url, "TVILLING_TOKEN": rig.tokens[("acme", Role.VIEWER)]}
        out = runner.invoke(app, ["impact", "risks"], env=env)
        assert out.exit_code == 0 and out.stdout == "no twin has a live RUL estimate\n"
        hall = runner.invoke(app, ["impact", "show", "hall"], env=env)
        assert hall.stdout == "If hall stops: 0 twins stop, 0 slow; 0/h lost; repair 8 h\nnothing else stops or slows\n"


def test_no_server_is_one_line() -> None:
    result = runner.invoke(app, ["impact", "show", "pump-1", "--url", "http://127.0.0.1:9", "--token", "t"])
    assert "cannot reach the server" in one_line_error(result)


def test_show_with_also_and_redundant_pumps(tmp_path: Path) -> None:
    """Two pumps feed filler-1 and it needs one (``need: 1``): one stopping stops nothing; ``--also`` stops both."""
    with impact_rig(tmp_path, estimates=False, need=1) as rig, live_server(rig.platform.app) as url:
        env = {"TVILLING_URL": url, "TVILLING_TOKEN": rig.tokens[("acme", Role.VIEWER)], "COLUMNS": "250"}
        alone = runner.invoke(app, ["impact", "show", "pump-1"], env=env)
        assert alone.stdout.splitlines()[1:] == ["nothing else stops or slows"]
        both = runner.invoke(app, ["impact", "show", "pump-1", "--also", "pump-2"], env=env)
        assert both.exit_code == 0, both.stderr
        first = both.stdout.splitlines()[0]
        assert first == "If pump-1 and pump-2 stop: 2 twins stop, 0 slow; 2 400/h lost; repair 8 h"
        assert _rows(both.stdout) == [
            ["filler-1", "stops", "20", "pump-2 -feeds-> filler-1 (with pump-1)", "0"],
            ["line-1", "stops", "20", "pump-2 -feeds-> filler-1 <-contains- line-1", "2 400"]]
        bearing = runner.invoke(app, ["impact", "show", "pump-1-bearing", "--also", "pump-2", "--json"], env=env)
        assert last_json(bearing.stdout)["affected"][1]["with"] == ["pump-2"]
        assert "twin nowhere does not exist" in one_line_error(
            runner.invoke(app, ["impact", "show", "pump-1", "--also", "pump-2", "--also", "nowhere"], env=env))
        many = [arg for i in range(21) for arg in ("--also", f"pump-{i}")]
        assert "at most 20" in one_line_error(runner.invoke(app, ["impact", "show", "pump-1", *many], env=env))


def test_a_need_above_the_pumps_there_are_is_a_warning_line(tmp_path: Path) -> None:
    with impact_rig(tmp_path, estimates=False, need=3) as rig, live_server(rig.platform.app) as url:
        env = {"TVILLING_URL": url, "TVILLING_TOKEN": rig.tokens[("acme", Role.VIEWER)], "COLUMNS": "250"}
        out = runner.invoke(app, ["impact", "show", "pump-1"], env=env)
        assert out.exit_code == 0, out.stderr
        assert out.stdout.splitlines()[-1] == ("warning: filler-1 needs 3 feeds sources but has 2: it stops when any "
                                               "one of them stops")
        assert ["filler-1", "stops", "20", "pump-1 -feeds-> filler-1", "0"] in _rows(out.stdout)  # with no one
