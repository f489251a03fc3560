"""Cascade impact on the dashboard in Debian Chromium against a real platform on loopback (fixtures in conftest.py).

The platform runs on the bottling plant's site, whose ``impact.yaml`` sits beside ``mappings.yaml`` (the rig's
``mappings_file``, so the platform finds it): a bearing seizes, its pump stops, the filler once the buffer tank is
dry, 20 min later, and with it the line. The twin page's "If this stops" card must say so; the hall stops
nothing. On the Maintenance plan page, two live RUL estimates are ranked by expected cost, not by P(failure): the
bearing's 36 h repair outweighs the motor's higher probability. Without an impact.yaml both cards are one line.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.integration.dashboard.rig import TENANT, Rig, now_iso, publish_insight
from tvilling.core.roles import Role
from tvilling.dashboard.pages.twin_impact import impact_summary

pytestmark = pytest.mark.chromium
BEARING, MOTOR = "pump-1-bearing", "pump-1-motor"
# P(failure within 72 h): the motor's is four times the bearing's, but the bearing takes 36 h to repair, the motor 8
# (impact.yaml); both stop line 1 at 2,400 €/h: 0.05 × 2400 × 36 = 4,320 € against 0.2 × 2400 × 8 = 3,840 €.
ESTIMATES = {BEARING: 0.05, MOTOR: 0.2}


def estimate(p: float) -> dict[str, Any]:
    return {"at": now_iso(), "p_failure": p, "horizon_hours": 72.0, "health_indicator": 3.1,
            "failure_threshold": 5.0,
            "rul_hours": {"mean": 400.0, "lower": 250.0, "upper": 600.0, "level": 0.9, "censored_at": 8760.0,
                          "quantiles": [round(250.0 + 10.0 * i, 1) for i in range(40)]}}


@pytest.fixture
def estimated(rig: Rig) -> Iterator[None]:
    """Live RUL estimates for the bearing and the motor of pump 1; cleared afterwards for the other tests."""
    for twin, p in ESTIMATES.items():
        publish_insight(rig, "insight.rul", twin, estimate(p))
    yield
    for twin in ESTIMATES:
        publish_insight(rig, "insight.cleared", twin, {"since": now_iso(), "cleared_at": now_iso()})


@pytest.fixture
def no_impact_file(rig: Rig) -> Iterator[None]:
    """The platform as if its site had no impact.yaml (the service the API and the pages share, unconfigured)."""
    service = rig.platform.app.state.impact
    before, service.config = service.config, None
    yield
    service.config = before


def open_card(page_for: Any, twin: str) -> Any:
    page = page_for(Role.VIEWER, f"/ui/twin/{twin}")
    expect(page.get_by_test_id("impact-card")).to_be_visible(timeout=10_000)
    return page


def test_a_seized_bearing_stops_its_pump_the_line_and_the_filler_later(page_for: Any, rig: Rig) -> None:
    page = open_card(page_for, BEARING)
    summary = page.get_by_test_id("impact-summary")
    expect(summary).to_contain_text(f"If {BEARING} stops: pump-1, filler-1 and line-1 stop", timeout=10_000)
    expect(summary).to_contain_text("(filler-1 after 20 min, line-1 after 20 min) — €2,400/h lost; repair 36 h")
    expect(summary).to_have_text(impact_summary(rig.platform.app.state.impact.impact(TENANT, BEARING)))
    table = page.get_by_test_id("impact-affected")
    for twin in ("pump-1", "line-1", "filler-1"):
        link = table.get_by_test_id(f"impact-twin-{twin}")
        expect(link).to_be_visible()
        assert link.get_attribute("href") == f"/ui/twin/{twin}"
    filler = table.locator("tbody tr").filter(has=page.get_by_test_id("impact-twin-filler-1"))
    for text in ("stops", "20", f"{BEARING} ←hasPart— pump-1 —feeds→ filler-1"):
        expect(filler).to_contain_text(text)
    line = table.locator("tbody tr").filter(has=page.get_by_test_id("impact-twin-line-1"))
    expect(line).to_contain_text("€2,400")
    expect(page.get_by_test_id("impact-unavailable")).to_have_count(0)
    assert page.problems == []


def test_another_twin_failing_at_the_same_time_joins_the_answer(page_for: Any, rig: Rig) -> None:
    """What if the conveyor and the pump stop together: the line at once (the conveyor), the filler after the
    pump's buffer - each row's path from the twin it starts at; clearing the choice asks about the conveyor alone."""
    page = open_card(page_for, "conveyor-1")
    summary = page.get_by_test_id("impact-summary")
    expect(summary).to_contain_text("If conveyor-1 stops: line-1 stops", timeout=10_000)
    page.get_by_test_id("impact-also").click()
    page.get_by_role("option", name="pump-1", exact=True).click()
    page.keyboard.press("Escape")
    expect(summary).to_contain_text("If conveyor-1 and pump-1 stop: ", timeout=10_000)
    expect(summary).to_have_text(impact_summary(rig.platform.app.state.impact.impact(TENANT, "conveyor-1",
                                                                                    ["pump-1"])))
    table = page.get_by_test_id("impact-affected")
    filler = table.locator("tbody tr").filter(has=page.get_by_test_id("impact-twin-filler-1"))
    expect(filler).to_contain_text("pump-1 —feeds→ filler-1")
    expect(filler).to_contain_text("20")
    line = table.locator("tbody tr").filter(has=page.get_by_test_id("impact-twin-line-1"))
    expect(line).to_contain_text("conveyor-1")
    page.get_by_test_id("impact-also").click()  # pump-1 chosen again: off
    page.get_by_role("option", name="pump-1", exact=True).click()
    page.keyboard.press("Escape")
    expect(summary).to_contain_text("If conveyor-1 stops: ", timeout=10_000)
    expect(table.get_by_test_id("impact-twin-filler-1")).to_have_count(0)
    assert page.problems == []


def test_the_hall_stops_nothing_else(page_for: Any) -> None:
    page = open_card(page_for, "hall")
    expect(page.get_by_test_id("impact-summary")).to_have_text(
        "If hall stops: nothing else stops — €0/h lost; repair 8 h", timeout=10_000)
    expect(page.get_by_test_id("impact-affected")).to_have_count(0)
    assert page.problems == []


def test_the_risk_table_ranks_live_estimates_by_expected_cost(estimated: None, page_for: Any, rig: Rig) -> None:
    page = page_for(Role.VIEWER, "/ui/maintenance/plan")
    table = page.get_by_test_id("risk-table")
    table.wait_for(timeout=15_000)
    expect(table.get_by_test_id(f"risk-twin-{MOTOR}")).to_be_visible()
    answer = rig.platform.app.state.impact.risks(TENANT, 10)["value"]
    shown = [a.get_attribute("data-testid").removeprefix("risk-twin-")
             for a in table.locator("a[data-testid^=risk-twin-]").all()]
    assert shown == [r["twinId"] for r in answer]  # other tests' estimates may be ranked too
    assert shown.index(BEARING) < shown.index(MOTOR)
    bearing = table.locator("tbody tr").filter(has=page.get_by_test_id(f"risk-twin-{BEARING}"))
    for text in ("5.0%", "within 72 h", "€2,400", "36", "€4,320", "pump-1, filler-1, line-1"):
        expect(bearing).to_contain_text(text)
    motor = table.locator("tbody tr").filter(has=page.get_by_test_id(f"risk-twin-{MOTOR}"))
    for text in ("20.0%", "within 72 h", "€3,840", "filler-1"):
        expect(motor).to_contain_text(text)
    assert page.problems == []


def test_without_an_impact_file_each_card_is_one_line(no_impact_file: None, page_for: Any) -> None:
    page = open_card(page_for, BEARING)
    line = page.get_by_test_id("impact-unavailable")
    expect(line).to_have_text("no impact.yaml for this tenant: cascade impact needs rules for how a stop travels — "
                              "add impact.yaml beside the site's mappings.yaml (docs/impact.md)", timeout=10_000)
    expect(page.get_by_test_id("impact-summary")).to_have_count(0)
    assert "Traceback" not in page.content()
    plan = page_for(Role.VIEWER, "/ui/maintenance/plan")
    expect(plan.get_by_test_id("risk-unavailable")).to_contain_text("no impact.yaml", timeout=15_000)
    expect(plan.get_by_test_id("risk-table")).to_have_count(0)
    assert "Traceback" not in plan.content()
    assert page.problems == [] and plan.problems == []
