"""The Scenarios page's calibration card in Debian Chromium against a real platform on loopback (conftest.py).

The FMU is the real thermal zone of ``examples/fmus``. The measurements are those of the calibration engine's own
tests: a zone with UA = 420 W/K and C = 6e6 J/K starting at 19 °C, driven by a daily outdoor swing and an on/off
HVAC, sampled every 5 minutes with 0.1 K of noise. They are written as a historian would: ISO 8601 timestamps and
column names that are not the model's, so every input and output has to be mapped on the page.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.integration.dashboard.rig import field, open_zone
from tests.integration.dashboard.test_dashboard_scenarios import notification, series
from tests.unit.simulation.test_calibrate import measured_zone
from tvilling.core.roles import Role

pytestmark = pytest.mark.chromium
ZONE = "Thermal zone (calibration)"
HOURS = 48
CALIBRATE_S = 60_000  # ~15 model runs of 576 steps in one child process: seconds here, with room for a busy machine


def measurements_csv(hours: int = HOURS) -> bytes:
    data = measured_zone(hours=hours)
    began = datetime(2024, 3, 1, tzinfo=UTC)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["timestamp", "outdoor", "hvac_w", "zone_temp"])
    for i, t in enumerate(data.times):
        stamp = (began + timedelta(seconds=t)).isoformat().replace("+00:00", "Z")
        writer.writerow([stamp, repr(data.inputs["T_out"][i]), repr(data.inputs["Q_hvac"][i]),
                         repr(data.outputs["T"][i])])
    return out.getvalue().encode()


def upload(page: Any, data: bytes, name: str = "zone.csv") -> None:
    page.locator('[data-testid="cal-upload"] input[type=file]').set_input_files(
        {"name": name, "mimeType": "text/csv", "buffer": data})


def choose(page: Any, test_id: str, option: str) -> None:
    """Pick an option of a Quasar select; then wait for its menu to go, since the next select offers the same
    column names (a closing menu is still in the page for a moment)."""
    page.get_by_test_id(test_id).click()
    page.get_by_role("option", name=option, exact=True).click()
    expect(page.locator(".q-menu")).to_have_count(0, timeout=3000)
    expect(page.get_by_test_id(test_id)).to_contain_text(option)


def cell(page: Any, test_id: str) -> float:
    return float(page.get_by_test_id(test_id).inner_text())


def map_zone(page: Any) -> None:
    choose(page, "cal-input-T_out", "outdoor")
    choose(page, "cal-input-Q_hvac", "hvac_w")
    choose(page, "cal-output-T", "zone_temp")


def fit(page: Any, name: str, low: str, high: str) -> None:
    page.get_by_test_id(f"cal-fit-{name}").click()
    expect(page.get_by_test_id(f"cal-low-{name}")).to_be_visible(timeout=3000)
    field(page, f"cal-low-{name}").fill(low)
    field(page, f"cal-high-{name}").fill(high)


def test_engineer_calibrates_the_zone_on_measurements_and_uses_the_values(page_for: Any,
                                                                          zone: dict[str, Any]) -> None:
    page = page_for(Role.ENGINEER, "/ui/scenarios")
    page.get_by_test_id("fmu-table").wait_for(timeout=10_000)
    open_zone(page, ZONE)
    expect(page.get_by_test_id("cal-card")).to_be_visible()
    # Bounds are prefilled a factor of four around the start value; a parameter starts fixed at it.
    assert field(page, "cal-fix-UA").input_value() == "500"
    page.get_by_test_id("cal-fit-UA").click()
    assert field(page, "cal-low-UA").input_value() == "125" and field(page, "cal-high-UA").input_value() == "2000"
    expect(page.get_by_test_id("cal-fix-UA")).to_be_hidden()
    page.get_by_test_id("cal-fit-UA").click()  # unticked again: fit() below ticks it with its own bounds

    upload(page, measurements_csv())
    expect(page.get_by_test_id("cal-file")).to_have_text(re.compile(
        r"zone\.csv: 576 rows × 4 columns \(timestamp, outdoor, hvac_w, zone_temp\)"), timeout=10_000)
    assert "timestamp" in page.get_by_test_id("cal-time").inner_text()  # found by its name
    assert "none — use the model's value" in page.get_by_test_id("cal-input-T_out").inner_text()
    assert "none — not compared" in page.get_by_test_id("cal-output-T").inner_text()
    map_zone(page)
    fit(page, "UA", "100", "2000")
    fit(page, "C", "1000000", "100000000")
    field(page, "cal-fix-T_start").fill("19")
    run = page.get_by_test_id("cal-run")
    run.click()
    expect(page.get_by_test_id("cal-running")).to_be_visible(timeout=2000)
    expect(run).to_be_disabled()
    page.get_by_test_id("cal-fitted").wait_for(timeout=CALIBRATE_S)
    assert run.is_enabled() and not page.get_by_test_id("cal-running").is_visible()

    ua, c = cell(page, "cal-fitted-value-UA"), cell(page, "cal-fitted-value-C")
    assert ua == pytest.approx(420.0, rel=0.02) and c == pytest.approx(6e6, rel=0.02)
    assert page.get_by_test_id("cal-fitted-unit-UA").inner_text() == "W/K"
    low, high = (float(x) for x in page.get_by_test_id("cal-fitted-interval-UA").inner_text().split(" – "))
    assert low < ua < high
    assert page.get_by_test_id("cal-at-bound-UA").count() == 0 and page.get_by_test_id("cal-at-bound-C").count() == 0
    assert cell(page, "cal-rmse-after-T") < 0.15 < cell(page, "cal-rmse-before-T")
    assert page.get_by_test_id("cal-summary").inner_text().startswith("Converged · ")
    assert "on 576 samples" in page.get_by_test_id("cal-summary").inner_text()
    # One chart per compared output: the measurements under the fitted model, over 48 h in hours.
    assert series(page, "cal-chart-T") == ["measured:576", "fitted model:576"]
    assert page.get_by_test_id("cal-chart-Q_loss").count() == 0
    assert "time [h]" in str(page.evaluate("""() => { const el = document.querySelector('[data-testid=cal-chart-T]');
        return getElement(el.id.replace(/^c/, '')).chart.getOption().xAxis[0].name; }"""))

    # The fitted values (and the fixed T_start) go into the Scenario column and the Uncertainty form; the baseline
    # stays the model as delivered.
    page.get_by_test_id("cal-use").click()
    notification(page, "Copied into the what-if form").wait_for(timeout=3000)
    assert float(field(page, "scen-UA").input_value()) == ua and float(field(page, "scen-C").input_value()) == c
    assert field(page, "scen-T_start").input_value() == "19" and field(page, "base-UA").input_value() == "500"
    assert float(field(page, "ens-value-UA").input_value()) == ua
    assert float(field(page, "ens-mean-C").input_value()) == c
    assert float(field(page, "res-value-UA").input_value()) == ua  # and the residuals card's values
    assert field(page, "res-value-T_start").input_value() == "19"
    assert page.problems == []


def test_operator_sees_the_card_but_cannot_calibrate(page_for: Any, zone: dict[str, Any]) -> None:
    page = page_for(Role.OPERATOR, "/ui/scenarios")
    page.get_by_test_id("fmu-table").wait_for(timeout=10_000)
    open_zone(page, ZONE)
    expect(page.get_by_test_id("cal-card")).to_be_visible()
    assert "Calibrating needs engineer; you are operator." in page.get_by_test_id("cal-card").inner_text()
    run = page.get_by_test_id("cal-run")
    assert run.is_disabled()
    expect(page.get_by_test_id("cal-upload")).to_have_class(re.compile(r"\bdisabled\b"))
    page.get_by_test_id("cal-run-wrap").hover()
    page.get_by_role("tooltip").filter(has_text="Calibrating needs engineer; you are operator.").wait_for(
        timeout=3000)
    assert page.problems == []


def test_bad_measurements_and_bounds_are_explained_and_the_card_keeps_working(page_for: Any,
                                                                             zone: dict[str, Any]) -> None:
    page = page_for(Role.ENGINEER, "/ui/scenarios")
    page.get_by_test_id("fmu-table").wait_for(timeout=10_000)
    open_zone(page, ZONE)
    run = page.get_by_test_id("cal-run")
    run.click()  # nothing uploaded yet
    notification(page, "no measurements yet").wait_for(timeout=5000)

    # A file that is no table: refused with the reason and a hint; nothing to map.
    upload(page, b"\x00\x01\x02 not a table", "notes.csv")
    refused = notification(page, "notes.csv was not read")
    refused.wait_for(timeout=10_000)
    assert "not a table of measurements" in refused.inner_text() and "a header row" in refused.inner_text()
    assert page.get_by_test_id("cal-time").count() == 0

    # A table whose columns match no model variable: no output is compared until one is mapped.
    upload(page, measurements_csv(hours=24))
    expect(page.get_by_test_id("cal-file")).to_contain_text("288 rows", timeout=10_000)
    fit(page, "UA", "100", "2000")
    run.click()
    refused = notification(page, "no measured output to compare with")
    refused.wait_for(timeout=5000)
    assert "map at least one model output" in refused.inner_text()  # the hint

    # Bounds the wrong way round: said with a suggestion, before anything runs.
    map_zone(page)
    field(page, "cal-low-UA").fill("2000")
    field(page, "cal-high-UA").fill("100")
    run.click()
    refused = notification(page, "the bounds of UA must be two numbers with low < high")
    refused.wait_for(timeout=5000)
    assert "for example 125 to 2000" in refused.inner_text()
    assert page.get_by_test_id("cal-results").is_hidden()

    # A time column that is no time (numbers, but they go up and down): the engine's words, with the row.
    choose(page, "cal-time", "outdoor")
    field(page, "cal-low-UA").fill("100")
    field(page, "cal-high-UA").fill("2000")
    run.click()
    refused = notification(page, "times must be finite and increase")
    refused.wait_for(timeout=5000)
    assert "sort the rows by time" in refused.inner_text()

    # Corrected, it runs: UA alone (C and T_start at the model's 5e6 and 21 °C, not the truth) fits worse, but fits.
    choose(page, "cal-time", "timestamp")
    run.click()
    page.get_by_test_id("cal-fitted").wait_for(timeout=CALIBRATE_S)
    assert 100 <= cell(page, "cal-fitted-value-UA") <= 2000
    assert cell(page, "cal-rmse-after-T") <= cell(page, "cal-rmse-before-T")
    assert series(page, "cal-chart-T") == ["measured:288", "fitted model:288"]
    assert page.problems == []
