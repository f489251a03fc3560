"""The Work orders page in Debian Chromium against a real platform on loopback (fixtures in conftest.py).

Work orders come from the platform's one WorkOrderService (the one the API and the background task use): a rule
configured with ``parse_policy`` reacts to real ``insight.anomaly`` / ``insight.rul`` events, committed to the
event log and published on the bus the way the live monitors do it, so the evidence (signals, since when, the
insight's context) is read back from the store. Every change must reach the open page by push (no reload).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.integration.dashboard.rig import BEARING, TENANT, Rig, field, now_iso, publish_insight
from tests.support.services import until
from tvilling.app.work_orders import POLICY_SUBJECT, WorkOrderService, work_order_service
from tvilling.core.events import Event
from tvilling.core.roles import Role
from tvilling.policy.work_order_rules import parse_policy
from tvilling.policy.work_orders import WorkOrder

pytestmark = pytest.mark.chromium
RULE = {"id": "bearing-72h", "model": BEARING, "p_failure": 0.5, "mode": "approve", "priority": "urgent",
        "title": "Replace the bearing of {twin}: P(failure within {horizon_hours} h) = {p_failure}"}
MAX_AUTO = 5


def failing(rig: Rig, twin: str) -> Event:
    """An anomaly episode on the bearing's envelope signals, then P(failure within 72 h) = 87 %."""
    t = now_iso()
    publish_insight(rig, "insight.anomaly", twin, {
        "score": 0.9987, "threshold": 0.99, "detected_at": t, "since": t, "signals": ["envelopeBpfo", "kurtosis"],
        "contributions": [{"signal": "envelopeBpfo", "share": 0.71, "deviation": 6.2},
                          {"signal": "kurtosis", "share": 0.26, "deviation": 3.1}], "detector": "baseline"})
    return publish_insight(rig, "insight.rul", twin, {
        "at": t, "rul_hours": {"mean": 61.5, "lower": 30.0, "upper": 95.0, "level": 0.9}, "p_failure": 0.87,
        "horizon_hours": 72.0, "health_indicator": 4.1, "failure_threshold": 5.0})


@pytest.fixture(scope="module")
def service(rig: Rig) -> Iterator[WorkOrderService]:
    svc = work_order_service(rig.platform.app.state, rig.platform.services)
    before = svc.policy
    svc.configure(parse_policy({"version": 1, "mode": "auto", "max_auto_per_day": MAX_AUTO, "rules": [RULE]}))
    yield svc
    svc.configure(before)
    for twin in ("filler-1-bearing",):  # end the synthetic episode (its anomaly alarm clears)
        publish_insight(rig, "insight.cleared", twin, {"since": now_iso(), "cleared_at": now_iso()})


def live_order(service: WorkOrderService, twin: str) -> WorkOrder:
    until(lambda: any(o.rule_id == RULE["id"] for o in service.list(TENANT, states=["proposed"], twin=twin)))
    return next(o for o in service.list(TENANT, states=["proposed"], twin=twin) if o.rule_id == RULE["id"])


def count(service: WorkOrderService, state: str) -> str:
    return str(len(service.list(TENANT, states=[state], limit=1000)))


