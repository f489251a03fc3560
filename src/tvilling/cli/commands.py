"""``tvilling commands send|get|list|pending|approve|reject`` through the SDK (see docs/commands.md).

A command whose mapping has a ``guard`` with ``approvals`` waits in ``pending_approval`` until other people's
engineer tokens approve it: ``send`` then returns at once and says so; ``approve`` shows the command and approves
exactly what it showed (its digest).
"""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from tvilling.cli.output import emit_json, fail, utc_text
from tvilling.cli.remote import AsJson, Token, Url, connect, show
from tvilling.sdk import Client

app = typer.Typer(help="Commands to devices: send, follow, list; approve or reject guarded ones.",
                  no_args_is_help=True)
TERMINAL = {"acked", "failed", "expired", "rejected", "canceled"}
PENDING = "pending_approval"


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
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Wait for acked / failed / expired / rejected / "
                                                                "canceled.")] = True,
    url: Url = None, token: Token = None, as_json: AsJson = False,
) -> None:
    """Send DTDL command NAME to the device behind TWIN_ID; exits non-zero unless it is acknowledged (with --wait).
    A command that needs approval is not waited for: it is printed, and stderr names the approve command."""
    with connect(url, token) as client:
        cmd = client.send_command(twin_id, name, _payload(payload), command_id=command_id, timeout_s=timeout)
        if cmd["state"] == PENDING:  # people must approve it first: nothing to wait for here
            show(cmd, as_json)
            _say_waiting(cmd)
            return
        if wait:
            cmd = _follow(client, cmd, timeout)
    show(cmd, as_json)
    if wait:
        _check_acked(cmd)


def _follow(client: Client, cmd: dict[str, Any], timeout: float | None) -> dict[str, Any]:
    """Poll ``cmd`` until it is acked, failed, expired, rejected or canceled (or the server must have expired it)."""
    wait_s = timeout or 30.0
    try:  # the deadline the server set (the mapping's timeout_s, or a fresh one after the last approval)
        left = (datetime.fromisoformat(cmd["expiresAt"]) - datetime.now(UTC)).total_seconds()
        wait_s = max(wait_s, min(left, 86_400.0))
    except (KeyError, TypeError, ValueError):
        pass
    deadline = time.monotonic() + wait_s + 5.0  # the server expires it by then
    while cmd["state"] not in TERMINAL and time.monotonic() < deadline:
        time.sleep(0.2)
        cmd = client.get_command(cmd["commandId"])
    return cmd


def _check_acked(cmd: dict[str, Any]) -> None:
    if cmd["state"] != "acked":
        fail(f"command {cmd['commandId']} {cmd['state']}" + (f": {cmd['reason']}" if cmd.get("reason") else ""))


def _missing_approvals(cmd: dict[str, Any]) -> int:
    return max(int(cmd.get("approvalsRequired") or 0) - len(cmd.get("approvals") or []), 0)


def _say_waiting(cmd: dict[str, Any]) -> None:
    n = _missing_approvals(cmd)
    sys.stderr.write(f"command {cmd['commandId']} waits for {n} approval(s): "
                     f"tvilling commands approve {cmd['commandId']}\n")
    sys.stderr.flush()


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


def _console() -> Console:
    return Console(markup=False, emoji=False)  # payloads and reasons are people's text: "[x]" is not a style



def _payload_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _requester(cmd: dict[str, Any]) -> str:
    return str((cmd.get("context") or {}).get("actor") or "-")


@app.command("pending")
def pending(limit: Annotated[int, typer.Option("--limit", min=1, max=1000, help="At most this many.")] = 200,
            url: Url = None, token: Token = None, as_json: AsJson = False) -> None:
    """Commands waiting for approval, oldest first (viewer role)."""
    with connect(url, token) as client:
        items = list(client.pending_approvals(limit=limit)["value"])
    if as_json:
        emit_json({"value": items, "count": len(items)})
        return
    if not items:
        typer.echo("no command waits for approval")
        return
    table = Table()
    table.add_column("id", no_wrap=True, overflow="fold")  # kept whole: `commands approve` needs it
    for name in ("twin", "command", "payload", "requested by", "requested (UTC)", "approvals", "expires (UTC)"):
        table.add_column(name, overflow="fold")
    for c in items:
        table.add_row(c["commandId"], c["twinId"], c["command"], _payload_text(c.get("payload")), _requester(c),
                      utc_text(c.get("requestedAt")),
                      f"{len(c.get('approvals') or [])}/{c.get('approvalsRequired') or 0}",
                      utc_text(c.get("expiresAt")))
    _console().print(table)


def _describe(cmd: dict[str, Any]) -> None:
    """What an approver approves: printed before the question, so the digest sent is the one of this request."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column(overflow="fold")
    approvals = cmd.get("approvals") or []
    for label, text in (
            ("command id", cmd["commandId"]), ("twin", cmd["twinId"]), ("command", cmd["command"]),
            ("payload", _payload_text(cmd.get("payload"))), ("requested by", _requester(cmd)),
            ("requested (UTC)", utc_text(cmd.get("requestedAt"))), ("expires (UTC)", utc_text(cmd.get("expiresAt"))),
            ("approvals", f"{len(approvals)} of {cmd.get('approvalsRequired') or 0}"
                          + (f" ({', '.join(str(a.get('actor')) for a in approvals)})" if approvals else "")),
            ("digest", str(cmd.get("digest") or "-"))):
        grid.add_row(label, text)
    _console().print(grid)


@app.command("approve")
def approve(
    command_id: str,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Approve without asking.")] = False,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="After the last approval, wait for acked / failed "
                                                                "/ expired (exit non-zero unless acked).")] = False,
    url: Url = None, token: Token = None, as_json: AsJson = False,
) -> None:
    """Show a command that waits for approval, ask, and approve exactly what was shown (its digest). Needs an
    engineer token of someone other than the requester."""
    with connect(url, token) as client:
        cmd = client.get_command(command_id)
        if cmd["state"] != PENDING:
            fail(f"command {command_id} is {cmd['state']}, not waiting for approval")
        if not cmd.get("digest"):
            fail(f"command {command_id} shows no digest to approve; is the server older than this CLI?")
        _describe(cmd)
        if not yes:
            try:
                confirmed = typer.confirm(f"Approve command {command_id}?", default=False)
            except typer.Abort:
                confirmed = False
            if not confirmed:
                fail(f"command {command_id} was not approved (answer y, or pass --yes)")
        done = client.approve_command(command_id, cmd["digest"])
        if wait and done["state"] != PENDING:
            done = _follow(client, done, None)
    show(done, as_json)
    if done["state"] == PENDING:
        _say_waiting(done)
    elif wait:
        _check_acked(done)


@app.command("reject")
def reject(
    command_id: str,
    reason: Annotated[str, typer.Option("--reason", "-r", help="Why (kept in the command and the audit trail).")]
    = "",
    url: Url = None, token: Token = None, as_json: AsJson = False,
) -> None:
    """Reject a command that waits for approval (engineer role)."""
    with connect(url, token) as client:
        cmd = client.reject_command(command_id, reason)
    show(cmd, as_json)
