"""``tvilling commands send|get|list`` through the SDK (see docs/commands.md)."""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

import typer

from tvilling.cli.output import fail
from tvilling.cli.remote import AsJson, Token, Url, connect, show

app = typer.Typer(help="Commands to devices: send, follow, list.", no_args_is_help=True)
TERMINAL = {"acked", "failed", "expired"}


def _payload(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text  # a bare word is a string payload: `--payload auto`


@app.command("send")
def send(
    twin_id: str, name: str,
    payload: Annotated[str | None, typer.Option("--payload", "-p", help="Request payload as JSON (e.g. 320.5).")]
    = None,
    command_id: Annotated[str | None, typer.Option("--id", help="Command id (makes retries idempotent).")] = None,
    timeout: Annotated[float | None, typer.Option("--timeout", help="Seconds until the command expires.")] = None,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Wait for acked / failed / expired.")] = True,
    url: Url = None, token: Token = None, as_json: AsJson = False,
) -> None:
    """Send DTDL command NAME to the device behind TWIN_ID; exits non-zero unless it is acknowledged (with --wait)."""
    with connect(url, token) as client:
        cmd = client.send_command(twin_id, name, _payload(payload), command_id=command_id, timeout_s=timeout)
        if wait:
            deadline = time.monotonic() + (timeout or 30.0) + 5.0  # the server expires it by then
            while cmd["state"] not in TERMINAL and time.monotonic() < deadline:
                time.sleep(0.2)
                cmd = client.get_command(cmd["commandId"])
    show(cmd, as_json)
    if wait and cmd["state"] != "acked":
        fail(f"command {cmd['commandId']} {cmd['state']}" + (f": {cmd['reason']}" if cmd.get("reason") else ""))


@app.command("get")
def get(command_id: str, url: Url = None, token: Token = None, as_json: AsJson = False) -> None:
    """One command with its state history."""
    with connect(url, token) as client:
        show(client.get_command(command_id), as_json)


@app.command("list")
def list_(twin_id: str,
          limit: Annotated[int, typer.Option("--limit", help="At most this many, newest first.")] = 100,
          url: Url = None, token: Token = None, as_json: AsJson = False) -> None:
    """A twin's commands, newest first."""
    with connect(url, token) as client:
        items: list[Any] = []
        continuation = None
        while len(items) < limit:
            page = client.list_commands_page(twin_id, continuation=continuation)
            items.extend(page["value"])
            continuation = page.get("continuationToken")
            if not continuation:
                break
    show({"commands": items[:limit], "count": len(items[:limit])}, as_json)
