"""The command lifecycle: [pending_approval ->] requested -> sent -> acked | failed | expired, illegal moves refused,
late answers kept, approvals bound to the requester and the digest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tvilling.core.commands import ALLOWED, Command, CommandState, IllegalTransition
from tvilling.core.context import Context
from tvilling.core.errors import ConflictError, PermissionDeniedError, ValidationError

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def cmd(**kw: object) -> Command:
    args: dict[str, object] = {"id": "c-1", "tenant": "acme", "twin_id": "pump-1", "name": "set_speed_pct",
                               "payload": 50.0, "requested_at": T0, "expires_at": T0 + timedelta(seconds=30),
                               "context": Context.new(actor="token:abc"), "transport": "mqtt"}
    args.update(kw)
    return Command.request(**args)  # type: ignore[arg-type]


def test_happy_path_records_every_step() -> None:
    c = cmd().move(CommandState.SENT, T0 + timedelta(seconds=1))
    c = c.move(CommandState.ACKED, T0 + timedelta(seconds=2), detail={"applied_at": "x"})
    assert c.state is CommandState.ACKED and c.terminal
    assert [s.state for s in c.history] == [CommandState.REQUESTED, CommandState.SENT, CommandState.ACKED]
    assert c.history[-1].detail == {"applied_at": "x"}
    assert c.as_dict()["history"][1]["state"] == "sent"


@pytest.mark.parametrize("start", list(CommandState))
@pytest.mark.parametrize("to", list(CommandState))
def test_only_the_lifecycle_moves_are_allowed(start: CommandState, to: CommandState) -> None:
    c = cmd(approvals_required=1) if start is CommandState.PENDING_APPROVAL else cmd()
    path = {CommandState.PENDING_APPROVAL: [], CommandState.REQUESTED: [], CommandState.SENT: [CommandState.SENT],
            CommandState.ACKED: [CommandState.SENT, CommandState.ACKED],
            CommandState.FAILED: [CommandState.FAILED], CommandState.EXPIRED: [CommandState.EXPIRED],
            CommandState.REJECTED: [CommandState.REJECTED], CommandState.CANCELED: [CommandState.CANCELED]}[start]
    for s in path:
        c = c.move(s, T0)
    assert c.state is start
    if to in ALLOWED.get(start, frozenset()):
        assert c.move(to, T0).state is to
    else:
        with pytest.raises(IllegalTransition):
            c.move(to, T0)


def test_terminal_states_have_no_way_out() -> None:
    for s in (CommandState.ACKED, CommandState.FAILED, CommandState.EXPIRED, CommandState.REJECTED,
              CommandState.CANCELED):
        assert s.terminal and s not in ALLOWED
    assert issubclass(IllegalTransition, ConflictError)


def test_failure_and_expiry_keep_the_reason() -> None:
    failed = cmd().move(CommandState.SENT, T0).move(CommandState.FAILED, T0, "value outside [0, 110]")
    assert failed.reason == "value outside [0, 110]" and failed.as_dict()["reason"] == failed.reason
    expired = cmd().move(CommandState.SENT, T0).move(CommandState.EXPIRED, T0, "no answer")
    assert expired.reason == "no answer"


def test_a_late_answer_is_recorded_but_does_not_revive() -> None:
    expired = cmd().move(CommandState.SENT, T0).move(CommandState.EXPIRED, T0 + timedelta(seconds=30))
    late = expired.record_late(CommandState.ACKED, T0 + timedelta(seconds=31))
    assert late.state is CommandState.EXPIRED and late.history[-1].late
    assert late.history[-1].as_dict()["late"] is True
    with pytest.raises(IllegalTransition):
        late.move(CommandState.ACKED, T0)
    with pytest.raises(IllegalTransition):  # only expired commands take late answers
        cmd().move(CommandState.SENT, T0).record_late(CommandState.ACKED, T0)


def test_is_due_only_while_open_and_past_the_deadline() -> None:
    c = cmd()
    assert not c.is_due(T0 + timedelta(seconds=29)) and c.is_due(T0 + timedelta(seconds=30))
    assert not c.move(CommandState.FAILED, T0).is_due(T0 + timedelta(days=1))


@pytest.mark.parametrize("bad", ["", "-x", "a b", "x" * 129, "a/b", "ä"])
def test_command_ids_are_checked(bad: str) -> None:
    with pytest.raises(ValidationError):
        cmd(id=bad)


def test_expiry_must_follow_the_request() -> None:
    with pytest.raises(ValidationError):
        cmd(expires_at=T0)


def test_two_person_rule_and_digest_binding() -> None:
    c = cmd(approvals_required=2, digest="d" * 64, timeout_s=10.0)
    assert c.state is CommandState.PENDING_APPROVAL and c.history[0].state is CommandState.PENDING_APPROVAL
    with pytest.raises(PermissionDeniedError, match="two-person"):
        c.approve("token:abc", "d" * 64, T0)  # the requester
    with pytest.raises(ConflictError, match="another request"):
        c.approve("token:b", "e" * 64, T0)  # an approval of an edited command
    one = c.approve("token:b", "d" * 64, T0 + timedelta(seconds=5))
    assert one.state is CommandState.PENDING_APPROVAL and [a.actor for a in one.approvals] == ["token:b"]
    with pytest.raises(PermissionDeniedError, match="distinct"):
        one.approve("token:b", "d" * 64, T0)  # the same person twice is one approval
    two = one.approve("token:c", "d" * 64, T0 + timedelta(seconds=7))
    assert two.state is CommandState.REQUESTED and two.history[-1].reason == "approved"
    assert two.expires_at == T0 + timedelta(seconds=17)  # the device deadline runs from the last approval
    assert two.as_dict()["approvals"][1]["actor"] == "token:c" and two.as_dict()["approvalsRequired"] == 2
    with pytest.raises(ConflictError, match="not waiting"):
        two.approve("token:d", "d" * 64, T0)


def test_rejection_and_cancel_keep_the_reason() -> None:
    c = cmd(approvals_required=1).move(CommandState.REJECTED, T0, "rejected by token:x: too fast")
    assert c.terminal and c.reason == "rejected by token:x: too fast"
    k = cmd().move(CommandState.CANCELED, T0, "kill switch engaged")
    assert k.terminal and k.reason == "kill switch engaged"
