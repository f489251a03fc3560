"""The pure parts of the Commands panel and the registry page, and the hub's routing of command.* / ml.model.*
events (the pages themselves are driven in Chromium: tests/integration/dashboard/test_dashboard_ops.py)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest

from tvilling.adapters.sql.engine import make_engine
from tvilling.adapters.sql.migrate import check_version
from tvilling.adapters.sql.store import SqlStore
from tvilling.app.alarms import AlarmService
from tvilling.app.command_mapping import load_command_mappings
from tvilling.app.commands import CommandService
from tvilling.app.registry import ModelVersion
from tvilling.app.services import Services
from tvilling.app.site import SitePackage, load_site
from tvilling.core.commands import Command, CommandState
from tvilling.core.context import Context
from tvilling.core.events import Event
from tvilling.dashboard import live
from tvilling.dashboard.commands_panel import declared_commands, history_row, parse_payload
from tvilling.dashboard.pages.registry import version_row

SITE = Path(__file__).resolve().parents[3] / "examples" / "bottling-plant"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def services(tmp_path: Path) -> Services:
    engine = make_engine(f"sqlite:///{tmp_path / 'c.db'}", profile="durable")
    check_version(engine, auto_migrate=True)
    svc = Services.build(SqlStore(engine))
    load_site(svc, "default", SitePackage(SITE), Context.new(actor="test"))
    return svc


def test_declared_commands_come_from_the_model_with_the_mapping_limits(services: Services) -> None:
    commands = CommandService(services.store, services.bus, services.clock, services.models,
                              load_command_mappings(SITE / "commands.yaml"))
    dash = SimpleNamespace(services=services)
    infos = {c.name: c for c in declared_commands(dash, "default", "dtmi:tvilling:bottling:Chiller;1", commands,
                                                  "chiller-1")}
    assert set(infos) == {"set_setpoint_c", "start", "stop", "clean_condenser"}
    setpoint = infos["set_setpoint_c"]
    assert (setpoint.request, setpoint.limits, setpoint.mapped) == ("double", "1 – 15", True)
    assert infos["start"].request is None and infos["start"].limits == ""
    # Without mappings the commands are still listed (so a person sees what the model offers), as not mapped.
    unmapped = declared_commands(dash, "default", "dtmi:tvilling:bottling:Chiller;1", None, "chiller-1")
    assert {c.name for c in unmapped} == set(infos) and not any(c.mapped for c in unmapped)
    assert declared_commands(dash, "default", "dtmi:tvilling:bottling:Valve;1", commands, "pump-1-valve") == []
    assert declared_commands(dash, "default", "dtmi:unknown:Thing;1", commands, "x") == []


@pytest.mark.parametrize(("kind", "raw", "expected"), [
    (None, None, None), ("double", 450, 450.0), ("double", "12.5", 12.5), ("integer", 3.0, 3),
    ("boolean", True, True), ("string", "go", "go"), ("json", '{"a": [1, 2]}', {"a": [1, 2]}),
])
def test_parse_payload(kind: str | None, raw: object, expected: object) -> None:
    assert parse_payload(kind, raw) == expected


@pytest.mark.parametrize(("kind", "raw", "needle"), [("double", None, "enter a value"), ("double", "", "enter"),
                                                     ("json", "{oops", "not valid JSON"), ("json", " ", "JSON")])
def test_parse_payload_refuses_with_a_reason(kind: str, raw: object, needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        parse_payload(kind, raw)


def test_history_row_shows_state_reason_and_late_answers() -> None:
    cmd = Command.request(id="c-1", tenant="t", twin_id="line-1", name="start", payload=None, requested_at=T0,
                          expires_at=T0 + timedelta(seconds=5), context=Context.new(actor="token:abc"))
    cmd = cmd.move(CommandState.SENT, T0).move(CommandState.EXPIRED, T0 + timedelta(seconds=5), "no answer")
    cmd = cmd.record_late(CommandState.ACKED, T0 + timedelta(seconds=9))
    row = history_row(cmd)
    assert (row["state"], row["reason"], row["late"], row["payload"], row["by"]) == (
        "expired", "no answer", "acked", "–", "token:abc")
    assert row["requested"] == "2026-03-01 12:00:00"


def test_version_row_summarises_metrics_training_and_lineage() -> None:
    v = ModelVersion(tenant="t", name="pump-1:anomaly", version=3, kind="anomaly", stage="candidate",
                     format="tvilling.baseline/1", metrics={"threshold": 0.25, "per_signal": {"a": 1}},
                     training={"start": "2026-01-01T00:00:00+00:00", "end": "2026-01-02T00:00:00+00:00",
                               "points": 200, "twins": ["pump-1"]},
                     parameters={}, lineage={"reason": "recalibrate", "parent_version": 2, "data_fingerprint":
                                             "0123abcd", "code_version": "0.3.0"},
                     replaced_version=None, created_by="monitoring", created_at=T0, promoted_at=None)
    row = version_row(v)
    assert row["metrics"] == "threshold 0.25"  # nested metrics are left to the API
    assert row["training"] == "2026-01-01 00:00:00 → 2026-01-02 00:00:00 · 200 points · pump-1"
    assert row["lineage"] == "recalibrate · parent v2 · data 0123abcd · code 0.3.0"
    assert row["created"] == "2026-03-01 12:00:00 by monitoring"
    fleet = ModelVersion(tenant="t", name="fleet", version=1, kind="rul", stage="candidate",
                         format="tvilling.rul-lightgbm/1", metrics={"cv_rmse": 11.28, "cv_folds": 5},
                         training={"units": 100, "rows": 20631, "sha256": "ab" * 32}, parameters={},
                         lineage={"reason": "trained", "data_fingerprint": "abababab"}, replaced_version=None,
                         created_by="token:1", created_at=T0, promoted_at=None)
    row = version_row(fleet)
    assert row["training"] == "100 units · 20631 rows" and row["metrics"] == "cv_folds 5 · cv_rmse 11.28"


async def test_hub_routes_command_and_registry_events_to_their_pages(services: Services) -> None:
    hub = live.LiveHub(services, AlarmService(services.store, services.bus, services.clock))
    hub.start()
    try:
        await hub.tenant("default")
        calls: list[tuple[set[str], set[str]]] = []
        hub.watch("default", lambda ids, kinds: calls.append((set(ids), set(kinds))))
        now = datetime.now(UTC)
        services.bus.publish([Event(kind="command.acked", tenant="default", subject="line-1", time=now,
                                    context_id="c", data={"commandId": "x", "state": "acked"})])
        await asyncio.sleep(live.FLUSH_S * 2.5)
        services.bus.publish([Event(kind="ml.model.promoted", tenant="default", subject="pump-1:anomaly", time=now,
                                    context_id="c", data={"version": 2})])
        await asyncio.sleep(live.FLUSH_S * 2.5)
        assert calls == [({"line-1"}, {"commands"}), (set(), {"registry"})]
    finally:
        hub.stop()
