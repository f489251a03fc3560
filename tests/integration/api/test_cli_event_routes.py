"""`tvilling event-routes …` against a live server (through the SDK), with a real receiver on 127.0.0.1: add a route,
see work orders arrive, test, pause/resume, dead letters and redeliver, rotate the secret, delete; every error is
one line on stderr and a non-zero exit."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from tests.integration.api.test_cli_work_orders import last_json, one_line_error
from tests.support import dtdl_samples
from tests.support.platform import ApiRig, api_rig, live_server
from tests.support.receiver import Receiver, receiver
from tests.support.services import until
from tvilling.cli.main import app
from tvilling.core.roles import Role

runner = CliRunner()
Cli = Callable[..., Result]
ANSWER = {"status": 204}


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[ApiRig, Cli, Receiver]]:
    ANSWER["status"] = 204
    with receiver(lambda _n: (ANSWER["status"], {})) as rx, \
            api_rig(f"sqlite:///{tmp_path / 'cli.db'}", data_dir=tmp_path, webhook_max_attempts=1,
                    webhook_poll_s=0.2) as rig, live_server(rig.platform.app) as url:
        r = rig.call("PUT", "/api/v1/twins/pump-1", json=dtdl_samples.room())
        assert r.status_code == 201, r.text

        def routes(role: Role, *args: str) -> Result:
            env = {"TVILLING_URL": url, "TVILLING_TOKEN": rig.tokens[("acme", role)], "COLUMNS": "250"}
            return runner.invoke(app, ["event-routes", *args], env=env)

        yield rig, routes, rx


def work_order(rig: ApiRig, title: str) -> None:
    r = rig.call("POST", "/api/v1/work-orders", json={"twinId": "pump-1", "title": title})
    assert r.status_code == 201, r.text


def test_add_receive_test_pause_and_delete(served: tuple[ApiRig, Cli, Receiver]) -> None:
    rig, routes, rx = served
    added = routes(Role.ENGINEER, "add", "cmms", rx.url, "--kinds", "workorder,alarm")
    assert added.exit_code == 0, added.stderr
    assert "signing secret (shown only now" in added.stdout and "whsec_" in added.stdout
    work_order(rig, "Check the seal")
    rx.wait_for(1)
    assert rx.events()[0]["type"] == "io.tvilling.workorder.created"

    listed = routes(Role.VIEWER, "list")
    assert listed.exit_code == 0 and "cmms" in listed.stdout and "alarm,workorder" in listed.stdout, listed.stderr
    [route] = last_json(routes(Role.VIEWER, "list", "--json").stdout)["value"]
    until(lambda: last_json(routes(Role.VIEWER, "show", "cmms", "--json").stdout)["status"]["lastSuccessAt"])
    shown = routes(Role.VIEWER, "show", "cmms")  # by name
    assert shown.exit_code == 0 and route["id"] in shown.stdout and "last success" in shown.stdout, shown.stderr

    tested = routes(Role.OPERATOR, "test", route["id"])
    assert tested.exit_code == 0 and "answered 204 in" in tested.stdout, tested.stderr
    assert rx.wait_for(2)[1].json()["type"] == "io.tvilling.ping"

    assert "paused" in routes(Role.OPERATOR, "pause", "cmms").stdout
    assert "needs operator" in one_line_error(routes(Role.VIEWER, "resume", "cmms"))
    assert "active" in routes(Role.OPERATOR, "resume", "cmms").stdout

    logged = routes(Role.VIEWER, "deliveries", "cmms", "--json")
    assert [d["kind"] for d in last_json(logged.stdout)["value"]] == ["workorder.created"]

    rotated = routes(Role.ENGINEER, "rotate-secret", "cmms", "--json")
    assert last_json(rotated.stdout)["secret"].startswith("whsec_") and last_json(rotated.stdout)["secretVersion"] == 2
    assert "needs engineer" in one_line_error(routes(Role.OPERATOR, "delete", "cmms"))
    assert routes(Role.ENGINEER, "delete", "cmms").exit_code == 0
    assert last_json(routes(Role.VIEWER, "list", "--json").stdout)["value"] == []


def test_dead_letters_and_redeliver(served: tuple[ApiRig, Cli, Receiver]) -> None:
    rig, routes, rx = served
    created = last_json(routes(Role.ENGINEER, "add", "cmms", rx.url, "--kinds", "workorder", "--json").stdout)
    ANSWER["status"] = 500
    work_order(rig, "lost at first")
    until(lambda: last_json(routes(Role.VIEWER, "deliveries", created["id"], "--status", "dead", "--json")
                            .stdout)["value"])
    table = routes(Role.VIEWER, "deliveries", "cmms", "--status", "dead")
    assert table.exit_code == 0 and "dead-lettered after 1 attempt(s)" in table.stdout, table.stderr
    [dead] = last_json(routes(Role.VIEWER, "deliveries", "cmms", "--json").stdout)["value"]
    failed = routes(Role.OPERATOR, "test", "cmms")
    assert "did not take the ping: HTTP 500" in one_line_error(failed)
    ANSWER["status"] = 204
    queued = routes(Role.OPERATOR, "redeliver", "cmms", str(dead["id"]))
    assert queued.exit_code == 0 and "is queued" in queued.stdout, queued.stderr
    until(lambda: rx.events() and rx.events()[-1]["type"] == "io.tvilling.workorder.created")
    assert "not dead-lettered" in one_line_error(routes(Role.OPERATOR, "redeliver", "cmms", str(dead["id"])))


def test_errors_are_one_line(served: tuple[ApiRig, Cli, Receiver]) -> None:
    _rig, routes, rx = served
    for role, args, message in [
        (Role.ENGINEER, ("add", "cmms", "https://cmms.example.com/hooks"), "TVILLING_WEBHOOK_ALLOWED_HOSTS"),
        (Role.ENGINEER, ("add", "cmms", "ftp://127.0.0.1/x"), "scheme 'ftp' is not allowed"),
        (Role.ENGINEER, ("add", "cmms", rx.url, "--kinds", "work_order"), "did you mean workorder"),
        (Role.OPERATOR, ("add", "cmms", rx.url), "needs engineer"),
        (Role.VIEWER, ("show", "ghost"), "no event route named 'ghost'"),
        (Role.VIEWER, ("show", "rt-0123456789abcdef"), "no event route"),
        (Role.VIEWER, ("deliveries", "ghost"), "no event route named"),
    ]:
        assert message in one_line_error(routes(role, *args)), args
    assert routes(Role.ENGINEER, "add", "down", "http://127.0.0.1:9/hooks").exit_code == 0
    assert "did not take the ping" in one_line_error(routes(Role.OPERATOR, "test", "down"))
