"""The Approvals and Audit pages in Debian Chromium against a real platform on loopback (fixtures in conftest.py).

Guarded commands come from the platform's one CommandService with the example site's commands.yaml, where
``chiller-1 stop`` needs two approvals from people other than its requester; the device side is the recording
transport, so a command released by its last approval is seen leaving. Kill switches and the audit trail are the
service's own. Changes made elsewhere (another browser, the API) must reach an open page by push (no reload).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select, update

from tests.integration.dashboard.rig import TENANT, RecordingDevice, Rig, attach_device, field
from tvilling.adapters.sql.schema_audit import audit_log
from tvilling.app.commands import CommandService
from tvilling.core.commands import Command, CommandState
from tvilling.core.context import Context
from tvilling.core.roles import Role
from tvilling.dashboard.pages import audit

pytestmark = pytest.mark.chromium
TWIN, GUARDED = "chiller-1", "stop"  # guard: {approvals: 2} in the example site's commands.yaml
CLEANUP = "token:test-cleanup"


@pytest.fixture(scope="module")
def device(rig: Rig) -> Iterator[RecordingDevice]:
    device = attach_device(rig)
    yield device
    device.detach()


@pytest.fixture
def service(rig: Rig, device: RecordingDevice) -> Iterator[CommandService]:
    svc: CommandService = rig.platform.app.state.commands
    yield svc
    for switch in svc.kill_switches(TENANT):  # the rig is shared: leave no switch engaged, nothing pending
        rig.run(svc.release(TENANT, switch.scope, CLEANUP))
    for cmd in svc.pending(TENANT):
        rig.run(svc.reject(TENANT, cmd.id, CLEANUP, "test over"))


def actor_of(rig: Rig, role: Role) -> str:
    return rig.platform.services.tokens.verify(rig.tokens[role]).actor


def pending(rig: Rig, service: CommandService, actor: str) -> Command:
    cmd: Command
    cmd, created = rig.run(service.request(TENANT, TWIN, GUARDED, None, Context.new(actor=actor)))
    assert created and cmd.state is CommandState.PENDING_APPROVAL and cmd.approvals_required == 2
    return cmd


def notified(page: Any, text: str) -> None:
    page.locator(".q-notification").filter(has_text=text).first.wait_for(timeout=5000)


def decide(page: Any, action: str, command_id: str, reason: str = "") -> None:
    page.get_by_test_id(f"{action}-{command_id}").click()
    page.get_by_test_id("approval-dialog").wait_for(timeout=3000)
    if reason:
        field(page, "approval-reason").fill(reason)
    page.get_by_test_id("approval-confirm").click()
    page.get_by_test_id("approval-dialog").wait_for(state="hidden", timeout=3000)


def test_two_people_approve_a_guarded_command_and_the_requester_cannot(
        page_for: Any, rig: Rig, service: CommandService, device: RecordingDevice) -> None:
    cmd = pending(rig, service, "token:cli-operator")
    engineer = page_for(Role.ENGINEER, "/ui/approvals")
    engineer.get_by_test_id(f"pending-{cmd.id}").wait_for(timeout=10_000)
    assert engineer.get_by_test_id("approvals-read-only").count() == 0
    row = engineer.get_by_test_id("approvals-table").locator("tr").filter(has=engineer.get_by_test_id(
        f"pending-{cmd.id}"))
    assert "token:cli-operator" in row.inner_text() and cmd.digest[:12] in row.inner_text()
    assert engineer.get_by_test_id(f"approvals-count-{cmd.id}").inner_text().strip() == "0 / 2"

    # The engineer's own request arrives by push; approving it is refused (two-person rule), with the reason shown.
    mine = pending(rig, service, actor_of(rig, Role.ENGINEER))
    engineer.get_by_test_id(f"pending-{mine.id}").wait_for(timeout=3000)
    engineer.get_by_test_id(f"approve-{mine.id}").click()
    assert engineer.get_by_test_id("approval-digest").inner_text() == mine.digest  # what the approval is bound to
    engineer.get_by_test_id("approval-confirm").click()
    notified(engineer, "two-person rule")
    assert service.get(TENANT, mine.id).approvals == ()

    # First approval: still pending, 1 of 2; the second, by the admin in another browser, sends it to the device.
    decide(engineer, "approve", cmd.id)
    engineer.get_by_test_id(f"approvals-count-{cmd.id}").filter(has_text="1 / 2").wait_for(timeout=3000)
    notified(engineer, "Approval recorded: 1 of 2")
    before = len(device.sent)
    admin = page_for(Role.ADMIN, "/ui/approvals")
    admin.get_by_test_id(f"approvals-count-{cmd.id}").filter(has_text="1 / 2").wait_for(timeout=10_000)
    decide(admin, "approve", cmd.id)
    sent = device.wait_sent(before + 1)
    assert (sent.command_id, sent.twin_id, sent.name) == (cmd.id, TWIN, GUARDED)
    admin.get_by_test_id(f"pending-{cmd.id}").wait_for(state="detached", timeout=3000)
    engineer.get_by_test_id(f"pending-{cmd.id}").wait_for(state="detached", timeout=3000)  # pushed
    approved = service.get(TENANT, cmd.id)
    assert [a.actor for a in approved.approvals] == [actor_of(rig, Role.ENGINEER), actor_of(rig, Role.ADMIN)]

    # The admin rejects the engineer's request with a reason: it leaves both pages.
    decide(admin, "reject", mine.id, "not during the night shift")
    engineer.get_by_test_id(f"pending-{mine.id}").wait_for(state="detached", timeout=3000)
    rejected = service.get(TENANT, mine.id)
    assert rejected.state is CommandState.REJECTED and "not during the night shift" in rejected.reason
    assert engineer.problems == [] and admin.problems == []


def test_an_operator_engages_the_kill_switch_and_only_an_engineer_releases_it(
        page_for: Any, rig: Rig, service: CommandService) -> None:
    cmd = pending(rig, service, "token:cli-operator")
    engineer = page_for(Role.ENGINEER, "/ui/approvals")  # open before: it must follow what the operator does
    engineer.get_by_test_id(f"pending-{cmd.id}").wait_for(timeout=10_000)
    operator = page_for(Role.OPERATOR, "/ui/approvals")
    operator.get_by_test_id(f"pending-{cmd.id}").wait_for(timeout=10_000)
    assert "Not engaged" in operator.get_by_test_id("killswitch-status").inner_text()
    assert operator.get_by_test_id("approvals-read-only").is_visible()  # approving needs engineer
    assert operator.get_by_test_id(f"approve-{cmd.id}").count() == 0
    assert field(operator, "killswitch-scope").input_value() == "*"

    field(operator, "killswitch-reason").fill("ammonia leak at the chiller")
    operator.get_by_test_id("killswitch-engage").click()
    assert "whole site" in operator.get_by_test_id("killswitch-dialog-text").inner_text()
    operator.get_by_test_id("killswitch-confirm").click()
    notified(operator, "Kill switch engaged for whole site")
    operator.get_by_test_id("killswitch-*").wait_for(timeout=3000)
    assert "ammonia leak at the chiller" in operator.get_by_test_id("killswitch-table").inner_text()
    assert operator.get_by_test_id("killswitch-release-*").count() == 0  # releasing needs engineer
    operator.get_by_test_id(f"pending-{cmd.id}").wait_for(state="detached", timeout=3000)
    assert service.get(TENANT, cmd.id).state is CommandState.CANCELED
    [switch] = service.kill_switches(TENANT)
    assert (switch.scope, switch.actor) == ("*", actor_of(rig, Role.OPERATOR))

    # The engineer's page shows it (no reload) and releases it; the operator's page follows.
    release = engineer.get_by_test_id("killswitch-release-*")
    release.wait_for(timeout=3000)
    assert "Engaged" in engineer.get_by_test_id("killswitch-status").inner_text()
    release.click()
    field(engineer, "killswitch-release-reason").fill("leak fixed")
    engineer.get_by_test_id("killswitch-confirm").click()
    notified(engineer, "released")
    engineer.get_by_test_id("killswitch-status").filter(has_text="Not engaged").wait_for(timeout=3000)
    operator.get_by_test_id("killswitch-status").filter(has_text="Not engaged").wait_for(timeout=3000)
    assert service.kill_switches(TENANT) == []

    # A twin that does not exist is refused by the service, shown as a notification.
    field(operator, "killswitch-scope").fill("no-such-twin")
    operator.get_by_test_id("killswitch-engage").click()
    operator.get_by_test_id("killswitch-confirm").click()
    notified(operator, "twin no-such-twin does not exist")
    assert service.kill_switches(TENANT) == []
    assert engineer.problems == [] and operator.problems == []


def test_the_audit_trail_pages_filters_and_verifies_the_chain(
        page_for: Any, rig: Rig, service: CommandService, monkeypatch: pytest.MonkeyPatch) -> None:
    rig.run(service.engage(TENANT, "hall", "token:audit-test", "audit test"))
    rig.run(service.release(TENANT, "hall", "token:audit-test", "audit test over"))
    monkeypatch.setattr(audit, "PAGE_SIZE", 3)  # the server runs in this process: small pages
    page = page_for(Role.ENGINEER, "/ui/audit")
    table = page.get_by_test_id("audit-table")
    table.wait_for(timeout=10_000)
    newest = service.audit_page(TENANT, limit=3)
    assert [r.as_dict()["action"] for r in newest[:2]] == ["killswitch.released", "killswitch.engaged"]
    page.get_by_test_id(f"audit-n-{newest[0].n}").wait_for(timeout=3000)
    assert page.get_by_test_id(f"audit-action-{newest[0].n}").inner_text().strip() == "killswitch.released"
    assert "audit test over" in table.inner_text() and "token:audit-test" in table.inner_text()

    # Older, then back to the newest.
    page.get_by_test_id("audit-older").click()
    page.get_by_test_id(f"audit-n-{newest[-1].n - 1}").wait_for(timeout=3000)
    assert page.get_by_test_id(f"audit-n-{newest[0].n}").count() == 0
    page.get_by_test_id("audit-newest").click()
    page.get_by_test_id(f"audit-n-{newest[0].n}").wait_for(timeout=3000)

    # Filters: a subject (exact), then a category.
    field(page, "audit-subject").fill("hall")
    page.get_by_test_id(f"audit-n-{newest[2].n}").wait_for(state="detached", timeout=3000)
    hall = service.audit_page(TENANT, limit=3, subject="hall")
    assert table.locator("tbody tr").count() == len(hall) and all(r.as_dict()["subject"] == "hall" for r in hall)
    field(page, "audit-subject").fill("")
    page.get_by_test_id("audit-category").click()
    page.get_by_role("option", name="approval").click()
    approvals = service.audit_page(TENANT, limit=3, category="approval")
    page.get_by_test_id(f"audit-n-{newest[0].n}").wait_for(state="detached", timeout=3000)
    for record in approvals:  # the approvals and refusals of the tests before, if any ran
        assert page.get_by_test_id(f"audit-n-{record.n}").count() == 1

    # Verify: intact, with the record count and head hash; then a record changed in the database is named.
    page.get_by_test_id("audit-verify").click()
    result = page.get_by_test_id("audit-verify-result")
    result.filter(has_text="Chain intact").wait_for(timeout=5000)
    check = service.verify_audit(TENANT)
    assert page.get_by_test_id("audit-records").inner_text() == str(check.records)
    assert check.head_hash in page.get_by_test_id("audit-head-hash").inner_text()
    victim = newest[1].n
    with rig.platform.services.store.write() as tx:
        text = tx.conn.execute(select(audit_log.c.text).where(audit_log.c.tenant == TENANT,
                                                               audit_log.c.n == victim)).scalar_one()
        tx.conn.execute(update(audit_log).where(audit_log.c.tenant == TENANT, audit_log.c.n == victim)
                        .values(text=text.replace("audit test", "nothing to see")))
    try:
        page.get_by_test_id("audit-verify").click()
        result.filter(has_text=f"Chain broken at record #{victim}").wait_for(timeout=5000)
        assert "changed after it was written" in result.inner_text()
    finally:
        with rig.platform.services.store.write() as tx:
            tx.conn.execute(update(audit_log).where(audit_log.c.tenant == TENANT, audit_log.c.n == victim)
                            .values(text=text))
    assert service.verify_audit(TENANT).ok
    assert page.problems == []


def test_a_viewer_sees_approvals_read_only_and_not_the_audit_trail(
        page_for: Any, rig: Rig, service: CommandService) -> None:
    cmd = pending(rig, service, "token:cli-operator")
    page = page_for(Role.VIEWER, "/ui/approvals")
    page.get_by_test_id(f"pending-{cmd.id}").wait_for(timeout=10_000)
    assert page.get_by_test_id("approvals-read-only").is_visible()
    assert page.get_by_test_id("killswitch-read-only").is_visible()
    assert page.get_by_test_id(f"approve-{cmd.id}").count() == 0
    assert page.get_by_test_id(f"reject-{cmd.id}").count() == 0
    assert page.get_by_test_id("killswitch-engage").count() == 0
    assert page.get_by_role("button", name="Approve").count() == 0
    page.goto(rig.url("/ui/audit"))
    page.get_by_test_id("audit-forbidden").wait_for(timeout=10_000)
    assert "needs the engineer role" in page.get_by_test_id("audit-forbidden").inner_text()
    assert page.get_by_test_id("audit-table").count() == 0
    assert page.get_by_test_id("audit-verify").count() == 0
    assert page.problems == []
