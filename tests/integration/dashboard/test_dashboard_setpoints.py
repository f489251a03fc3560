"""The Setpoints page in Debian Chromium against a real platform on loopback (fixtures in conftest.py).

The page shows ``app.state.setpoints``; here that is a :class:`SetpointLoopService` of its own with three loops on
the example plant's ``hall`` (``auto``, ``recommend`` and ``approve``), built on the platform's services and command
service and put in place of the example site's for this module. Its proposals are written to the store as the
loop writes them (the decisions themselves are tested with the service); a new one is stored and published through
the service, as a decision does. Changes made elsewhere (another browser, the service) reach an open page by push.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.integration.dashboard.rig import TENANT, RecordingDevice, Rig, attach_device, field, now_iso
from tvilling.adapters.sql.setpoints_repo import LoopState, SqlSetpointRepo
from tvilling.app.setpoint_config import parse_config
from tvilling.app.setpoint_loops import SetpointLoopService
from tvilling.core.commands import CommandState
from tvilling.core.context import Context, new_id
from tvilling.core.errors import UnavailableError
from tvilling.core.roles import Role
from tvilling.dashboard.pages import setpoints as page_module
from tvilling.ports.commands import CommandOutcome

pytestmark = pytest.mark.chromium
AUTO, ADVICE, ASK, TWIN = "dash-hall-auto", "dash-hall-advice", "dash-hall-ask", "hall"
CONFIG = {"version": 1, "tenant": TENANT, "loops": [
    {"name": AUTO, "twin": TWIN, "mode": "auto", "band": {"low": 21, "high": 23}, "margin": 0.2, "lease_s": 20},
    {"name": ADVICE, "twin": TWIN, "mode": "recommend", "band": {"low": 20, "high": 24}, "margin": 0.5},
    {"name": ASK, "twin": TWIN, "mode": "approve", "band": {"low": 21, "high": 23}, "margin": 0.2}]}
ZONE_T0 = datetime(2026, 12, 4, 6, 0, tzinfo=UTC)
# Stored an hour ago, a minute apart: a decision made now (``_store`` stamps it with the clock) is the newest.
STORED_T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)


def body(loop: str, i: int, **more: Any) -> dict[str, Any]:
    """A proposal as the loop stores it: the i-th decision, its heating setpoint moving up by 0.25 K."""
    heating = 20.0 + 0.25 * i
    out: dict[str, Any] = {
        "id": new_id(), "loop": loop, "twin": TWIN, "mode": "auto", "at": _iso(ZONE_T0 + timedelta(minutes=15 * i)),
        "band": {"low": 21.0, "high": 23.0}, "decision": "sent",
        "current": {"heatingSetpoint": heating, "coolingSetpoint": 24.0, "energyKwh": 12.5, "minAir": 21.1,
                    "maxAir": 22.4},
        "proposed": {"heatingSetpoint": heating + 0.25, "coolingSetpoint": 24.0, "energyKwh": 10.25,
                     "minAir": 21.2, "maxAir": 22.4},
        "changes": True, "savingKwh": 2.25, "horizonH": 6.0, "held": [], "reasons": [f"decision {i}: ride low"],
        "confidence": {"energyError": 0.08, "outOfDistribution": False, "outdoorRange": [-2.0, 15.0],
                       "confident": True},
        "commands": [{"id": new_id(), "command": "set_heating_setpoint_c", "value": heating + 0.25,
                      "state": "acked"}],
        "model": {"samples": 600}, "computeMs": 41.5}
    out.update(more)
    return out


def _iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


@pytest.fixture(scope="module")
def seeded(rig: Rig) -> Iterator[tuple[SetpointLoopService, list[dict[str, Any]]]]:
    """The module's service on ``app.state.setpoints``, and the auto loop's five proposals, oldest first (the newest
    was not confident and waits for an approval)."""
    state = rig.platform.app.state
    service = SetpointLoopService(rig.platform.services, state.commands, parse_config(CONFIG))
    service.on_start()  # as the server's start does: autonomy may be enabled from then on
    bodies = [body(AUTO, i) for i in range(4)] + [body(
        AUTO, 4, decision="awaiting approval", savingKwh=-0.4,
        confidence={"energyError": 0.45, "outOfDistribution": True, "outdoorRange": [-2.0, 15.0],
                    "confident": False},
        reasons=["not confident: the outdoor forecast is outside the fitted range"],
        commands=[{"id": new_id(), "command": "set_heating_setpoint_c", "value": 21.25,
                   "state": "pending_approval"}])]
    with rig.platform.services.store.write() as tx:
        repo = SqlSetpointRepo(tx.conn)
        for i, b in enumerate(bodies):
            b["createdAt"] = _iso(STORED_T0 + timedelta(minutes=i))
            repo.add(TENANT, b, ZONE_T0 + timedelta(minutes=15 * i), STORED_T0 + timedelta(minutes=i))
    before = getattr(state, "setpoints", None)
    state.setpoints = service
    yield service, bodies
    state.setpoints = before


@pytest.fixture
def service(rig: Rig, seeded: tuple[SetpointLoopService, list[dict[str, Any]]]) -> Iterator[SetpointLoopService]:
    svc = seeded[0]
    yield svc
    with rig.platform.services.store.write() as tx:  # every test starts with autonomy never touched
        SqlSetpointRepo(tx.conn).put(TENANT, LoopState(AUTO, False, None, datetime.fromtimestamp(0, UTC), "system"))


def actor_of(rig: Rig, role: Role) -> str:
    return rig.platform.services.tokens.verify(rig.tokens[role]).actor


def notified(page: Any, text: str) -> None:
    page.locator(".q-notification").filter(has_text=text).first.wait_for(timeout=5000)


def confirm(page: Any, reason: str | None = None) -> None:
    page.get_by_test_id("setpoint-dialog").wait_for(timeout=3000)
    if reason is not None:
        field(page, "setpoint-reason").fill(reason)
    page.get_by_test_id("setpoint-confirm").click()
    page.get_by_test_id("setpoint-dialog").wait_for(state="hidden", timeout=3000)


def test_the_loop_cards_show_the_last_decision_and_an_engineer_and_an_operator_switch_autonomy(
        page_for: Any, rig: Rig, service: SetpointLoopService,
        seeded: tuple[SetpointLoopService, list[dict[str, Any]]]) -> None:
    engineer = page_for(Role.ENGINEER, "/ui/setpoints")
    card = engineer.get_by_test_id(f"loop-{AUTO}")
    card.wait_for(timeout=10_000)
    assert engineer.get_by_test_id(f"loop-mode-{AUTO}").inner_text().strip() == "auto"
    assert engineer.get_by_test_id(f"loop-band-{AUTO}").inner_text() == "21.0 – 23.0 °C (aims 0.2 K inside)"
    assert engineer.get_by_test_id(f"loop-lease-{AUTO}").inner_text().startswith("20 s: the device falls back")
    assert engineer.get_by_test_id(f"loop-lease-{ASK}").count() == 0  # no lease: only auto loops lease
    assert engineer.get_by_test_id(f"loop-twin-{AUTO}").get_attribute("href").endswith("/ui/twin/hall")
    assert engineer.get_by_test_id(f"loop-autonomy-{AUTO}").inner_text() == "Autonomy off: not enabled yet"
    # The last decision: the newest proposal, not confident, waiting for an approval.
    assert engineer.get_by_test_id(f"loop-decision-{AUTO}").inner_text().strip() == "awaiting approval"
    assert engineer.get_by_test_id(f"loop-heating-{AUTO}").inner_text() == "21.0 → 21.25 °C"
    assert engineer.get_by_test_id(f"loop-cooling-{AUTO}").inner_text() == "24.0 °C (kept)"
    assert "12.5 kWh with the current setpoints → 10.2 kWh proposed, over the next 6 h" in engineer.get_by_test_id(
        f"loop-energy-{AUTO}").inner_text()
    assert engineer.get_by_test_id(f"loop-saving-{AUTO}").inner_text() == "uses 0.4 kWh more"
    confidence = engineer.get_by_test_id(f"loop-confidence-{AUTO}").inner_text()
    assert "not confident" in confidence and "+45%" in confidence and "outside the fitted range" in confidence
    assert "outdoor forecast is outside" in engineer.get_by_test_id(f"loop-reasons-{AUTO}").inner_text()
    assert engineer.get_by_test_id(f"loop-command-{AUTO}-set_heating_setpoint_c").inner_text().strip() == \
        "pending_approval"
    # The recommend loop: no autonomy, nothing to enable, no decision yet.
    assert engineer.get_by_test_id(f"loop-autonomy-{ADVICE}").inner_text().startswith("No autonomy in recommend mode")
    assert engineer.get_by_test_id(f"loop-enable-{ADVICE}").count() == 0
    assert "No decision yet" in engineer.get_by_test_id(f"loop-last-{ADVICE}").inner_text()
    assert engineer.get_by_test_id("setpoints-read-only").count() == 0

    # The engineer enables autonomy (a cancelled dialog changes nothing).
    engineer.get_by_test_id(f"loop-enable-{AUTO}").click()
    engineer.get_by_test_id("setpoint-cancel").click()
    assert not service.state(service.config.loops[0]).enabled
    engineer.get_by_test_id(f"loop-enable-{AUTO}").click()
    assert "sends setpoint commands to hall" in engineer.get_by_test_id("setpoint-dialog-text").inner_text()
    assert not engineer.get_by_test_id("setpoint-reason").is_visible()
    confirm(engineer)
    notified(engineer, f"Autonomy of {AUTO} enabled")
    engineer_actor = actor_of(rig, Role.ENGINEER)
    autonomy = engineer.get_by_test_id(f"loop-autonomy-{AUTO}")
    autonomy.filter(has_text=f"Autonomy enabled — {engineer_actor} at ").wait_for(timeout=3000)
    state = service.state(service.config.loops[0])
    assert state.enabled and state.changed_by == engineer_actor
    assert engineer.get_by_test_id(f"loop-enable-{AUTO}").count() == 0

    # The operator sees it enabled, may disable (not enable) it, with a reason; the engineer's page follows.
    operator = page_for(Role.OPERATOR, "/ui/setpoints")
    operator.get_by_test_id(f"loop-autonomy-{AUTO}").filter(has_text="Autonomy enabled").wait_for(timeout=10_000)
    operator.get_by_test_id(f"loop-disable-{AUTO}").click()
    assert "sends nothing by itself" in operator.get_by_test_id("setpoint-dialog-text").inner_text()
    confirm(operator, "window open for cleaning")
    notified(operator, f"Autonomy of {AUTO} disabled")
    operator_actor = actor_of(rig, Role.OPERATOR)
    expected = f"Autonomy off: disabled by {operator_actor}: window open for cleaning — {operator_actor} at "
    operator.get_by_test_id(f"loop-autonomy-{AUTO}").filter(has_text=expected).wait_for(timeout=3000)
    autonomy.filter(has_text=expected).wait_for(timeout=3000)  # pushed to the engineer's page
    assert operator.get_by_test_id(f"loop-enable-{AUTO}").count() == 0  # enabling needs engineer
    assert operator.get_by_test_id(f"loop-disable-{AUTO}").count() == 0  # nothing left to disable
    engineer.get_by_test_id(f"loop-enable-{AUTO}").wait_for(timeout=3000)
    state = service.state(service.config.loops[0])
    assert not state.enabled and state.suspended_reason == f"disabled by {operator_actor}: window open for cleaning"
    assert engineer.problems == [] and operator.problems == []


def test_a_service_error_is_a_notification_and_the_page_goes_on(
        page_for: Any, service: SetpointLoopService, monkeypatch: pytest.MonkeyPatch) -> None:
    page = page_for(Role.ENGINEER, "/ui/setpoints")
    page.get_by_test_id(f"loop-enable-{AUTO}").wait_for(timeout=10_000)

    def down(*_: Any, **__: Any) -> Any:
        raise UnavailableError("the store is not answering", hint="try again in a minute")

    monkeypatch.setattr(service, "enable", down)
    page.get_by_test_id(f"loop-enable-{AUTO}").click()
    confirm(page)
    notified(page, "the store is not answering (try again in a minute)")
    monkeypatch.setattr(service, "proposals", down)  # a failing read, from a button and then from the bus
    page.get_by_test_id("setpoints-refresh").click()
    page.get_by_test_id("setpoints-error").filter(has_text="the store is not answering").wait_for(timeout=3000)
    monkeypatch.undo()
    page.get_by_test_id("setpoints-refresh").click()
    page.wait_for_function("() => document.querySelector('[data-testid=setpoints-error]').innerText.trim() === ''",
                           timeout=3000)
    assert page.get_by_test_id(f"loop-{AUTO}").is_visible()
    assert page.problems == []


def test_a_viewer_reads_only_and_the_page_says_when_there_is_no_service(
        page_for: Any, rig: Rig, service: SetpointLoopService) -> None:
    service.enable(TENANT, AUTO, "token:someone")  # enabled: an operator would see Disable
    page = page_for(Role.VIEWER, "/ui/setpoints")
    page.get_by_test_id(f"loop-autonomy-{AUTO}").filter(has_text="Autonomy enabled — token:someone").wait_for(
        timeout=10_000)
    assert page.get_by_test_id("setpoints-read-only").is_visible()
    for name in (AUTO, ADVICE, ASK):
        assert page.get_by_test_id(f"loop-enable-{name}").count() == 0
        assert page.get_by_test_id(f"loop-disable-{name}").count() == 0
    assert page.get_by_role("button", name="Disable").count() == 0
    assert page.get_by_test_id(f"loop-decision-{AUTO}").is_visible()  # reads everything
    state = rig.platform.app.state
    state.setpoints = None
    try:
        page.goto(rig.url("/ui/setpoints"))
        page.get_by_test_id("setpoints-unavailable").wait_for(timeout=10_000)
        assert page.get_by_test_id("setpoints-proposals").count() == 0
    finally:
        state.setpoints = service
    assert page.problems == []


def test_the_proposals_table_pages_back_and_follows_new_proposals(
        page_for: Any, rig: Rig, service: SetpointLoopService,
        seeded: tuple[SetpointLoopService, list[dict[str, Any]]], monkeypatch: pytest.MonkeyPatch) -> None:
    bodies = seeded[1]
    monkeypatch.setattr(page_module, "PAGE_SIZE", 2)  # the server runs in this process: small pages
    page = page_for(Role.VIEWER, f"/ui/setpoints?loop={AUTO}")
    table = page.get_by_test_id("setpoints-proposals")
    newest = bodies[-1]["id"]
    page.get_by_test_id(f"proposal-{newest}").wait_for(timeout=10_000)
    rows = table.locator("tbody tr")
    assert rows.count() == 2
    first = rows.nth(0).inner_text()
    assert "2026-12-04 07:00:00" in first and "awaiting approval" in first and "21.0 → 21.25 °C" in first
    assert "-0.40" in first and "no" in first and "outdoor forecast is outside" in first
    second = rows.nth(1).inner_text()
    assert "sent" in second and "20.75 → 21.0 °C" in second and "2.25" in second and "decision 3" in second
    assert page.get_by_test_id(f"proposal-decision-{newest}").inner_text().strip() == "awaiting approval"

    # Older, older (the last page: one row, Older disabled), then back to the newest.
    page.get_by_test_id("setpoints-older").click()
    page.get_by_test_id(f"proposal-{bodies[2]['id']}").wait_for(timeout=3000)
    assert page.get_by_test_id(f"proposal-{newest}").count() == 0 and rows.count() == 2
    assert "page 2" in page.get_by_test_id("setpoints-range").inner_text()
    page.get_by_test_id("setpoints-older").click()
    page.get_by_test_id(f"proposal-{bodies[0]['id']}").wait_for(timeout=3000)
    assert rows.count() == 1 and page.get_by_test_id("setpoints-older").is_disabled()
    # A new proposal arrives meanwhile: the card follows, the older page stays where the reader is.
    loop = service.config.get(AUTO)
    assert loop is not None
    fresh = body(AUTO, 5, decision="unchanged", changes=False, savingKwh=0.0, commands=[],
                 reasons=["the current setpoints are the best"])
    fresh["proposed"] = dict(fresh["current"])
    service._store(loop, fresh, (ZONE_T0 + timedelta(minutes=75)).timestamp())
    page.get_by_test_id(f"loop-decision-{AUTO}").filter(has_text="unchanged").wait_for(timeout=3000)
    assert page.get_by_test_id(f"proposal-{bodies[0]['id']}").is_visible()
    page.get_by_test_id("setpoints-newest").click()
    page.get_by_test_id(f"proposal-{fresh['id']}").wait_for(timeout=3000)
    assert page.get_by_test_id(f"proposal-{newest}").is_visible() and rows.count() == 2

    # On the newest page a new proposal appears by push, at the top.
    another = body(AUTO, 6, decision="no model", reasons=["not enough history yet"])
    for key in ("current", "proposed", "confidence", "savingKwh"):
        another.pop(key)
    service._store(loop, another, (ZONE_T0 + timedelta(minutes=90)).timestamp())
    page.get_by_test_id(f"proposal-{another['id']}").wait_for(timeout=3000)
    top = rows.nth(0).inner_text()
    assert "no model" in top and "not enough history yet" in top
    assert page.get_by_test_id(f"loop-decision-{AUTO}").inner_text().strip() == "no model"

    # The other loop: no proposals yet.
    page.get_by_test_id(f"loop-show-{ADVICE}").click()
    page.get_by_test_id("setpoints-proposals-empty").wait_for(timeout=3000)
    assert page.get_by_test_id("setpoints-older").is_disabled()
    assert page.problems == []


@pytest.fixture
def device(rig: Rig) -> Iterator[RecordingDevice]:
    device = attach_device(rig)
    yield device
    device.detach()


def test_the_last_decisions_commands_follow_their_approval_and_the_devices_answer(
        page_for: Any, rig: Rig, service: SetpointLoopService, device: RecordingDevice) -> None:
    """An ``approve`` loop's command waits for a person; the card shows its state as it is now, not as stored."""
    commands = rig.platform.app.state.commands
    rig.post([{"twinId": TWIN, "name": "heatingSetpoint", "value": 21.0, "unit": "degC", "sourceTime": now_iso()}])
    cmd, _ = rig.run(commands.request(TENANT, TWIN, "set_heating_setpoint_c", 21.25, Context.new(
        actor=f"loop:{ASK}"), min_approvals=1))
    assert cmd.state is CommandState.PENDING_APPROVAL
    loop = service.config.get(ASK)
    assert loop is not None
    decision = body(ASK, 8, mode="approve", decision="awaiting approval", commands=[
        {"id": cmd.id, "command": "set_heating_setpoint_c", "value": 21.25, "state": cmd.state.value}])
    service._store(loop, decision, (ZONE_T0 + timedelta(hours=2)).timestamp())
    page = page_for(Role.OPERATOR, "/ui/setpoints")
    badge = page.get_by_test_id(f"loop-command-{ASK}-set_heating_setpoint_c")
    badge.filter(has_text="pending_approval").wait_for(timeout=10_000)
    assert page.get_by_test_id(f"loop-decision-{ASK}").inner_text().strip() == "awaiting approval"
    assert page.get_by_test_id(f"loop-enable-{ASK}").count() == 0  # an approve loop has no autonomy

    before = len(device.sent)
    rig.run(commands.approve(TENANT, cmd.id, "token:setpoint-test", cmd.digest))
    sent = device.wait_sent(before + 1)
    assert sent.command_id == cmd.id
    badge.filter(has_text="sent").wait_for(timeout=3000)  # pushed: command.* on the loop's twin
    rig.run(device.answer(CommandOutcome(cmd.id, "acked")))
    badge.filter(has_text="acked").wait_for(timeout=3000)
    assert page.get_by_test_id(f"loop-decision-{ASK}").inner_text().strip() == "awaiting approval"  # as decided
    assert page.problems == []
