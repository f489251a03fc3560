"""The Integrations page in Debian Chromium against a real platform on loopback (fixtures in conftest.py), with a
real HTTP receiver on 127.0.0.1: an engineer adds a route and sees its secret once, work orders reach the receiver,
an operator tests, pauses and resumes it and sends a dead letter again; a viewer only reads."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.dashboard.rig import TENANT, Rig, field
from tests.support.receiver import Receiver, receiver
from tests.support.security import denials, security_records
from tests.support.services import until
from tvilling.app.event_delivery import EventDelivery
from tvilling.app.event_routes import EventRouteService, event_route_service
from tvilling.app.work_orders import work_order_service
from tvilling.core.roles import Role

pytestmark = pytest.mark.chromium
ANSWER = {"status": 204}


@pytest.fixture(scope="module")
def rx() -> Iterator[Receiver]:
    with receiver(lambda _n: (ANSWER["status"], {})) as r:
        yield r


@pytest.fixture(scope="module")
def routes(rig: Rig) -> Iterator[EventRouteService]:
    """The platform's route service, its delivery quick for a test (one attempt, short polls), routes removed after."""
    delivery: EventDelivery = rig.platform.app.state.event_delivery
    before = delivery.policy
    delivery.policy = dataclasses.replace(before, max_attempts=1, poll_s=0.2)
    service = event_route_service(rig.platform.app.state, rig.platform.services)
    yield service
    delivery.policy = before
    for view in service.list(TENANT):
        service.delete(TENANT, view["id"], role=Role.ENGINEER, actor="test")


def work_order(rig: Rig, title: str) -> None:
    work_order_service(rig.platform.app.state, rig.platform.services).create(
        TENANT, "pump-1", title, role=Role.OPERATOR, actor="token:planner")


def test_engineer_adds_a_route_and_operator_runs_it(page_for: Any, rig: Rig, rx: Receiver,
                                                    routes: EventRouteService) -> None:
    page = page_for(Role.ENGINEER, "/ui/integrations")
    page.get_by_test_id("route-table").wait_for(timeout=10_000)
    assert page.get_by_test_id("int-kpi-routes").inner_text() == "0"
    field(page, "route-new-name").fill("cmms")
    field(page, "route-new-url").fill("https://cmms.example.com/hooks")
    refused_before = denials(security_records(rig.platform, TENANT), "webhook.target_refused")
    page.get_by_test_id("route-create").click()
    page.get_by_test_id("route-create-error").filter(has_text="TVILLING_WEBHOOK_ALLOWED_HOSTS").wait_for(
        timeout=3000)
    refused = [r for r in security_records(rig.platform, TENANT) if r["action"] == "webhook.target_refused"]
    assert denials(refused) == refused_before + 1 and refused[-1]["subject"] == "/ui/integrations"  # S-11, S-15
    field(page, "route-new-url").fill(rx.url)
    field(page, "route-new-kinds").fill("workorder")
    page.get_by_test_id("route-create").click()
    secret = page.get_by_test_id("route-secret")
    secret.filter(has_text="whsec_").wait_for(timeout=3000)
    [view] = routes.list(TENANT)
    assert view["name"] == "cmms" and view["filter"]["kinds"] == ["workorder"]
    page.get_by_test_id("route-secret-close").click()
    page.get_by_test_id("route-state-cmms").filter(has_text="active").wait_for(timeout=3000)
    assert page.get_by_test_id("int-kpi-routes").inner_text() == "1"
    assert page.problems == []

    operator = page_for(Role.OPERATOR, "/ui/integrations")
    operator.get_by_test_id("route-state-cmms").wait_for(timeout=10_000)
    assert operator.get_by_test_id("route-create").count() == 0 and operator.get_by_test_id(
        "route-delete-cmms").count() == 0  # adding and deleting need engineer
    work_order(rig, "Check the seal")
    rx.wait_for(1)
    assert rx.events()[0]["type"] == "io.tvilling.workorder.created"
    operator.get_by_test_id("route-test-cmms").click()
    operator.locator(".q-notification").filter(has_text="answered 204").wait_for(timeout=5000)
    assert rx.wait_for(2)[1].json()["type"] == "io.tvilling.ping"

    operator.get_by_test_id("route-pause-cmms").click()
    operator.get_by_test_id("route-state-cmms").filter(has_text="paused").wait_for(timeout=3000)
    work_order(rig, "Waits while paused")
    operator.get_by_test_id("route-backlog-cmms").filter(has_text="1").wait_for(timeout=8000)  # re-read by the timer
    ANSWER["status"] = 500
    operator.get_by_test_id("route-resume-cmms").click()
    operator.get_by_test_id("route-state-cmms").filter(has_text="failing").wait_for(timeout=8000)
    operator.get_by_test_id("int-kpi-dead").filter(has_text="1").wait_for(timeout=8000)
    assert "HTTP 500" in operator.get_by_test_id("route-error-cmms").inner_text()

    operator.get_by_text("cmms", exact=True).click()  # the route's deliveries
    deliveries = operator.get_by_test_id("delivery-table")
    deliveries.wait_for(timeout=3000)
    dead = routes.deliveries(TENANT, view["id"], status="dead")[0]
    assert operator.get_by_test_id(f"delivery-status-{dead.event_seq}").inner_text() == "dead"
    ANSWER["status"] = 204
    operator.get_by_test_id(f"delivery-redeliver-{dead.event_seq}").click()
    operator.locator(".q-notification").filter(has_text="Queued").wait_for(timeout=3000)
    until(lambda: routes.deliveries(TENANT, view["id"], status="delivered")[0].event_seq == dead.event_seq)
    operator.get_by_test_id(f"delivery-status-{dead.event_seq}").filter(has_text="delivered").wait_for(timeout=8000)
    assert [e["data"]["payload"]["work_order"]["title"] for e in rx.events()
            if e["type"] == "io.tvilling.workorder.created"] == ["Check the seal", "Waits while paused"]
    assert operator.problems == []

    page.get_by_test_id("route-delete-cmms").click()
    page.get_by_test_id("route-state-cmms").wait_for(state="detached", timeout=3000)
    assert routes.list(TENANT) == []


def test_viewer_reads_routes_only(page_for: Any, rig: Rig, rx: Receiver, routes: EventRouteService) -> None:
    routes.create(TENANT, name="read-me", url=rx.url, filter={"kinds": ["alarm"]}, enabled=False,
                  role=Role.ENGINEER, actor="test")
    page = page_for(Role.VIEWER, "/ui/integrations")
    page.get_by_test_id("route-state-read-me").filter(has_text="paused").wait_for(timeout=10_000)
    assert page.get_by_test_id("read-only").is_visible()
    for mark in ("route-test-read-me", "route-resume-read-me", "route-delete-read-me", "route-create"):
        assert page.get_by_test_id(mark).count() == 0, mark
    assert page.problems == []
