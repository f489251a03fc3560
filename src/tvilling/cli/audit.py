"""``tvilling audit list|verify``: the hash-chained audit trail of guarded commands (see docs/commands.md, "Audit").

Through a running server (engineer token): ``list`` pages the trail newest first, ``verify`` recomputes the
token's tenant's chain. ``list --database URL --tenant T`` reads one chain offline (``_security``: the denials of
callers with no known tenant, see app/security_audit.py). ``verify --database URL`` needs no server: it opens the
database directly (SQLite or PostgreSQL, read only) and checks every tenant's chain, or one with ``--tenant``.
A chain that does not verify exits 1 with one line naming the first broken record.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from tvilling.cli.output import emit_json, fail, utc_text
from tvilling.cli.remote import AsJson, Token, Url, connect
from tvilling.core.errors import TvillingError

app = typer.Typer(help="The tamper-evident audit trail: list, verify.", no_args_is_help=True)
AUDIT_TABLES = {"audit_log", "audit_heads"}



def _detail(detail: Any) -> str:
    """A record's detail for the table: compact JSON without the empty values and the context id."""
    if not isinstance(detail, dict):
        return json.dumps(detail, ensure_ascii=False)
    shown = {k: v for k, v in detail.items() if k != "contextId" and v not in ("", None, [], {})}
    return json.dumps(shown, ensure_ascii=False, sort_keys=True, separators=(",", ":")) if shown else "-"


@app.command("list")
def list_(
    subject: Annotated[str | None, typer.Option("--subject", help="Only records about this command id, twin id "
                                                                  "or kill-switch scope.")] = None,
    category: Annotated[str | None, typer.Option("--category", help="Only this category: command, approval, "
                                                                    "guard, killswitch, ...")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000, help="At most this many.")] = 100,
    before: Annotated[int, typer.Option("--before", min=0, help="Only records older than this position (the "
                                                                "nextBefore of the previous page).")] = 0,
    database: Annotated[str | None, typer.Option("--database", "--db", help="Read offline from this database "
                                                                            "(sqlite:///… or postgresql://…).")] = None,
    tenant: Annotated[str | None, typer.Option("--tenant", help="With --database: whose chain (_security: the "
                                                                "denials of callers with no known tenant).")] = None,
    url: Url = None, token: Token = None, as_json: AsJson = False,
) -> None:
    """The audit trail, newest first (engineer role; or offline with --database --tenant)."""
    if database is not None:
        if tenant is None:
            fail("--database needs --tenant (whose chain to list; _security for unauthenticated denials)")
        page = _offline(database, lambda repo: _page(repo, tenant, before, limit, subject, category))
    elif tenant is not None:
        fail("--tenant needs --database (through the server the token's tenant is listed)")
    else:
        with connect(url, token) as client:
            page = client.audit(before=before, limit=limit, subject=subject, category=category)
    if as_json:
        emit_json(page)
        return
    items: list[Any] = page["value"]
    if not items:
        typer.echo("no audit records")
        return
    table = Table()
    for name in ("n", "at (UTC)", "actor", "action"):  # the action names the category too (--json has it all)
        table.add_column(name, no_wrap=True, justify="right" if name == "n" else "left")
    table.add_column("subject", overflow="fold")
    table.add_column("detail", overflow="fold", ratio=1)  # the long one takes what the others leave
    for r in items:
        table.add_row(str(r["n"]), utc_text(r.get("at")), str(r.get("actor") or "-"), str(r.get("action") or "-"),
                      str(r.get("subject") or "-"), _detail(r.get("detail")))
    Console(markup=False, emoji=False).print(table)
    if page.get("nextBefore") is not None:
        typer.echo(f"older records: --before {page['nextBefore']}")


def _page(repo: Any, tenant: str, before: int, limit: int, subject: str | None,
          category: str | None) -> dict[str, Any]:
    """The server's page shape, read straight from the database."""
    items = repo.page(tenant, after=before, limit=limit, subject=subject, category=category, newest_first=True)
    nxt = items[-1].n if len(items) == limit and items[-1].n > 1 else None
    return {"value": [r.as_dict() for r in items], "nextBefore": nxt}


