"""The twin page's "Why did it change?" card in Debian Chromium against a real platform on loopback (fixtures in
conftest.py).

The history is the one the explain tests share (``tests/support/explain_history.py``: a person lowers line 1's
speed at minute ``LOWERED``, its motors and the chiller follow, a jam at minute ``JAM``, the command in the event
log), written to the package's platform two days back, away from the live readings the other tests post. A viewer
asks why line 1's throughput fell: the speed setpoint comes first and the command is listed; a quiet window says
nothing changed; a window the service refuses is one line with its hint.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.integration.dashboard.rig import TENANT, Rig, field
from tests.support.explain_history import JAM, LOWERED, MINUTES, series
from tvilling.adapters.sql.timeseries import SampleRow, TimeSeriesStore
from tvilling.core.context import new_id
from tvilling.core.events import Event
from tvilling.core.roles import Role
from tvilling.dashboard.pages.twin_explain import INPUT_FORMAT

pytestmark = pytest.mark.chromium
T0 = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=2)


@pytest.fixture(scope="module")
def written(rig: Rig) -> None:
    """Eight hours of history from ``T0`` for the site's twins, and the operator's command that lowered the speed."""
    rows = [SampleRow(TENANT, twin, name, int((T0 + timedelta(minutes=i, seconds=30)).timestamp() * 1e6),
                      float(v), None, "good", "", None)
            for (twin, name), values in series(MINUTES).items() for i, v in enumerate(values)]
    TimeSeriesStore(rig.platform.store.engine).write_batch(rows, [], [], 0)
    with rig.platform.services.store.write() as tx:
        tx.events.append([Event(kind="command.acked", tenant=TENANT, subject="line-1",
                                time=T0 + timedelta(minutes=LOWERED, seconds=5), context_id=new_id(),
                                actor="token:operator-anna", data={"command": "set_speed_bpm", "payload": 400})])


def choose(page: Any, test_id: str, option: str) -> None:
    page.get_by_test_id(test_id).click()
    page.get_by_role("option", name=option, exact=True).click()
    expect(page.locator(".q-menu")).to_have_count(0, timeout=3000)


def ask(page: Any, start_min: int, end_min: int) -> None:
    """Fill the window (minutes into the history) and press Explain."""
    field(page, "explain-start").fill((T0 + timedelta(minutes=start_min)).strftime(INPUT_FORMAT))
    field(page, "explain-end").fill((T0 + timedelta(minutes=end_min)).strftime(INPUT_FORMAT))
    page.get_by_test_id("explain-run").click()


def open_line(page_for: Any) -> Any:
    page = page_for(Role.VIEWER, "/ui/twin/line-1")
    expect(page.get_by_test_id("explain-card")).to_be_visible(timeout=10_000)
    choose(page, "explain-prop", "throughput")
    return page


def test_a_viewer_sees_the_lowered_speed_setpoint_first_and_the_command(written: None, page_for: Any,
                                                                        rig: Rig) -> None:
    page = open_line(page_for)
    # The window defaults to the last hour (UTC) up to the twin's newest reading, rounded up to the minute.
    end = datetime.strptime(field(page, "explain-end").input_value(), INPUT_FORMAT).replace(tzinfo=UTC)
    start = datetime.strptime(field(page, "explain-start").input_value(), INPUT_FORMAT).replace(tzinfo=UTC)
    meta = rig.platform.services.twins.get(TENANT, "line-1")["$metadata"]
    newest = max(datetime.fromisoformat(m["sourceTime"].replace("Z", "+00:00")) for m in meta.values()
                 if isinstance(m, dict) and m.get("sourceTime"))
    assert end - start == timedelta(hours=1) and timedelta(0) < end - newest <= timedelta(minutes=1, seconds=1)
    choose(page, "explain-direction", "down")
    ask(page, LOWERED - 20, LOWERED + 40)
    since = (T0 + timedelta(minutes=LOWERED)).strftime("%Y-%m-%d %H:%M")
    expect(page.get_by_test_id("explain-summary")).to_have_text(re.compile(
        rf"line-1\.throughput fell from (49\d|50\d)(\.\d+)? to 4\d\d(\.\d+)? 1/min since {since} UTC"), timeout=10_000)
    expect(page.get_by_test_id("explain-meta")).to_contain_text("1 min buckets")
    first = page.get_by_test_id("explain-signal-1")
    expect(first).to_have_text("line-1.speedSetpoint")
    assert first.get_attribute("href") == "/ui/twin/line-1?prop=speedSetpoint"
    row = page.get_by_test_id("explain-contributors").locator("tbody tr").first
    expect(row).to_contain_text("setting")
    expect(row).to_contain_text("500 → 400 1/min")
    expect(row).to_contain_text("this twin")
    # Effects follow, with how they are related: the chiller two relationships away.
    expect(page.get_by_test_id("explain-contributors")).to_contain_text("chiller-1.coolingPower")
    chiller = page.get_by_test_id("explain-contributors").locator("tbody tr").filter(has_text="chiller-1")
    expect(chiller).to_contain_text("line-1 —")
    events = page.get_by_test_id("explain-events").locator("tbody tr")
    expect(events).to_have_count(1)
    for text in ("command.acked", "line-1", "token:operator-anna", "set_speed_bpm"):
        expect(events.first).to_contain_text(text)
    expect(page.get_by_test_id("explain-error")).to_be_hidden()
    assert page.problems == []


def test_a_quiet_window_says_so_and_a_refused_window_is_one_line(written: None, page_for: Any) -> None:
    page = open_line(page_for)
    ask(page, 100, 160)
    expect(page.get_by_test_id("explain-summary")).to_contain_text("stayed within 3 robust standard deviations",
                                                                  timeout=10_000)
    expect(page.get_by_test_id("explain-contributors")).to_have_count(0)
    expect(page.get_by_test_id("explain-no-events")).to_be_visible()
    ask(page, JAM + 20, JAM - 20)  # the end before the start
    error = page.get_by_test_id("explain-error")
    expect(error).to_have_text("end must be after start", timeout=10_000)
    expect(page.get_by_test_id("explain-summary")).to_have_count(0)
    ask(page, -16 * 24 * 60, 0)  # 16 days, and a reference as long before: more than 31
    expect(error).to_contain_text("reference + incident last more than 31 days — explain a shorter window")
    ask(page, JAM - 20, JAM + 20)  # asked again, the jam explains itself: the error goes
    expect(page.get_by_test_id("explain-signal-1")).to_have_text("line-1.jammed", timeout=10_000)
    expect(error).to_be_hidden()
    assert "Traceback" not in page.content()
    assert page.problems == []
