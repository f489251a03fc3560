"""The Scenarios page in Debian Chromium against a real platform on loopback (fixtures in conftest.py).

The FMU is the real thermal zone of ``examples/fmus`` (compiled with gcc, run in a child process by the platform's
one FmuLibrary, the one behind ``/api/v1/fmus``). Physics that the assertions rely on: the zone starts at 21 °C
with T_out = 10 °C and no heating, so by the end of a day (time constant C/UA = 10 000 s) the baseline has cooled
to about 10 °C; halving UA and heating with 1 kW settles it near 10 + 1000/250 = 14 °C.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.integration.dashboard.rig import TENANT, Rig, field
from tests.support.fmus import thermal_zone_bytes
from tvilling.app.fmus import FmuLibrary, fmu_id, fmu_library
from tvilling.core.context import Context
from tvilling.core.errors import NotFoundError
from tvilling.core.roles import Role

pytestmark = pytest.mark.chromium
ZONE = "Thermal zone (scenarios)"
RUN_S = 30_000  # two runs of ~1.5 s each, with room for a slow machine



def notification(page: Any, text: str) -> Any:
    return page.locator(".q-notification").filter(has_text=text)


def final(page: Any, column: str, output: str) -> float:
    return float(page.get_by_test_id(f"final-{column}-{output}").inner_text())


def series(page: Any, test_id: str) -> list[str]:
    """The series of an ECharts chart as drawn in the browser: 'name:points'."""
    return list(page.evaluate("""(id) => { const el = document.querySelector(`[data-testid="${id}"]`);
        return getElement(el.id.replace(/^c/, '')).chart.getOption().series.map(s => s.name + ':' + s.data.length);
        }""", test_id))


@pytest.fixture(scope="module")
def library(rig: Rig) -> FmuLibrary:
    return fmu_library(rig.platform.app.state, rig.platform.services)


@pytest.fixture(scope="module")
def zone(library: FmuLibrary) -> Iterator[dict[str, Any]]:
    entry = library.upload(TENANT, thermal_zone_bytes("2.0", "dashboard-scenarios"), Context.new(actor="test"),
                           role=Role.ENGINEER, name=ZONE)
    yield entry
    library.delete(TENANT, entry["id"], Context.new(actor="test"), role=Role.ENGINEER)


def open_zone(page: Any) -> None:
    page.get_by_test_id("fmu-table").locator("tr").filter(has_text=ZONE).first.click()
    page.get_by_test_id("fmu-selected").filter(has_text=ZONE).wait_for(timeout=5000)


def test_engineer_uploads_an_fmu_through_the_page_and_deletes_it(page_for: Any, library: FmuLibrary) -> None:
    data = thermal_zone_bytes("3.0", "dashboard-page-upload")
    ident = fmu_id(hashlib.sha256(data).hexdigest())
    page = page_for(Role.ENGINEER, "/ui/scenarios")
    table = page.get_by_test_id("fmu-table")
    table.wait_for(timeout=10_000)
    chooser = page.locator('[data-testid="fmu-upload"] input[type=file]')

    field(page, "fmu-upload-name").fill("Zone from the page")
    chooser.set_input_files({"name": "zone.fmu", "mimeType": "application/octet-stream", "buffer": data})
    row = table.locator("tr").filter(has_text="Zone from the page")
    row.wait_for(timeout=10_000)
    assert "ThermalZone" in row.inner_text() and "3.0" in row.inner_text()
    stored = library.get(TENANT, ident)
    assert stored["name"] == "Zone from the page" and stored["createdBy"].startswith("token:")
    assert stored["createdBy"] in row.inner_text()
    # The new FMU is selected: its variables and default experiment are shown.
    page.get_by_test_id("fmu-selected").filter(has_text="Zone from the page").wait_for(timeout=5000)
    variables = page.get_by_test_id("fmu-variables").inner_text()
    assert all(name in variables for name in ("C", "UA", "T_start", "Q_hvac", "T_out", "Q_loss", "J/K", "W/K"))
    assert "Heat capacity of the zone" in variables
    assert page.get_by_test_id("fmu-experiment").inner_text() == \
        "Default experiment: 0 – 86400 s, step 60 s"
    assert field(page, "scn-stop").input_value() == "86400"

    # The same file again is a 409 from the library; a file that is no FMU is refused with the reason and a hint.
    chooser.set_input_files({"name": "zone.fmu", "mimeType": "application/octet-stream", "buffer": data})
    notification(page, "already in the library").wait_for(timeout=10_000)
    chooser.set_input_files({"name": "notes.fmu", "mimeType": "application/octet-stream",
                             "buffer": b"meeting notes, not a model"})
    refused = notification(page, "notes.fmu was not added")
    refused.wait_for(timeout=10_000)
    assert "is not an FMU" in refused.inner_text() and "zip archive" in refused.inner_text()  # message and hint

    # Delete, after a confirmation (Back changes nothing).
    page.get_by_test_id(f"fmu-delete-{ident}").click()
    page.get_by_test_id("fmu-dialog").filter(has_text="Zone from the page").wait_for(timeout=3000)
    page.get_by_test_id("fmu-dialog-cancel").click()
    page.get_by_test_id("fmu-dialog").wait_for(state="hidden", timeout=3000)
    assert library.get(TENANT, ident)["id"] == ident
    page.get_by_test_id(f"fmu-delete-{ident}").click()
    page.get_by_test_id("fmu-dialog-confirm").click()
    row.wait_for(state="detached", timeout=5000)
    with pytest.raises(NotFoundError):
        library.get(TENANT, ident)
    assert page.get_by_test_id("fmu-selected").count() == 0  # the deleted FMU's form went with it
    assert page.problems == []


def test_operator_runs_a_what_if_and_downloads_the_scenario(page_for: Any, zone: dict[str, Any]) -> None:
    page = page_for(Role.OPERATOR, "/ui/scenarios")
    page.get_by_test_id("fmu-table").wait_for(timeout=10_000)
    assert page.get_by_test_id("fmu-upload").count() == 0
    assert page.get_by_test_id(f"fmu-delete-{zone['id']}").count() == 0
    open_zone(page)
    assert field(page, "base-UA").input_value() == "500" and field(page, "scen-UA").input_value() == "500"
    assert field(page, "scen-C").input_value() == "5000000"
    field(page, "scen-UA").fill("250")
    field(page, "scen-Q_hvac").fill("1000")
    run = page.get_by_test_id("scn-run")
    assert run.is_enabled()
    run.click()
    expect(page.get_by_test_id("scn-running")).to_be_visible(timeout=2000)  # both runs take seconds
    expect(run).to_be_disabled()
    finals = page.get_by_test_id("scn-finals")
    finals.wait_for(timeout=RUN_S)
    assert run.is_enabled() and not page.get_by_test_id("scn-running").is_visible()
    assert page.get_by_test_id("scn-changes").inner_text() == "UA 500 → 250 W/K · Q_hvac 0 → 1000 W"
    base_t, scen_t = final(page, "baseline", "T"), final(page, "scenario", "T")
    assert 9.9 < base_t < 10.5 and 13.5 < scen_t < 14.5  # cooled to T_out; held up by the heater
    assert final(page, "difference", "T") == pytest.approx(scen_t - base_t, abs=0.01)
    assert final(page, "scenario", "Q_loss") > final(page, "baseline", "Q_loss")
    # One chart per output, both runs on each, over 24 h in hours.
    assert series(page, "scn-chart-T") == ["baseline:1441", "scenario:1441"]
    assert series(page, "scn-chart-Q_loss") == ["baseline:1441", "scenario:1441"]

    with page.expect_download() as info:
        page.get_by_test_id("scn-download").click()
    download = info.value
    assert download.suggested_filename == "Thermal-zone-scenarios-scenario.csv"
    lines = open(download.path(), encoding="utf-8").read().splitlines()  # noqa: SIM115 - read once
    assert lines[0] == "time [s],T [degC],Q_loss [W]" and len(lines) == 1 + 1441
    last = [float(x) for x in lines[-1].split(",")]
    assert last[0] == 86400.0 and last[1] == pytest.approx(scen_t, abs=1e-3)
    assert page.problems == []


def test_a_bad_scenario_value_is_explained_and_the_page_keeps_working(page_for: Any,
                                                                       zone: dict[str, Any]) -> None:
    page = page_for(Role.OPERATOR, "/ui/scenarios")
    page.get_by_test_id("fmu-table").wait_for(timeout=10_000)
    open_zone(page)
    field(page, "scen-C").fill("0")
    page.get_by_test_id("scn-run").click()
    refused = notification(page, "must be > 0")
    refused.wait_for(timeout=RUN_S)
    assert "The scenario run failed" in refused.inner_text() and "C = 0" in refused.inner_text()
    expect(page.get_by_test_id("scn-run")).to_be_enabled(timeout=5000)
    assert page.get_by_test_id("scn-results").is_hidden()

    # A span that ends before it starts: the runner's own words.
    field(page, "scn-stop").fill("0")
    page.get_by_test_id("scn-run").click()
    notification(page, "must be after the start time").wait_for(timeout=RUN_S)

    field(page, "scn-stop").fill("3600")
    field(page, "scen-C").fill("2500000")
    page.get_by_test_id("scn-run").click()
    page.get_by_test_id("scn-finals").wait_for(timeout=RUN_S)
    # Half the heat capacity cools faster: lower at the end of the hour. One hour is drawn in seconds.
    assert final(page, "scenario", "T") < final(page, "baseline", "T")
    assert series(page, "scn-chart-T") == ["baseline:61", "scenario:61"]
    assert page.problems == []


def test_viewer_reads_the_library_but_cannot_run_upload_or_delete(page_for: Any, library: FmuLibrary,
                                                                  zone: dict[str, Any]) -> None:
    page = page_for(Role.VIEWER, "/ui/scenarios")
    page.get_by_test_id("fmu-table").wait_for(timeout=10_000)
    assert page.get_by_test_id("fmu-upload").count() == 0
    assert page.get_by_test_id("fmu-upload-name").count() == 0
    assert page.get_by_test_id(f"fmu-delete-{zone['id']}").count() == 0
    open_zone(page)
    assert "Heat capacity of the zone" in page.get_by_test_id("fmu-variables").inner_text()
    run = page.get_by_test_id("scn-run")
    assert run.is_disabled()
    page.get_by_test_id("scn-run-wrap").hover()
    page.get_by_text("Running scenarios needs operator; you are viewer.").wait_for(timeout=3000)
    # Forging the table's delete event from the browser deletes nothing: the page checks the role itself.
    page.evaluate("""(id) => { const el = document.querySelector('[data-testid=fmu-table]');
        getElement(el.id.replace(/^c/, '')).$emit('remove', id); }""", zone["id"])
    notification(page, "The viewer role cannot delete FMUs; it needs engineer").wait_for(timeout=3000)
    assert library.get(TENANT, zone["id"])["id"] == zone["id"]
    assert page.get_by_test_id("fmu-dialog").is_hidden()
    assert page.problems == []