def test_operator_approves_and_completes_a_work_order_raised_by_the_policy(
        page_for: Any, rig: Rig, service: WorkOrderService) -> None:
    page = page_for(Role.OPERATOR, "/ui/maintenance")
    table = page.get_by_test_id("wo-table")
    table.wait_for(timeout=10_000)
    assert page.get_by_test_id("read-only").count() == 0
    assert page.get_by_test_id("wo-kpi-mode").inner_text() == "auto"
    assert page.get_by_test_id("wo-kpi-released").inner_text() == f"0 / {MAX_AUTO}"
    assert "1 rule(s)" in page.get_by_test_id("wo-policy").inner_text()

    rul = failing(rig, "filler-1-bearing")
    order = live_order(service, "filler-1-bearing")
    title = "Replace the bearing of filler-1-bearing: P(failure within 72 h) = 87%"
    assert order.title == title and order.created_by == "policy:bearing-72h"
    row = table.locator("tr").filter(has_text=title)
    row.wait_for(timeout=3000)  # pushed by workorder.created, no reload
    state = page.get_by_test_id(f"wo-state-{order.id}")
    assert state.inner_text() == "proposed"
    assert page.get_by_test_id(f"wo-priority-{order.id}").inner_text() == "urgent"
    assert page.get_by_test_id(f"wo-by-{order.id}").inner_text() == "by policy:bearing-72h"
    assert row.get_by_role("link", name="filler-1-bearing").get_attribute("href") == "/ui/twin/filler-1-bearing"
    assert order.due_by is not None and order.due_by.strftime("%Y-%m-%d %H:%M") in row.inner_text()
    assert page.get_by_test_id("wo-kpi-proposed").inner_text() == count(service, "proposed")
    assert int(page.get_by_test_id("wo-kpi-due").inner_text()) >= 1  # due in 30 h (the interval's lower end)
    assert page.get_by_test_id(f"wo-reject-{order.id}").is_visible()
    assert page.get_by_test_id(f"wo-complete-{order.id}").count() == 0

    # The evidence: what triggered it, P(failure), the RUL interval, which signals since when, the insight's id.
    row.get_by_text(title).click()
    evidence = page.get_by_test_id("wo-evidence")
    evidence.wait_for(state="visible", timeout=3000)
    assert page.get_by_test_id("wo-ev-pfailure").inner_text() == "87%"
    assert page.get_by_test_id("wo-ev-rul").inner_text() == "62 h (90% interval 30 h – 95 h)"
    assert page.get_by_test_id("wo-ev-signals").inner_text() == "envelopeBpfo, kurtosis"
    assert page.get_by_test_id("wo-ev-since").inner_text().endswith(" UTC")
    assert page.get_by_test_id("wo-ev-context").inner_text() == rul.context_id
    assert page.get_by_test_id("wo-ev-reason").inner_text() == "the rule asks for approval"
    trail = page.get_by_test_id("wo-transitions")
    assert "created" in trail.inner_text() and "work-orders" in trail.inner_text()

    # Approve with a comment (a cancelled dialog changes nothing).
    page.get_by_test_id(f"wo-approve-{order.id}").click()
    page.get_by_test_id("wo-dialog").filter(has_text="filler-1-bearing").wait_for(timeout=3000)
    page.get_by_test_id("wo-dialog-cancel").click()
    page.get_by_test_id("wo-dialog").wait_for(state="hidden", timeout=3000)
    assert service.get(TENANT, order.id).state == "proposed"
    page.get_by_test_id(f"wo-approve-{order.id}").click()
    field(page, "wo-comment").fill("parts in stock")
    page.get_by_test_id("wo-dialog-confirm").click()
    state.filter(has_text="open").wait_for(timeout=3000)
    approved = service.get(TENANT, order.id)
    assert approved.state == "open" and approved.comment == "parts in stock"
    trail.filter(has_text="parts in stock").wait_for(timeout=3000)  # the open evidence panel follows
    assert "approved" in trail.inner_text()
    actor = service.transitions(TENANT, order.id)[-1]["actor"]
    assert actor.startswith("token:") and actor in trail.inner_text()

    # Complete it: it leaves the live list; the "Done" filter shows it.
    page.get_by_test_id(f"wo-complete-{order.id}").click()
    field(page, "wo-comment").fill("bearing replaced")
    page.get_by_test_id("wo-dialog-confirm").click()
    row.wait_for(state="detached", timeout=3000)
    done = service.get(TENANT, order.id)
    assert (done.state, done.closed_by, done.comment) == ("done", actor, "bearing replaced")
    assert page.get_by_test_id("wo-ev-state").inner_text() == "done"
    page.get_by_test_id("wo-state-filter").click()
    page.get_by_role("option", name="Done").click()
    state.filter(has_text="done").wait_for(timeout=3000)
    assert "bearing replaced" in table.inner_text()
    assert page.problems == []


