"""The Maintenance plan page in Debian Chromium against a real platform on loopback (fixtures in conftest.py).

The platform runs on the bottling plant's site, whose ``planning.yaml`` sits beside ``mappings.yaml``: one bearing
task per Bearing twin with a live RUL estimate (the others are listed as not planned: no wear seen) and the
chiller's condenser cleaning. The page must show the plan ``GET /api/v1/maintenance/plan`` answers, task by
task; a work order made on a planned twin marks the plan stale by push and *Re-plan* shows it. With no planning
file, the page explains what to write and where it is described.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.integration.dashboard.rig import TENANT, Rig, now_iso, publish_insight
from tvilling.app.maintenance_planning import MaintenancePlanner, maintenance_planner
from tvilling.app.work_orders import work_order_service
from tvilling.core.roles import Role
from tvilling.dashboard.pages.maintenance_plan_view import pct

pytestmark = pytest.mark.chromium
PATH = "/ui/maintenance/plan"
BEARINGS = {"pump-1-bearing", "filler-1-bearing", "conveyor-1-bearing"}
TWIN = "conveyor-1-bearing"


def api_plan(rig: Rig) -> dict[str, Any]:
    r = httpx.get(rig.url("/api/v1/maintenance/plan"), timeout=30,
                  headers={"Authorization": f"Bearer {rig.tokens[Role.VIEWER]}"})
    r.raise_for_status()
    out: dict[str, Any] = r.json()
    return out


@pytest.fixture
def unplanned(rig: Rig) -> Iterator[None]:
    """The platform as if its site had no planning.yaml (the planner the API and the page share, swapped)."""
    state = rig.platform.app.state
    before = maintenance_planner(state, rig.platform.services)
    state.planner = MaintenancePlanner(rig.platform.services)
    yield
    state.planner = before


def test_viewer_sees_the_plan_the_api_answers_and_re_plans(page_for: Any, rig: Rig) -> None:
    # The conveyor bearing wears: its RUL distribution, as the live monitor publishes it (other tests sharing this
    # platform may have given other bearings estimates too).
    publish_insight(rig, "insight.rul", TWIN, {
        "at": now_iso(), "p_failure": 0.02, "horizon_hours": 72.0, "health_indicator": 3.1, "failure_threshold": 5.0,
        "rul_hours": {"mean": 400.0, "lower": 250.0, "upper": 600.0, "level": 0.9, "censored_at": 8760.0,
                      "quantiles": [round(250.0 + 10.0 * i, 1) for i in range(40)]}})
    page = page_for(Role.VIEWER, PATH)
    table = page.get_by_test_id("plan-table")
    table.wait_for(timeout=30_000)  # planned after the page is shown: the solver runs off the event loop
    answer = api_plan(rig)
    assert answer["configured"] is True and answer["plan"] is not None
    tasks = answer["plan"]["tasks"]
    planned = {t["task"] for t in tasks}
    unplanned = {n["asset"] for n in answer["notPlanned"]}
    assert {"clean-chiller-condenser", f"replace-bearing/{TWIN}"} <= planned
    assert {t.removeprefix("replace-bearing/") for t in planned - {"clean-chiller-condenser"}} | unplanned == BEARINGS
    assert next(t for t in tasks if t["asset"] == TWIN)["failureSource"] == "rul"
    assert table.locator("tbody tr").count() == len(tasks)
    for t in tasks:
        assert page.get_by_test_id(f"plan-date-{t['task']}").inner_text() == t["date"]
        assert page.get_by_test_id(f"plan-task-{t['task']}").inner_text() == t["title"]
        assert page.get_by_test_id(f"plan-p-{t['task']}").inner_text() == pct(t["pFailureBefore"])
        assert table.locator(f'a[href="/ui/twin/{t["asset"]}"]').count() == 1
    plan = answer["plan"]
    assert page.get_by_test_id("plan-file").inner_text().endswith("planning.yaml")
    assert page.get_by_test_id("plan-status").inner_text().startswith(plan["status"])
    assert page.get_by_test_id("plan-horizon").inner_text().startswith(f"{plan['days']} days, ")
    assert page.get_by_test_id("plan-kpi-tasks").inner_text() == str(len(tasks))
    for chart in ("plan-timeline", "plan-crew"):
        page.get_by_test_id(chart).locator("canvas").first.wait_for(timeout=5000)
    listed = page.get_by_test_id("plan-not-planned").inner_text()
    assert all(n["task"] in listed for n in answer["notPlanned"]) and ("no wear seen" in listed) == bool(unplanned)
    assert page.locator(".q-drawer .tv-active").inner_text().endswith("Maintenance plan")
    assert page.locator('[data-testid^="plan-create-wo-"]').count() == 0  # a viewer cannot create work orders

    service = work_order_service(rig.platform.app.state, rig.platform.services)
    order = service.create(TENANT, TWIN, "Replace the conveyor bearing (planning test)", role=Role.OPERATOR,
                           actor="token:test")
    try:
        page.get_by_test_id("plan-stale").filter(has_text="re-plan").wait_for(timeout=5000)  # pushed, no reload
        assert page.get_by_test_id(f"plan-wo-replace-bearing/{TWIN}").count() == 0
        page.get_by_test_id("plan-replan").click()
        badge = page.get_by_test_id(f"plan-wo-replace-bearing/{TWIN}")
        badge.wait_for(timeout=30_000)
        assert badge.inner_text() == "open" and page.get_by_test_id("plan-stale").inner_text() == ""
        again = {t["task"]: t for t in api_plan(rig)["plan"]["tasks"]}
        assert again[f"replace-bearing/{TWIN}"]["workOrder"]["id"] == order.id
        for tid, t in again.items():
            assert page.get_by_test_id(f"plan-date-{tid}").inner_text() == t["date"]
    finally:
        service.act(TENANT, order.id, "cancel", role=Role.OPERATOR, actor="token:test")
    assert page.problems == []


@pytest.mark.usefixtures("unplanned")
def test_without_a_planning_file_the_page_says_what_to_write(page_for: Any, rig: Rig) -> None:
    assert api_plan(rig)["configured"] is False
    page = page_for(Role.VIEWER, PATH)
    empty = page.get_by_test_id("plan-empty")
    empty.wait_for(timeout=15_000)
    assert "planning.yaml" in page.get_by_test_id("plan-hint").inner_text()
    assert page.get_by_test_id("plan-docs").inner_text() == "docs/maintenance-planning.md"
    assert page.get_by_test_id("plan-table").count() == 0 and page.get_by_test_id("plan-timeline").count() == 0
    assert empty.locator('a[href^="/api/v1/docs"]').count() == 1
    assert page.problems == []


def test_operator_turns_a_planned_task_into_a_work_order_due_that_day(page_for: Any, rig: Rig) -> None:
    publish_insight(rig, "insight.rul", TWIN, {
        "at": now_iso(), "p_failure": 0.02, "horizon_hours": 72.0, "health_indicator": 3.1, "failure_threshold": 5.0,
        "rul_hours": {"mean": 400.0, "lower": 250.0, "upper": 600.0, "level": 0.9, "censored_at": 8760.0,
                      "quantiles": [round(250.0 + 10.0 * i, 1) for i in range(40)]}})
    service = work_order_service(rig.platform.app.state, rig.platform.services)
    for live in service.list(TENANT, states=["proposed", "open"], twin=TWIN):  # left by other tests
        service.act(TENANT, live.id, "cancel", role=Role.OPERATOR, actor="token:test")
    page = page_for(Role.OPERATOR, PATH)
    task = f"replace-bearing/{TWIN}"
    button = page.get_by_test_id(f"plan-create-wo-{task}")
    button.wait_for(timeout=30_000)
    planned = next(t for t in api_plan(rig)["plan"]["tasks"] if t["task"] == task)
    button.click()
    page.get_by_test_id(f"plan-wo-{task}").wait_for(timeout=30_000)  # re-planned: the task shows its work order
    orders = service.list(TENANT, states=["open"], twin=TWIN)
    try:
        assert len(orders) == 1
        order = orders[0]
        assert order.title == planned["title"] and order.due_by is not None
        assert order.due_by.date().isoformat() == planned["date"] and order.created_by.startswith("token:")
        assert f"Planned for {planned['date']} by the maintenance plan" in order.description
        assert page.get_by_test_id(f"plan-create-wo-{task}").count() == 0
    finally:
        for o in orders:
            service.act(TENANT, o.id, "cancel", role=Role.OPERATOR, actor="token:test")
    assert page.problems == []
