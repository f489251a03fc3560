"""`tvilling explain` against a live server (through the SDK): why line 1 slowed down, as a summary line, a table of
the related signals (the lowered speed setpoint first) and the command meanwhile, and with --json; no change, or too
little history, says so; every error is one line on stderr and a non-zero exit."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from tests.integration.api.test_cli_work_orders import last_json, one_line_error
from tests.support.explain_history import JAM, LOWERED, at, explain_rig
from tests.support.platform import ApiRig, live_server
from tvilling.cli.main import app
from tvilling.core.roles import Role

runner = CliRunner()
Cli = Callable[..., Result]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[ApiRig, Cli]]:
    with explain_rig(tmp_path / "cli.db") as rig, live_server(rig.platform.app) as url:

        def explain(*args: str, role: Role = Role.VIEWER, tenant: str = "acme") -> Result:
            env = {"TVILLING_URL": url, "TVILLING_TOKEN": rig.tokens[(tenant, role)], "COLUMNS": "250"}
            return runner.invoke(app, ["explain", *args], env=env)

        yield rig, explain


def _window(start: int, end: int) -> list[str]:
    return ["--start", at(start), "--end", at(end)]


def test_a_lowered_speed_is_explained_in_a_table(served: tuple[ApiRig, Cli]) -> None:
    _rig, explain = served
    out = explain("line-1", "throughput", *_window(LOWERED - 20, LOWERED + 40), "--direction", "down")
    assert out.exit_code == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "line-1.throughput fell from 500 to 400 since 2026-11-24 00:00 UTC"
    assert lines[1].startswith("compared with 2026-11-23 22:40 .. 2026-11-23 23:40 UTC; 7 signals of 14 twins")
    rows = [line for line in lines if line.startswith("│ ")]
    assert "line-1.speedSetpoint" in rows[0] and "setting, first" in rows[0] and "-100 (500 -> 400)" in rows[0]
    assert "changed with" in rows[0] and "+1.00" in rows[0] and "(this twin)" in rows[0]
    chiller = next(row for row in rows if "chiller-1.coolingPower" in row)
    assert "line-1 contains filler-1; chiller-1 cools filler-1" in chiller
    event = next(row for row in rows if "command.acked" in row)
    assert "2026-11-24 00:00:05" in event and "token:operator-anna" in event and "set_speed_bpm" in event

    body = last_json(explain("line-1", "throughput", *_window(LOWERED - 20, LOWERED + 40), "--direction", "down",
                             "--json").stdout)
    assert body["changed"] and body["direction"] == "down" and body["bucketS"] == 60
    assert (body["contributors"][0]["name"], body["contributors"][0]["kind"]) == ("speedSetpoint", "setting")
    assert [e["kind"] for e in body["events"]] == ["command.acked"]


def test_options_reach_the_server(served: tuple[ApiRig, Cli]) -> None:
    _rig, explain = served
    body = last_json(explain("line-1", "throughput", *_window(JAM - 20, JAM + 20), "--hops", "0", "--bucket", "5m",
                             "--top", "2", "--reference-start", at(JAM - 120), "--reference-end", at(JAM - 20),
                             "--json").stdout)
    assert (body["hops"], body["twins"], body["bucketS"], len(body["contributors"])) == (0, 1, 300, 2)
    assert body["referenceStart"] == at(JAM - 120).replace("+00:00", "Z")
    jam = explain("line-1", "throughput", *_window(JAM - 20, JAM + 20), "--hops", "1")
    assert jam.exit_code == 0, jam.stderr
    assert "since 2026-11-24 02:40 UTC" in jam.stdout.splitlines()[0] and "line-1.jammed" in jam.stdout
    assert "no commands, alarms or work orders on these twins meanwhile" in jam.stdout


def test_no_change_or_no_reference_says_so(served: tuple[ApiRig, Cli]) -> None:
    _rig, explain = served
    out = explain("line-1", "throughput", *_window(100, 160))
    assert out.exit_code == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "line-1.throughput did not change between 2026-11-23 21:40 and 2026-11-23 22:40 UTC"
    assert lines[2].startswith("note: line-1.throughput stayed within 3 robust standard deviations")
    assert "│" not in out.stdout
    assert last_json(explain("line-1", "throughput", *_window(100, 160), "--json").stdout)["contributors"] == []
    before = explain("line-1", "throughput", *_window(0, 60)).stdout.splitlines()  # no history before minute 0
    assert before[0] == ("line-1.throughput: too few readings between 2026-11-23 19:00 and 2026-11-23 20:00 UTC to "
                         "tell whether it changed")
    assert before[2].startswith("note: line-1.throughput has fewer than 3 readings in the reference window")


def test_errors_are_one_line(served: tuple[ApiRig, Cli]) -> None:
    _rig, explain = served
    window = _window(LOWERED - 20, LOWERED + 40)
    assert "has no history of 'speed'" in one_line_error(explain("line-1", "speed", *window))
    assert "does not exist" in one_line_error(explain("nowhere", "throughput", *window))
    assert "does not exist" in one_line_error(explain("line-1", "throughput", *window, tenant="globex"))
    assert "end must be after start" in one_line_error(explain("line-1", "throughput", *_window(60, 30)))
    assert "referenceStart" in one_line_error(explain("line-1", "throughput", *window, "--reference-start", at(0)))
    assert "bucket must be one of" in one_line_error(explain("line-1", "throughput", *window, "--bucket", "7"))
    assert "is not a duration" in one_line_error(explain("line-1", "throughput", *window, "--bucket", "soon"))
    assert "give down, up or any" in one_line_error(explain("line-1", "throughput", *window, "--direction", "x"))
    assert "hops" in one_line_error(explain("line-1", "throughput", *window, "--hops", "9"))


def test_no_server_is_one_line() -> None:
    result = runner.invoke(app, ["explain", "line-1", "throughput", "--url", "http://127.0.0.1:9", "--token", "t"])
    assert "cannot reach the server" in one_line_error(result)
