"""The Scenarios page in Debian Chromium against a real platform on loopback (fixtures in conftest.py).

The FMU is the real thermal zone of ``examples/fmus`` (compiled with gcc, run in a child process by the platform's
one FmuLibrary, the one behind ``/api/v1/fmus``). Physics that the assertions rely on: the zone starts at 21 °C
with T_out = 10 °C and no heating, so by the end of a day (time constant C/UA = 10 000 s) the baseline has cooled
to about 10 °C; halving UA and heating with 1 kW settles it near 10 + 1000/250 = 14 °C. Heating with 1 kW at an
uncertain UA around 500 W/K (the Uncertainty mode) ends near 10 + 1000/UA, so about 12 °C, spread by UA.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.integration.dashboard.rig import TENANT, field, open_zone
from tests.support.fmus import thermal_zone_bytes
from tvilling.app.fmus import FmuLibrary, fmu_id
from tvilling.core.errors import NotFoundError
from tvilling.core.roles import Role

pytestmark = pytest.mark.chromium
ZONE = "Thermal zone (scenarios)"
RUN_S = 30_000  # two runs of ~1.5 s each, with room for a slow machine
ENSEMBLE_S = 60_000  # 50 runs in one child process: ~3 s here, with room for a slow, busy machine
BAND_SERIES = ["5 %", "5–95 %", "25 %", "25–75 %", "median"]  # an invisible low edge under each stacked band


def notification(page: Any, text: str) -> Any:
    return page.locator(".q-notification").filter(has_text=text)


def final(page: Any, column: str, output: str) -> float:
    return float(page.get_by_test_id(f"final-{column}-{output}").inner_text())


def ens_final(page: Any, column: str, output: str) -> float:
    return float(page.get_by_test_id(f"ens-final-{column}-{output}").inner_text())


def choose(page: Any, test_id: str, option: str) -> None:
    """Pick an option of a Quasar select (its menu is attached to the body, not to the select)."""
    page.get_by_test_id(test_id).click()
    page.get_by_role("option", name=option, exact=True).click()


def uncertainty(page: Any) -> None:
    page.get_by_test_id("scn-mode").get_by_text("Uncertainty").click()
    expect(page.get_by_test_id("ens-run")).to_be_visible(timeout=3000)


def series(page: Any, test_id: str) -> list[str]:
    """The series of an ECharts chart as drawn in the browser: 'name:points'."""
    return list(page.evaluate("""(id) => { const el = document.querySelector(`[data-testid="${id}"]`);
        return getElement(el.id.replace(/^c/, '')).chart.getOption().series.map(s => s.name + ':' + s.data.length);
        }""", test_id))


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
    open_zone(page, ZONE)
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
    open_zone(page, ZONE)
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
    open_zone(page, ZONE)
    assert "Heat capacity of the zone" in page.get_by_test_id("fmu-variables").inner_text()
    run = page.get_by_test_id("scn-run")
    assert run.is_disabled()
    page.get_by_test_id("scn-run-wrap").hover()
    page.get_by_text("Running scenarios needs operator; you are viewer.").wait_for(timeout=3000)
    # The Uncertainty mode's form is there to read, but its Run is disabled too, and says why.
    uncertainty(page)
    assert page.get_by_test_id("ens-run").is_disabled()
    page.get_by_test_id("ens-run-wrap").hover()
    page.get_by_text("Running uncertainty studies needs operator; you are viewer.").wait_for(timeout=3000)
    # Forging the table's delete event from the browser deletes nothing: the page checks the role itself.
    page.evaluate("""(id) => { const el = document.querySelector('[data-testid=fmu-table]');
        getElement(el.id.replace(/^c/, '')).$emit('remove', id); }""", zone["id"])
    notification(page, "The viewer role cannot delete FMUs; it needs engineer").wait_for(timeout=3000)
    assert library.get(TENANT, zone["id"])["id"] == zone["id"]
    assert page.get_by_test_id("fmu-dialog").is_hidden()
    assert page.problems == []


def test_operator_runs_an_uncertainty_study_and_downloads_the_bands(page_for: Any, zone: dict[str, Any]) -> None:
    page = page_for(Role.OPERATOR, "/ui/scenarios")
    page.get_by_test_id("fmu-table").wait_for(timeout=10_000)
    open_zone(page, ZONE)
    uncertainty(page)
    expect(page.get_by_test_id("scn-run")).to_be_hidden()
    # Every row starts fixed at the model's value; a distribution is prefilled around it (sd 10 % of it).
    assert field(page, "ens-value-UA").input_value() == "500"
    expect(page.get_by_test_id("ens-sd-UA")).to_be_hidden()
    choose(page, "ens-dist-UA", "normal")
    expect(page.get_by_test_id("ens-value-UA")).to_be_hidden()
    assert field(page, "ens-mean-UA").input_value() == "500" and field(page, "ens-sd-UA").input_value() == "50"
    field(page, "ens-sd-UA").fill("100")
    field(page, "ens-value-Q_hvac").fill("1000")
    assert field(page, "ens-samples").input_value() == "100" and field(page, "ens-seed").input_value() == "0"
    field(page, "ens-samples").fill("50")
    choose(page, "ens-limit-output", "T")
    page.get_by_test_id("ens-limit-side").get_by_text("above").click()
    field(page, "ens-limit-level").fill("12")
    run = page.get_by_test_id("ens-run")
    run.click()
    expect(page.get_by_test_id("ens-running")).to_be_visible(timeout=2000)
    expect(run).to_be_disabled()
    page.get_by_test_id("ens-finals").wait_for(timeout=ENSEMBLE_S)
    assert run.is_enabled() and not page.get_by_test_id("ens-running").is_visible()
    assert page.get_by_test_id("ens-spread").inner_text() == "UA normal (mean 500, sd 100) W/K · Q_hvac 1000 W"
    p5, p50, p95 = (ens_final(page, column, "T") for column in ("p5", "p50", "p95"))
    assert p5 <= p50 <= p95 and p5 < p95 and 11.0 < p50 < 13.5  # 10 + 1000/UA: a spread UA spreads T
    assert ens_final(page, "mean", "T") == pytest.approx(p50, abs=0.5) and ens_final(page, "sd", "T") > 0
    assert ens_final(page, "p5", "Q_loss") <= ens_final(page, "p50", "Q_loss") <= ens_final(page, "p95", "Q_loss")
    # A limit is judged over the whole run: the zone starts at 21 °C, so every run is above 12 at first.
    assert page.get_by_test_id("ens-exceedance").inner_text() == "T goes above 12 degC in 100 % of the 50 runs"
    assert page.get_by_test_id("ens-failed").count() == 0
    # One chart per output: the median over its two bands, each over 24 h in hours.
    assert series(page, "ens-chart-T") == [f"{name}:1441" for name in BAND_SERIES]
    assert series(page, "ens-chart-Q_loss") == [f"{name}:1441" for name in BAND_SERIES]
    assert "time [h]" in str(page.evaluate("""() => { const el = document.querySelector('[data-testid=ens-chart-T]');
        return getElement(el.id.replace(/^c/, '')).chart.getOption().xAxis[0].name; }"""))

    with page.expect_download() as info:
        page.get_by_test_id("ens-download").click()
    download = info.value
    assert download.suggested_filename == "Thermal-zone-scenarios-uncertainty.csv"
    lines = open(download.path(), encoding="utf-8").read().splitlines()  # noqa: SIM115 - read once
    bands = [f"{n}_{k} [{u}]" for n, u in (("T", "degC"), ("Q_loss", "W"))
             for k in ("p5", "p25", "p50", "p75", "p95", "mean")]
    assert lines[0].split(",") == ["time [s]", *bands] and len(lines) == 1 + 1441
    last = [float(x) for x in lines[-1].split(",")]
    assert last[0] == 86400.0 and last[1] == pytest.approx(p5, abs=1e-3) and last[3] == pytest.approx(p50, abs=1e-3)

    # The other mode keeps its own form; back again, the study is still shown.
    page.get_by_test_id("scn-mode").get_by_text("Compare two runs").click()
    expect(page.get_by_test_id("scn-run")).to_be_visible(timeout=3000)
    expect(page.get_by_test_id("ens-results")).to_be_hidden()
    uncertainty(page)
    expect(page.get_by_test_id("ens-finals")).to_be_visible()
    assert page.problems == []


def test_a_bad_spread_is_explained_and_the_uncertainty_mode_keeps_working(page_for: Any,
                                                                          zone: dict[str, Any]) -> None:
    page = page_for(Role.OPERATOR, "/ui/scenarios")
    page.get_by_test_id("fmu-table").wait_for(timeout=10_000)
    open_zone(page, ZONE)
    uncertainty(page)
    run = page.get_by_test_id("ens-run")
    # Nothing uncertain yet: said on the page, in its own words.
    run.click()
    notification(page, "nothing is uncertain").wait_for(timeout=5000)

    choose(page, "ens-dist-UA", "normal")
    field(page, "ens-sd-UA").fill("0")
    field(page, "ens-samples").fill("10")
    run.click()
    refused = notification(page, "sd must be > 0")
    refused.wait_for(timeout=ENSEMBLE_S)
    assert "The uncertainty run failed" in refused.inner_text() and "'UA'" in refused.inner_text()
    expect(run).to_be_enabled(timeout=5000)
    assert page.get_by_test_id("ens-results").is_hidden()

    # A limit needs its level.
    choose(page, "ens-limit-output", "T")
    field(page, "ens-sd-UA").fill("50")
    run.click()
    notification(page, "give the level of the limit on T").wait_for(timeout=5000)

    # Fixed: a uniform UA of 400–600 over one hour (drawn in seconds), below 20 °C judged from the start. C is
    # made so uncertain that some draws are negative: the model refuses those runs, and the page says how many.
    choose(page, "ens-dist-C", "normal")
    field(page, "ens-mean-C").fill("1000000")
    field(page, "ens-sd-C").fill("1000000")
    choose(page, "ens-dist-UA", "uniform")
    assert field(page, "ens-low-UA").input_value() == "450" and field(page, "ens-high-UA").input_value() == "550"
    field(page, "ens-low-UA").fill("400")
    field(page, "ens-high-UA").fill("600")
    field(page, "scn-stop").fill("3600")
    page.get_by_test_id("ens-limit-side").get_by_text("below").click()
    field(page, "ens-limit-level").fill("20")
    run.click()
    page.get_by_test_id("ens-finals").wait_for(timeout=ENSEMBLE_S)
    assert series(page, "ens-chart-T") == [f"{name}:61" for name in BAND_SERIES]
    assert ens_final(page, "p5", "T") <= ens_final(page, "p50", "T") <= ens_final(page, "p95", "T")
    refused = page.get_by_test_id("ens-failed").inner_text()
    failed = int(refused.split()[0])
    assert 1 <= failed <= 3 and refused.startswith(f"{failed} run")  # P(C < 0) = 16 %: one or two strata of 10
    assert "refused by the model" in refused
    sentence = page.get_by_test_id("ens-exceedance").inner_text()
    assert sentence.startswith("T goes below 20 degC in ") and sentence.endswith(f" % of the {10 - failed} runs")
    assert page.problems == []