def test_viewer_sees_work_orders_read_only_and_a_forged_action_is_refused(
        page_for: Any, rig: Rig, service: WorkOrderService) -> None:
    order = service.create(TENANT, "pump-1", "Check the pump seal", role=Role.OPERATOR, actor="token:planner",
                           priority="low")
    page = page_for(Role.VIEWER, "/ui/maintenance")
    table = page.get_by_test_id("wo-table")
    row = table.locator("tr").filter(has_text="Check the pump seal")
    row.wait_for(timeout=10_000)
    assert page.get_by_test_id("read-only").is_visible()
    assert page.get_by_test_id(f"wo-complete-{order.id}").count() == 0
    assert page.get_by_role("button", name="Complete").count() == 0
    assert page.get_by_role("button", name="Approve").count() == 0
    assert page.get_by_test_id("wo-create").count() == 0
    assert page.get_by_test_id(f"wo-by-{order.id}").inner_text() == "by token:planner"
    page.get_by_test_id(f"wo-evidence-{order.id}").click()  # reading the evidence is for everyone
    page.get_by_test_id("wo-ev-state").filter(has_text="open").wait_for(timeout=3000)
    assert "Made by hand" in page.get_by_test_id("wo-evidence").inner_text()
    # Forging the table's "act" event from the browser changes nothing: the service checks the role.
    page.evaluate("""(id) => { const el = document.querySelector('[data-testid=wo-table]');
        getElement(el.id.replace(/^c/, '')).$emit('act', {id: id, action: 'complete'}); }""", order.id)
    page.locator(".q-notification").filter(has_text="cannot complete").wait_for(timeout=3000)
    assert service.get(TENANT, order.id).state == "open"
    assert page.problems == []


def test_new_work_orders_appear_live_and_operators_create_them_on_the_page(
        page_for: Any, rig: Rig, service: WorkOrderService) -> None:
    page = page_for(Role.OPERATOR, "/ui/")
    page.get_by_role("listitem").filter(has_text="Work orders").click()  # the navigation entry is ready
    page.wait_for_url("**/ui/maintenance", timeout=5000)
    table = page.get_by_test_id("wo-table")
    table.wait_for(timeout=10_000)
    page.wait_for_function("() => window.did_handshake === true", timeout=10_000)
    opened = int(page.get_by_test_id("wo-kpi-open").inner_text())

    # Made elsewhere (the API, the CLI): it appears on the open page by push.
    made = service.create(TENANT, "conveyor-1", "Lubricate the conveyor chain", role=Role.OPERATOR,
                          actor="token:planner", priority="medium",
                          due=datetime.now(UTC) + timedelta(hours=5))
    started = time.monotonic()
    row = table.locator("tr").filter(has_text="Lubricate the conveyor chain")
    row.wait_for(timeout=3000)
    assert time.monotonic() - started < 2.5  # pushed, not polled
    assert "in 4 h" in row.inner_text() or "in 5 h" in row.inner_text()
    page.get_by_test_id("wo-kpi-open").filter(has_text=str(opened + 1)).wait_for(timeout=3000)
    assert page.get_by_test_id(f"wo-state-{made.id}").inner_text() == "open"

    # The text filter narrows the list to a twin.
    field(page, "wo-text-filter").fill("conveyor-1")
    table.locator("tr").filter(has_text="Check the pump seal").wait_for(state="detached", timeout=3000)
    assert row.is_visible()
    field(page, "wo-text-filter").fill("")

    # An unknown twin is explained; nothing is stored.
    field(page, "wo-new-twin").fill("ghost")
    field(page, "wo-new-title").fill("Inspect the ghost")
    page.get_by_test_id("wo-create").click()
    page.get_by_test_id("wo-create-error").filter(has_text="does not exist").wait_for(timeout=3000)
    assert not [o for o in service.list(TENANT, limit=1000) if o.twin_id == "ghost"]

    field(page, "wo-new-twin").fill("chiller-1")
    field(page, "wo-new-title").fill("Clean the condenser")
    page.get_by_test_id("wo-new-priority").click()
    page.get_by_role("option", name="high").click()
    field(page, "wo-new-due").fill("2026-12-01T08:00")
    page.get_by_test_id("wo-create").click()
    table.locator("tr").filter(has_text="Clean the condenser").wait_for(timeout=3000)
    assert page.get_by_test_id("wo-create-error").inner_text() == ""
    [new] = [o for o in service.list(TENANT, twin="chiller-1") if o.title == "Clean the condenser"]
    assert (new.state, new.mode, new.priority) == ("open", "manual", "high")
    assert new.due_by == datetime(2026, 12, 1, 8, 0, tzinfo=UTC) and new.created_by.startswith("token:")
    assert page.problems == []


