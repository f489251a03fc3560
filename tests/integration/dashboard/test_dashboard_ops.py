"""Dashboard pages for commands, the model registry and persisted alarms, in Debian Chromium against a real
platform on loopback (fixtures in conftest.py).

Commands go through the platform's CommandService with the example site's commands.yaml; the device side is a
recording transport registered under every transport name the mappings use, so the test decides when and how the
device answers. Every state change must reach the open page by push (no reload).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.integration.dashboard.rig import TENANT, RecordingDevice, Rig, attach_device, field, now_iso
from tests.support.samples import pump_rig
from tvilling.app.commands import CommandService
from tvilling.app.registry import registry_for
from tvilling.core.context import Context
from tvilling.core.roles import Role
from tvilling.ports.commands import CommandOutcome

pytestmark = pytest.mark.chromium



@pytest.fixture(scope="module")
def device(rig: Rig) -> Iterator[RecordingDevice]:
    device = attach_device(rig)
    yield device
    device.detach()


def test_operator_sends_a_command_and_sees_it_acked_failed_and_expired(
        page_for: Any, rig: Rig, device: RecordingDevice) -> None:
    service: CommandService = rig.platform.app.state.commands
    page = page_for(Role.OPERATOR, "/ui/twin/line-1")
    page.get_by_test_id("commands-panel").wait_for(timeout=10_000)
    assert page.get_by_test_id("commands-read-only").count() == 0
    before = len(device.sent)

    # A value outside the mapping's limits (0-700) is refused by the service before anything is sent.
    field(page, "cmd-input-set_speed_bpm").fill("900")
    page.get_by_test_id("cmd-send-set_speed_bpm").click()
    page.locator(".q-notification").filter(has_text="above the maximum").wait_for(timeout=3000)
    assert len(device.sent) == before

    field(page, "cmd-input-set_speed_bpm").fill("450")
    page.get_by_test_id("cmd-send-set_speed_bpm").click()
    sent = device.wait_sent(before + 1)
    assert (sent.twin_id, sent.name, sent.value) == ("line-1", "set_speed_bpm", 450)
    badge = page.get_by_test_id(f"cmd-state-{sent.command_id}")
    badge.filter(has_text="sent").wait_for(timeout=3000)
    rig.run(device.answer(CommandOutcome(sent.command_id, "acked", detail={"applied": 450})))
    started = time.monotonic()
    badge.filter(has_text="acked").wait_for(timeout=3000)
    assert time.monotonic() - started < 2.0  # pushed, not polled
    stored = service.get(TENANT, sent.command_id)
    assert stored.state.value == "acked" and stored.context.actor.startswith("token:")

    # A command without request; the device refuses it: failed, with its reason on the page.
    page.get_by_test_id("cmd-send-stop").click()
    refused = device.wait_sent(before + 2)
    assert refused.name == "stop" and refused.value is None
    rig.run(device.answer(CommandOutcome(refused.command_id, "failed", reason="line interlock active")))
    page.get_by_test_id(f"cmd-state-{refused.command_id}").filter(has_text="failed").wait_for(timeout=3000)
    page.get_by_test_id("command-history").get_by_text("line interlock active").wait_for(timeout=3000)

    # Sent from elsewhere (the API, the CLI) and never answered: it appears, then expires, on the open page.
    silent, _ = rig.run(service.request(TENANT, "line-1", "start", None, Context.new(actor="token:cli"),
                                        timeout_s=0.6))
    expired = page.get_by_test_id(f"cmd-state-{silent.id}")
    expired.wait_for(timeout=3000)
    expired.filter(has_text="expired").wait_for(timeout=5000)
    assert page.problems == []


def test_viewer_sees_commands_disabled_with_the_reason(page_for: Any, rig: Rig, device: RecordingDevice) -> None:
    page = page_for(Role.VIEWER, "/ui/twin/line-1")
    page.get_by_test_id("commands-panel").wait_for(timeout=10_000)
    assert "needs operator" in page.get_by_test_id("commands-read-only").inner_text()
    for name in ("set_speed_bpm", "start", "stop"):
        assert page.get_by_test_id(f"cmd-send-{name}").is_disabled()
    assert field(page, "cmd-input-set_speed_bpm").is_disabled()
    assert page.problems == []


def test_registry_page_promotes_and_rolls_back_after_confirmation(page_for: Any, rig: Rig) -> None:
    registry = registry_for(rig.platform.services)
    name = "dash-test:rul"
    ctx = Context.new(actor="training")
    start = datetime(2026, 1, 1, tzinfo=UTC)
    registry.register(TENANT, name, "rul", b"{}", "json", ctx, metrics={"rmse": 18.25},
                      training={"start": start.isoformat(), "end": (start + timedelta(days=30)).isoformat(),
                                "points": 43200, "twins": ["pump-1-bearing"]},
                      lineage={"reason": "train", "data_fingerprint": "ab12cd34ef56"}, promote=True)
    registry.register(TENANT, name, "rul", b"{}", "json", ctx, metrics={"rmse": 14.5},
                      lineage={"reason": "retrain", "parent_version": 1})

    viewer = page_for(Role.VIEWER, f"/ui/registry?name={name}")
    viewer.get_by_test_id("stage-v1").filter(has_text="production").wait_for(timeout=10_000)
    assert viewer.get_by_test_id("read-only").is_visible()
    assert viewer.get_by_test_id("promote-v2").count() == 0 and viewer.get_by_test_id("rollback").count() == 0

    page = page_for(Role.ENGINEER, f"/ui/registry?name={name}")
    table = page.get_by_test_id("version-table")
    table.get_by_text("rmse 18.25").wait_for(timeout=10_000)
    assert "43200 points" in table.inner_text() and "parent v1" in table.inner_text()
    assert "data ab12cd34ef56" in table.inner_text()
    page.get_by_test_id("stage-v2").filter(has_text="candidate").wait_for()
    assert page.get_by_test_id("rollback").is_disabled()  # v1 replaced nothing: nothing to roll back to

    page.get_by_test_id("promote-v2").click()  # cancelled: nothing changes
    page.get_by_test_id("confirm-no").click()
    assert registry.get(TENANT, name, 2).stage == "candidate"

    page.get_by_test_id("promote-v2").click()
    page.get_by_test_id("confirm-dialog").filter(has_text="Promote version 2").wait_for()
    page.get_by_test_id("confirm-yes").click()
    page.get_by_test_id("stage-v2").filter(has_text="production").wait_for(timeout=3000)
    page.get_by_test_id("stage-v1").filter(has_text="archived").wait_for(timeout=3000)
    assert registry.get(TENANT, name, 2).stage == "production"

    assert page.get_by_test_id("rollback").is_enabled()
    page.get_by_test_id("rollback").click()
    page.get_by_test_id("confirm-yes").click()
    page.get_by_test_id("stage-v1").filter(has_text="production").wait_for(timeout=3000)
    assert [registry.get(TENANT, name, v).stage for v in (1, 2)] == ["production", "archived"]
    with rig.platform.services.store.read() as tx:
        changes = [(s.event.kind, s.event.actor) for s in tx.events.list(TENANT, subject=name, limit=100)]
    assert [k for k, _ in changes][-2:] == ["ml.model.promoted", "ml.model.rolled_back"]
    assert all(actor.startswith("token:") for _, actor in changes[-2:])

    # A version registered elsewhere (the live monitor, a training job) shows up on both open pages by push.
    registry.register(TENANT, name, "rul", b"{}", "json", ctx, metrics={"rmse": 13.0})
    page.get_by_test_id("stage-v3").filter(has_text="candidate").wait_for(timeout=3000)
    viewer.get_by_test_id("stage-v3").wait_for(timeout=3000)
    assert page.problems == [] and viewer.problems == []


def test_alarm_page_shows_a_rule_alarm_with_rule_property_and_since(page_for: Any, rig: Rig) -> None:
    page = page_for(Role.OPERATOR, "/ui/alarms")
    page.get_by_test_id("alarm-table").wait_for()
    # motor-winding-critical (examples/bottling-plant/alarms.yaml): above 145 degC, no on-delay.
    rig.post([{"twinId": "conveyor-1-motor", "name": "windingTemperature", "value": 151.0, "unit": "degC",
               "sourceTime": now_iso()}])
    row = page.get_by_test_id("alarm-table").locator("tr").filter(has_text="motor-winding-critical")
    row.wait_for(timeout=5000)
    text = row.inner_text()
    assert "conveyor-1-motor" in text and "windingTemperature" in text and "critical" in text
    alarm = next(a for a in rig.platform.app.state.alarms.list(TENANT) if a.rule_id == "motor-winding-critical")
    assert alarm.raised_at.strftime("%Y-%m-%d %H:%M:%S") in text  # "since"
    assert page.problems == []


def test_detect_page_scores_an_uploaded_csv_and_explains_a_bad_one(page_for: Any, rig: Rig, tmp_path: Any) -> None:
    page = page_for(Role.VIEWER, "/ui/detect")  # the lowest role may use it: nothing is stored
    page.get_by_test_id("detect-run").click()
    page.get_by_test_id("detect-error").filter(has_text="Choose a CSV file first").wait_for(timeout=5000)

    csv = tmp_path / "pump.csv"
    pump_rig().to_csv(csv, sep=";", index=False)
    page.locator("[data-testid=detect-upload] input[type=file]").set_input_files(str(csv))
    page.get_by_test_id("detect-file").filter(has_text="pump.csv").wait_for(timeout=5000)
    page.get_by_test_id("detect-run").click()  # separator still ',': the table has no numeric column
    page.get_by_test_id("detect-error").filter(has_text="no numeric columns").wait_for(timeout=10_000)

    page.get_by_test_id("detect-sep").click()
    page.get_by_role("option", name="semicolon").click()
    page.locator("[data-testid=detect-exclude] input, input[data-testid=detect-exclude]").first.fill("anomaly")
    page.locator("[data-testid=detect-train] input, input[data-testid=detect-train]").first.fill("400")
    page.get_by_test_id("detect-run").click()
    anomalies = page.get_by_test_id("detect-anomalies")
    anomalies.wait_for(state="visible", timeout=20_000)
    assert page.get_by_test_id("detect-error").inner_text() == ""
    assert 250 <= int(anomalies.inner_text().replace(",", "")) <= 400  # the 300-row fault and the spike, few others
    table = page.get_by_test_id("detect-episodes")
    assert "2026-03-09" in table.inner_text() and "pressure_bar" in table.inner_text()
    with page.expect_download() as done:
        page.get_by_test_id("detect-download").click()
    lines = Path(done.value.path()).read_text().splitlines()
    assert lines[0] == "datetime,anomaly_score,is_anomaly" and len(lines) == 1401
    assert page.get_by_test_id("detect-f1").count() == 0  # no label column given

    page.locator("[data-testid=detect-exclude] input, input[data-testid=detect-exclude]").first.fill("")
    page.locator("[data-testid=detect-label] input, input[data-testid=detect-label]").first.fill("anomaly")
    page.get_by_test_id("detect-run").click()
    page.get_by_test_id("detect-f1").wait_for(state="visible", timeout=20_000)
    assert float(page.get_by_test_id("detect-f1").inner_text()) > 0.9
    assert page.problems == []


def test_fleet_rul_page_trains_a_model_and_ranks_units_by_risk(page_for: Any, rig: Rig, tmp_path: Any) -> None:
    from tests.unit.ml.rul.fleet import make_fleet
    train, now = tmp_path / "run_to_failure.csv", tmp_path / "in_service.csv"
    make_fleet(10, seed=61)[0].to_csv(train, index=False)
    make_fleet(5, seed=62, truncate=True)[0].to_csv(now, index=False)

    viewer = page_for(Role.VIEWER, "/ui/rul")  # viewers estimate, but cannot train
    viewer.get_by_test_id("rul-read-only").wait_for(timeout=10_000)
    assert viewer.get_by_test_id("rul-train-run").count() == 0
    viewer.get_by_test_id("rul-run").click()
    viewer.get_by_test_id("rul-error").filter(has_text="No fleet model is registered yet").wait_for(timeout=5000)

    page = page_for(Role.ENGINEER, "/ui/rul")
    field(page, "rul-train-name").fill("pumps")
    page.locator("[data-testid=rul-train-upload] input[type=file]").set_input_files(str(train))
    page.get_by_test_id("rul-train-file").filter(has_text="run_to_failure.csv").wait_for(timeout=5000)
    page.get_by_test_id("rul-train-promote").click()
    page.get_by_test_id("rul-train-run").click()
    jobs = page.get_by_test_id("rul-jobs")
    jobs.filter(has_text="succeeded").wait_for(timeout=120_000)  # followed live, no reload
    assert "pumps" in jobs.inner_text()
    assert registry_for(rig.platform.services).production(TENANT, "pumps") is not None

    page.locator("[data-testid=rul-now-upload] input[type=file]").set_input_files(str(now))
    page.get_by_test_id("rul-now-file").filter(has_text="in_service.csv").wait_for(timeout=5000)
    page.get_by_test_id("rul-model").filter(has_text="pumps").wait_for(timeout=10_000)
    page.get_by_test_id("rul-run").click()
    page.get_by_test_id("rul-likely").wait_for(state="visible", timeout=20_000)
    assert page.get_by_test_id("rul-error").inner_text() == ""
    rows = page.get_by_test_id("rul-estimates").locator("tbody tr")
    assert rows.count() == 5
    with page.expect_download() as done:
        page.get_by_test_id("rul-download").click()
    lines = Path(done.value.path()).read_text().splitlines()
    assert lines[0] == "unit,cycle,rul,rul_lower,rul_upper,interval_level,within,p_failure" and len(lines) == 6
    assert page.problems == [] and viewer.problems == []
