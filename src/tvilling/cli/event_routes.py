"""``tvilling event-routes add|list|show|pause|resume|delete|test|deliveries|redeliver|rotate-secret`` through the
SDK (a running server): outbound webhooks that push the tenant's events to an outside receiver (docs/integrations.md).

Reads need a viewer token; pause, resume, test and redeliver an operator token; add, delete and rotate-secret an
engineer token. A route is named by its id (``rt-…``) or its name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from tvilling.cli.output import emit_json, fail
from tvilling.cli.remote import AsJson, Token, Url, connect
from tvilling.sdk import Client

app = typer.Typer(help="Event routes (outbound webhooks): add, list, show, pause, resume, delete, test, deliveries, "
                       "redeliver, rotate-secret.", no_args_is_help=True)

Route = Annotated[str, typer.Argument(help="The route's id (rt-…) or name.")]
_ID = re.compile(r"^rt-[0-9a-f]{16}$")


def _console() -> Console:
    return Console(markup=False, emoji=False)  # names, URLs and errors are outside text: "[x]" is not a style


def _split(values: list[str] | None) -> list[str] | None:
    """``--kinds a,b --kinds c`` -> [a, b, c]; None when not given."""
    items = [v.strip() for value in values or () for v in value.split(",") if v.strip()]
    return items or None


def _text(value: Any) -> str:
    return "-" if value is None or value == "" else str(value)


def _print_table(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """A table whose first column (an id a later command needs) is never cut; missing values print as "-"."""
    table = Table()
    table.add_column(columns[0], no_wrap=True)
    for column in columns[1:]:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(_text(v) for v in row))
    _console().print(table)


def resolve(client: Client, ref: str) -> str:
    """A route id from an id or a name (one line and exit 1 when no route has that name)."""
    if _ID.fullmatch(ref):
        return ref
    matches = [r["id"] for r in client.list_event_routes()["value"] if r["name"] == ref]
    if not matches:
        fail(f"no event route named {ref!r}; `tvilling event-routes list` shows them")
    return str(matches[0])


def _say(as_json: bool, value: Any, line: str) -> None:
    if as_json:
        emit_json(value)
    else:
        _console().print(line)


@app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="A name, unique within the tenant.")],
    url: Annotated[str, typer.Argument(help="The receiver's http(s) URL (its host must be allowed by the server's "
                                            "TVILLING_WEBHOOK_ALLOWED_HOSTS).")],
    kinds: Annotated[list[str] | None, typer.Option("--kinds", help="Event kinds as prefixes, comma-separated "
                                                                    "(e.g. workorder,alarm,insight.rul).")] = None,
    twins: Annotated[list[str] | None, typer.Option("--twins", help="Only these twins (ids, comma-separated).")] = None,
    models: Annotated[list[str] | None, typer.Option("--models", help="Only twins of these models or models "
                                                                      "extending them (DTMIs).")] = None,
    paused: Annotated[bool, typer.Option("--paused", help="Create it paused (resume it when the receiver is "
                                                          "ready).")] = False,
    from_beginning: Annotated[bool, typer.Option("--from-beginning", help="Replay the whole event log first "
                                                                          "(default: events from now on).")] = False,
    url_opt: Url = None, token: Token = None, as_json: AsJson = False,
) -> None:
    """Create a route (engineer). Prints its signing secret, shown only now."""
    with connect(url_opt, token) as client:
        route = client.create_event_route(name, url, kinds=_split(kinds), twins=_split(twins),
                                          models=_split(models), enabled=not paused,
                                          start="beginning" if from_beginning else "now")
    if as_json:
        emit_json(route)
        return
    console = _console()
    console.print(f"created {route['id']} ({route['name']}) -> {route['url']}, {route['state']}")
    console.print(f"signing secret (shown only now; the receiver verifies webhook-signature with it):\n"
                  f"  {route['secret']}")


@app.command("list")
def list_routes(url: Url = None, token: Token = None, as_json: AsJson = False) -> None:
    """The tenant's routes with their delivery status."""
    with connect(url, token) as client:
        items = client.list_event_routes()["value"]
    if as_json:
        emit_json({"value": items})
        return
    _print_table(("id", "name", "state", "url", "kinds", "backlog", "dead", "last success", "last error"),
                 ((r["id"], r["name"], r["state"], r["url"], ",".join(r["filter"]["kinds"] or ["(all)"]),
                   r["status"]["backlog"], r["status"]["deadLetters"], r["status"]["lastSuccessAt"],
                   r["status"]["lastError"]) for r in items))