def mode_changes(rig: Rig) -> list[Event]:
    """The tenant's ``workorder.mode_changed`` events, as committed to the event log (oldest first)."""
    with rig.platform.services.store.read() as tx:
        return [s.event for s in tx.events.list(TENANT, subject=POLICY_SUBJECT, limit=1000)
                if s.event.kind == "workorder.mode_changed"]


def test_operator_pulls_the_kill_switch_and_only_an_engineer_raises_the_mode_again(
        page_for: Any, rig: Rig, service: WorkOrderService) -> None:
    before = len(mode_changes(rig))
    try:
        page = page_for(Role.OPERATOR, "/ui/maintenance")
        kpi = page.get_by_test_id("wo-kpi-mode")
        kpi.wait_for(timeout=10_000)
        page.wait_for_function("() => window.did_handshake === true", timeout=10_000)
        assert kpi.inner_text() == "auto"
        source = page.get_by_test_id("wo-mode-source")

        # Off, with a comment (a dialog closed with Back changes nothing).
        page.get_by_test_id("wo-mode-change").click()
        dialog = page.get_by_test_id("wo-mode-dialog")
        dialog.wait_for(state="visible", timeout=3000)
        page.get_by_test_id("wo-mode-cancel").click()
        dialog.wait_for(state="hidden", timeout=3000)
        assert service.policy_view(TENANT)["mode"] == "auto" and len(mode_changes(rig)) == before
        page.get_by_test_id("wo-mode-change").click()
        page.get_by_test_id("wo-mode-select").get_by_text("the kill switch").click()
        field(page, "wo-mode-comment").fill("planners on strike")
        page.get_by_test_id("wo-mode-confirm").click()
        kpi.filter(has_text="off").wait_for(timeout=3000)
        view = service.policy_view(TENANT)
        assert (view["mode"], view["fileMode"], view["tenantMode"], view["modeComment"]) == \
            ("off", "auto", "off", "planners on strike")
        actor = view["modeChangedBy"]
        assert actor.startswith("token:")
        source.filter(has_text="file: auto").wait_for(timeout=3000)
        assert f"set by {actor}" in source.inner_text() and "planners on strike" in source.inner_text()
        assert "off: no work orders" in page.get_by_test_id("wo-policy").inner_text()
        [changed] = mode_changes(rig)[before:]
        assert (changed.actor, changed.data["previous"], changed.data["mode"], changed.data["comment"]) == \
            (actor, "auto", "off", "planners on strike")

        # Changed elsewhere (an engineer, through the API or the CLI): the open page follows by push.
        service.set_mode(TENANT, "approve", role=Role.ENGINEER, actor="token:engineer", comment="back on, gated")
        kpi.filter(has_text="approve").wait_for(timeout=3000)
        source.filter(has_text="set by token:engineer").wait_for(timeout=3000)

        # An operator may not raise it: the service refuses and the page says why; nothing changes.
        page.get_by_test_id("wo-mode-change").click()
        dialog.wait_for(state="visible", timeout=3000)
        page.get_by_test_id("wo-mode-select").get_by_text("auto: rules release").click()
        page.get_by_test_id("wo-mode-confirm").click()
        page.locator(".q-notification").filter(has_text="needs engineer").wait_for(timeout=3000)
        assert service.policy_view(TENANT)["mode"] == "approve" and kpi.inner_text() == "approve"
        assert len(mode_changes(rig)) == before + 2

        # A viewer sees the mode and who set it, but no control.
        viewer = page_for(Role.VIEWER, "/ui/maintenance")
        viewer.get_by_test_id("wo-kpi-mode").filter(has_text="approve").wait_for(timeout=10_000)
        assert "set by token:engineer" in viewer.get_by_test_id("wo-mode-source").inner_text()
        assert viewer.get_by_test_id("wo-mode-change").count() == 0
        assert page.problems == [] and viewer.problems == []
    finally:  # the platform is shared by the package's tests: leave the policy as found
        service.set_mode(TENANT, "auto", role=Role.ENGINEER, actor="token:test", comment="restored by the test")
    assert service.policy_view(TENANT)["mode"] == "auto"
