"""`tvilling audit verify --database URL` needs no server: it reads the hash chains straight from the database, on
SQLite and on PostgreSQL, every tenant (or one), and names the first record that was edited there. `killswitch` and
`audit verify` through a live server write and check the same chain."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import text
from typer.testing import CliRunner, Result

from tests.support.platform import api_rig, live_server
from tvilling.adapters.sql.engine import make_engine
from tvilling.cli.main import app
from tvilling.core.roles import Role

runner = CliRunner()


def one_line_error(result: Result) -> str:
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 1 and len(lines) == 1 and lines[0].startswith("error: "), result.output
    return lines[0]


def last_json(output: str) -> Any:
    return json.loads(output.strip().splitlines()[-1])


def test_offline_verify_on_both_backends(db_url: str, tmp_path: Path) -> None:
    with api_rig(db_url, seed_models=False) as rig, live_server(rig.platform.app) as url:
        def cli(role: Role, *args: str) -> Result:
            return runner.invoke(app, [*args, "--url", url, "--token", rig.tokens[("acme", role)]])

        for _ in range(2):  # four records in acme's chain; none in globex's
            assert cli(Role.OPERATOR, "killswitch", "engage", "--reason", "drill").exit_code == 0
            assert cli(Role.ENGINEER, "killswitch", "release").exit_code == 0
        assert cli(Role.ENGINEER, "audit", "verify").stdout.startswith("audit trail ok, 4 records, head 4 ")

        ok = runner.invoke(app, ["audit", "verify", "--database", db_url])
        assert ok.exit_code == 0, ok.output
        assert ok.stdout.startswith("tenant acme: ok, 4 records, head 4 ")
        empty = runner.invoke(app, ["audit", "verify", "--database", db_url, "--tenant", "globex", "--json"])
        assert empty.exit_code == 0 and last_json(empty.stdout)["tenants"]["globex"]["records"] == 0

        engine = make_engine(db_url, profile="fast", pool_size=1)
        try:
            with engine.connect().execution_options(tvilling_write=True) as conn, conn.begin():
                conn.execute(text("""UPDATE audit_log SET text = replace(text, '"reason":"drill"', '"reason":"none"')
                                     WHERE tenant = 'acme' AND n = 3"""))
        finally:
            engine.dispose()
        broken = one_line_error(runner.invoke(app, ["audit", "verify", "--database", db_url]))
        assert "the audit trail of tenant acme does not verify at record 3" in broken
        assert "changed after it was written" in broken
        assert "does not verify at record 3" in one_line_error(cli(Role.ENGINEER, "audit", "verify"))
        as_json = runner.invoke(app, ["audit", "verify", "--database", db_url, "--json"])
        assert as_json.exit_code == 1 and last_json(as_json.stdout)["ok"] is False
        # last: the operator's 403 is itself counted into acme's chain (security audit) a moment later
        assert "engineer" in one_line_error(cli(Role.OPERATOR, "audit", "verify"))


def test_offline_verify_refuses_what_is_not_an_audit_trail(tmp_path: Path) -> None:
    missing = one_line_error(runner.invoke(app, ["audit", "verify", "--db", f"sqlite:///{tmp_path / 'no.db'}"]))
    assert "no SQLite database at" in missing and not (tmp_path / "no.db").exists()  # nothing was created
    other = tmp_path / "other.db"
    engine = make_engine(f"sqlite:///{other}", profile="fast", pool_size=1)
    try:
        with engine.connect() as conn, conn.begin():
            conn.execute(text("CREATE TABLE t (x INTEGER)"))
    finally:
        engine.dispose()
    assert "has no audit trail" in one_line_error(runner.invoke(app, ["audit", "verify", "--db",
                                                                      f"sqlite:///{other}"]))
    assert "unsupported database backend" in one_line_error(runner.invoke(app, ["audit", "verify", "--db",
                                                                                "mysql://u@h/db"]))
    assert "--tenant needs --database" in one_line_error(runner.invoke(app, ["audit", "verify", "--tenant", "x"]))