def _broken(result: dict[str, Any], tenant: str | None = None) -> str:
    whose = f"the audit trail of tenant {tenant}" if tenant is not None else "the audit trail"
    return f"{whose} does not verify at record {result.get('firstBad')}: {result.get('reason') or 'unknown reason'}"


def _verified(result: dict[str, Any], tenant: str | None = None) -> str:
    whose = f"tenant {tenant}: " if tenant is not None else ""
    if not result.get("records"):
        return f"{whose}ok, no audit records"
    return f"{whose}ok, {result['records']} records, head {result['headN']} {result['headHash']}"


@app.command("verify")
def verify(
    database: Annotated[str | None, typer.Option("--database", "--db", help="Verify offline in this database "
                                                                            "(sqlite:///… or postgresql://…), "
                                                                            "without a server.")] = None,
    tenant: Annotated[str | None, typer.Option("--tenant", help="With --database: only this tenant "
                                                                "(default: every tenant).")] = None,
    url: Url = None, token: Token = None, as_json: AsJson = False,
) -> None:
    """Recompute the audit hash chain; exit 1 naming the first broken record when it does not verify. Through the
    server (engineer token) the token's tenant is checked; with --database every tenant's chain, offline."""
    if database is None:
        if tenant is not None:
            fail("--tenant needs --database (through the server the token's tenant is verified)")
        with connect(url, token) as client:
            result = client.verify_audit()
        if as_json:
            emit_json(result)
        elif result.get("ok"):
            typer.echo("audit trail " + _verified(result))
        if not result.get("ok"):
            fail(_broken(result))
        return
    results = _verify_offline(database, tenant)
    if as_json:
        emit_json({"ok": all(r["ok"] for r in results.values()), "tenants": results})
    else:
        if not results:
            typer.echo("no audit records in this database")
        for name, result in results.items():
            if result["ok"]:
                typer.echo(_verified(result, name))
    broken = [_broken(r, name) for name, r in results.items() if not r["ok"]]
    if broken:
        fail("; ".join(broken))


def _verify_offline(database: str, tenant: str | None) -> dict[str, dict[str, Any]]:
    """Each tenant's :class:`~tvilling.core.audit.Verification` (as a dict), read in one snapshot of the database."""
    def read(repo: Any) -> dict[str, dict[str, Any]]:
        return {name: repo.verify(name).as_dict() for name in ([tenant] if tenant is not None else repo.tenants())}

    result: dict[str, dict[str, Any]] = _offline(database, read)
    return result


def _offline(database: str, read: Any) -> Any:
    """``read(SqlAuditRepo)`` on the database directly, in one snapshot (no server)."""
    from sqlalchemy import inspect
    from sqlalchemy.engine import Connection, make_url
    from sqlalchemy.exc import ArgumentError, SQLAlchemyError

    from tvilling.adapters.sql.audit_repo import SqlAuditRepo
    from tvilling.adapters.sql.engine import make_engine, normalise_url

    try:
        parsed = make_url(normalise_url(database))
    except ArgumentError as exc:
        fail(f"cannot parse database URL: {exc}; use sqlite:///path/to/file.db or postgresql://user@host/db")
    if parsed.get_backend_name() == "sqlite":
        path = parsed.database or ""
        if path in ("", ":memory:") or not Path(path).is_file():  # SQLite would create an empty one
            fail(f"no SQLite database at {path or '(no path)'}; give the file the server uses: sqlite:///path/to/file.db")
    try:
        engine = make_engine(database, profile="fast", pool_size=1)
    except TvillingError as exc:
        fail(str(exc))
    try:
        with engine.connect() as raw:
            conn: Connection = raw
            if conn.dialect.name == "postgresql":  # one snapshot: a server appending meanwhile does not matter
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                missing = AUDIT_TABLES - set(inspect(conn).get_table_names())
                if missing:
                    fail(f"the database has no audit trail (no table {', '.join(sorted(missing))}); it was not "
                         "created by a Tvilling server with guarded commands")
                return read(SqlAuditRepo(conn))
    except SQLAlchemyError as exc:
        cause = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        fail(f"cannot read the audit trail from the database: {cause[0] if cause else type(exc).__name__}")
    finally:
        engine.dispose()
