"""Retention on both backends: batched passes delete exactly what is older than each class's keep time."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import sqlalchemy as sa
from typer.testing import CliRunner

from tvilling.adapters.sql.engine import make_engine
from tvilling.adapters.sql.migrate import check_version
from tvilling.adapters.sql.schema import quarantine, rollups, samples
from tvilling.app.retention import DAY_US, RetentionPolicy, run_pass
from tvilling.cli.main import app

NOW = datetime(2026, 6, 1, tzinfo=UTC)
NOW_US = int(NOW.timestamp() * 1_000_000)


def _seed(engine: sa.Engine) -> None:
    ages_days = [0.5, 5, 12, 40, 100, 400]  # one row per age and class
    with engine.begin() as conn:
        conn.execute(sa.insert(samples), [
            {"series_id": i + 1, "source_time": NOW_US - int(a * DAY_US), "value": 1.0,
             "quality": "good", "reason": "", "received_at": NOW_US} for i, a in enumerate(ages_days)])
        conn.execute(sa.insert(rollups), [
            {"tenant": "t", "twin_id": "x", "name": f"p{i}", "width_s": w, "bucket_start": NOW_US - int(a * DAY_US),
             "count": 1, "sum": 1.0, "min": 1.0, "max": 1.0, "last": 1.0, "last_time": 0}
            for w in (60, 3600) for i, a in enumerate(ages_days)])
        conn.execute(sa.insert(quarantine), [
            {"tenant": "t", "source": "mqtt", "address": "a", "reason": "decode_error", "detail": "",
             "received_at": NOW_US - int(a * DAY_US)} for a in ages_days])


def _counts(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as conn:
        def n(table: sa.Table, *where: sa.ColumnElement[bool]) -> int:
            return int(conn.execute(sa.select(sa.func.count()).select_from(table).where(*where)).scalar_one())
        return {"raw": n(samples), "rollup_1m": n(rollups, rollups.c.width_s == 60),
                "rollup_1h": n(rollups, rollups.c.width_s == 3600), "quarantine": n(quarantine)}


def test_batched_pass_keeps_each_class_for_its_time(db_url: str) -> None:
    engine = make_engine(db_url, profile="durable")
    check_version(engine, auto_migrate=True)
    _seed(engine)
    policy = RetentionPolicy(raw_days=10, rollup_1m_days=60, rollup_1h_days=0, quarantine_days=30, batch_rows=1)
    pauses: list[float] = []
    deleted = run_pass(engine, policy, NOW, sleep=pauses.append)
    assert deleted == {"raw": 4, "rollup_1m": 2, "quarantine": 3}  # 1-h rollups: kept forever
    assert len(pauses) >= 6 and min(pauses) > 0  # batch_rows=1: one transaction per row, a pause after each
    assert _counts(engine) == {"raw": 2, "rollup_1m": 4, "rollup_1h": 6, "quarantine": 3}
    assert run_pass(engine, policy, NOW) == {"raw": 0, "rollup_1m": 0, "quarantine": 0}  # idempotent
    engine.dispose()


def test_cli_one_off_pass(db_url: str) -> None:
    engine = make_engine(db_url, profile="durable")
    check_version(engine, auto_migrate=True)
    _seed(engine)  # relative to a fixed date in 2026: everything but the youngest rows is old by now
    engine.dispose()
    result = CliRunner().invoke(app, ["retention", "run", "--db", db_url, "--raw-days", "1", "--quarantine-days",
                                      "0", "--json"])
    assert result.exit_code == 0, result.output
    deleted = json.loads(result.output.strip().splitlines()[-1])["deleted"]
    assert deleted["raw"] >= 5 and "quarantine" not in deleted and "rollup_1m" not in deleted
    bad = CliRunner().invoke(app, ["retention", "run", "--db", "nosuchdb://x", "--raw-days", "1"])
    assert bad.exit_code != 0 and "unsupported database backend" in bad.output