@app.command("show")
def show(route: Route, url: Url = None, token: Token = None, as_json: AsJson = False) -> None:
    """One route with its filter and delivery status."""
    with connect(url, token) as client:
        view = client.get_event_route(resolve(client, route))
    if as_json:
        emit_json(view)
        return
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column(overflow="fold")
    s, f = view["status"], view["filter"]
    for label, value in (("id", view["id"]), ("name", view["name"]), ("url", view["url"]),
                         ("state", view["state"]), ("paused because", view["pausedReason"]),
                         ("kinds", ",".join(f["kinds"] or ["(all)"])), ("twins", ",".join(f["twins"] or ["(all)"])),
                         ("models", ",".join(f["models"] or ["(all)"])), ("backlog", s["backlog"]),
                         ("dead letters", s["deadLetters"]), ("cursor (event seq)", s["cursor"]),
                         ("last success", s["lastSuccessAt"]), ("last error", s["lastError"]),
                         ("last error at", s["lastErrorAt"]), ("consecutive failures", s["consecutiveFailures"]),
                         ("secret version", view["secretVersion"]), ("created", f"{view['createdAt']} by "
                                                                               f"{view['createdBy']}")):
        grid.add_row(label, _text(value))
    _console().print(grid)


def _enable(route: str, enabled: bool, url: str | None, token: str | None, as_json: bool) -> None:
    with connect(url, token) as client:
        view = client.update_event_route(resolve(client, route), enabled=enabled)
    _say(as_json, view, f"{view['id']} ({view['name']}) is {view['state']}")


@app.command("pause")
def pause(route: Route, url: Url = None, token: Token = None, as_json: AsJson = False) -> None:
    """Stop sending (operator); events keep queuing up in the log and are sent on resume."""
    _enable(route, False, url, token, as_json)


@app.command("resume")
def resume(route: Route, url: Url = None, token: Token = None, as_json: AsJson = False) -> None:
    """Send again from where it stopped (operator)."""
    _enable(route, True, url, token, as_json)


@app.command("delete")
def delete(route: Route, url: Url = None, token: Token = None, as_json: AsJson = False) -> None:
    """Delete a route and its delivery log (engineer)."""
    with connect(url, token) as client:
        route_id = resolve(client, route)
        client.delete_event_route(route_id)
    _say(as_json, {"deleted": route_id}, f"deleted {route_id}")


@app.command("test")
def test(route: Route, url: Url = None, token: Token = None, as_json: AsJson = False) -> None:
    """Send a signed ping (operator) and report the receiver's answer; exits non-zero when it was not a 2xx."""
    with connect(url, token) as client:
        result = client.test_event_route(resolve(client, route))
    if not result["ok"]:
        if as_json:
            emit_json(result)
        fail(f"the receiver at {result['url']} did not take the ping: {result['error']}")
    _say(as_json, result, f"{result['url']} answered {result['statusCode']} in {result['latencyMs']} ms")


@app.command("deliveries")
def deliveries(
    route: Route,
    status: Annotated[str | None, typer.Option("--status", help="pending, delivered, dead or queued.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000, help="Newest first, at most this many.")] = 50,
    url: Url = None, token: Token = None, as_json: AsJson = False,
) -> None:
    """The route's delivery log, newest first."""
    with connect(url, token) as client:
        items = client.list_event_route_deliveries(resolve(client, route), status=status, page_size=limit)["value"]
    if as_json:
        emit_json({"value": items})
        return
    _print_table(("id", "event seq", "kind", "subject", "status", "attempts", "code", "error", "last attempt"),
                 ((d["id"], d["eventSeq"], d["kind"], d["subject"], d["status"], d["attempts"], d["statusCode"],
                   d["error"], d["lastAttemptAt"]) for d in items))


@app.command("redeliver")
def redeliver(route: Route, delivery: Annotated[int, typer.Argument(help="The delivery's id (from `deliveries`).")],
              url: Url = None, token: Token = None, as_json: AsJson = False) -> None:
    """Queue a dead-lettered delivery again (operator); it goes before the route's next event."""
    with connect(url, token) as client:
        queued = client.redeliver_event(resolve(client, route), delivery)
    _say(as_json, queued, f"delivery {queued['id']} (event {queued['eventSeq']}) is {queued['status']}")


@app.command("rotate-secret")
def rotate_secret(route: Route, url: Url = None, token: Token = None, as_json: AsJson = False) -> None:
    """A new signing secret (engineer), shown only now; the old one stops signing at once."""
    with connect(url, token) as client:
        view = client.rotate_event_route_secret(resolve(client, route))
    _say(as_json, view, f"new signing secret of {view['id']} (version {view['secretVersion']}, shown only now):\n"
                        f"  {view['secret']}")
