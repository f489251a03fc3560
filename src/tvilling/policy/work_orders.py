"""Maintenance work orders raised from predictive insights: lifecycle, rules and guardrails, as pure functions.

A work order's states and what moves between them::

    proposed --approve--> open --complete--> done
        |                   |
        +--reject--> rejected   +--cancel--> cancelled      (cancel also works on a proposed one)

``proposed`` waits for a person; ``open`` is released to maintenance. ``done``, ``rejected`` and ``cancelled``
are closed. A rule (:mod:`tvilling.policy.work_order_rules`) decides when an insight warrants a work order and
in which mode: ``auto`` releases it at once, ``approve`` proposes it. The guardrails below are why a person can
leave ``auto`` on: IBM Maximo's known failure mode is auto-created work orders flooding the planners.

- one live (proposed or open) work order per twin and rule: a trigger while one is live adds nothing;
- a cool-down after one closes before the same rule raises another on the twin;
- a daily limit on work orders released automatically per tenant: beyond it, new ones are proposed, saying why;
- the policy's own ``mode`` caps every rule: ``off`` creates nothing (the kill switch), ``approve`` proposes all;
  a tenant may lower it further at run time (:func:`stricter` of the file's and the tenant's).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

LIVE_STATES = ("proposed", "open")
CLOSED_STATES = ("done", "rejected", "cancelled")
STATES = (*LIVE_STATES, *CLOSED_STATES)
PRIORITIES = ("low", "medium", "high", "urgent")
MODES = ("off", "approve", "auto")  # from least to most automatic


def stricter(a: str, b: str) -> str:
    """The less automatic of two modes: a tenant's cap never raises what the rules file allows."""
    return a if MODES.index(a) <= MODES.index(b) else b
# action -> (states it applies to, state after it)
ACTIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "approve": (("proposed",), "open"),
    "reject": (("proposed",), "rejected"),
    "complete": (("open",), "done"),
    "cancel": (LIVE_STATES, "cancelled"),
}
# The event kind each action appends (and "created" for a new work order).
EVENT_KINDS = {"approve": "approved", "reject": "rejected", "complete": "completed", "cancel": "cancelled"}


def iso(t: datetime | None) -> str | None:
    return t.isoformat().replace("+00:00", "Z") if t is not None else None  # as the rest of the API


@dataclass(frozen=True, slots=True)
class WorkOrder:
    id: str
    tenant: str
    twin_id: str
    title: str
    created_at: datetime
    created_by: str  # "policy:<rule id>" or the person's actor name
    state: str = "proposed"
    priority: str = "high"
    mode: str = "approve"  # auto (released by a rule) | approve (proposed by a rule) | manual (made by a person)
    rule_id: str | None = None
    reason: str = ""  # why it is in its first state (e.g. "the rule asks for approval")
    description: str = ""
    due_by: datetime | None = None
    evidence: dict[str, Any] = field(default_factory=dict)
    updated_at: datetime | None = None
    closed_at: datetime | None = None
    closed_by: str | None = None
    comment: str | None = None  # the last action's comment (approve, reject, complete, cancel); all in transitions

    @property
    def live(self) -> bool:
        return self.state in LIVE_STATES

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "twinId": self.twin_id, "title": self.title, "state": self.state,
                "priority": self.priority, "mode": self.mode, "ruleId": self.rule_id, "reason": self.reason,
                "description": self.description, "dueBy": iso(self.due_by), "evidence": self.evidence,
                "createdAt": iso(self.created_at), "createdBy": self.created_by,
                "updatedAt": iso(self.updated_at or self.created_at), "closedAt": iso(self.closed_at),
                "closedBy": self.closed_by, "comment": self.comment}


class TransitionError(ValueError):
    """An action that does not apply to the work order's state (``hint`` says what would)."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.hint = hint


def apply(order: WorkOrder, action: str, now: datetime, actor: str, comment: str | None) -> WorkOrder:
    """The work order after ``action`` (approve, reject, complete, cancel) by ``actor``."""
    if action not in ACTIONS:
        raise TransitionError(f"unknown action {action!r}", "one of " + ", ".join(ACTIONS))
    sources, target = ACTIONS[action]
    if order.state not in sources:
        able = [a for a, (src, _) in ACTIONS.items() if order.state in src]
        raise TransitionError(f"work order {order.id} is {order.state}: it cannot be {EVENT_KINDS[action]}",
                              ("possible now: " + ", ".join(able)) if able else "it is closed; create a new one")
    closed = target in CLOSED_STATES
    return replace(order, state=target, updated_at=now, comment=comment,
                   closed_at=now if closed else None, closed_by=actor if closed else None)


@dataclass(frozen=True, slots=True)
class Trigger:
    """What an insight says about one twin, in the terms rules use."""

    kind: str  # rul | anomaly
    twin_id: str
    at: datetime | None  # the insight's source time
    p_failure: float | None = None
    horizon_hours: float | None = None
    rul_hours: dict[str, float] | None = None  # mean, lower, upper
    signals: tuple[str, ...] = ()
    since: str | None = None
    data: dict[str, Any] = field(default_factory=dict)  # the insight's own data, kept as evidence


@dataclass(frozen=True, slots=True)
class Limits:
    """The policy-wide caps (see the module docstring)."""

    mode: str = "auto"
    max_auto_per_day: int = 10


@dataclass(frozen=True, slots=True)
class Decision:
    create: bool
    reason: str
    state: str = "proposed"
    mode: str = "approve"


def decide(rule_mode: str, limits: Limits, *, live: WorkOrder | None, last_closed: datetime | None,
           cooldown: timedelta, now: datetime, released_last_day: int) -> Decision:
    """Whether a matching trigger creates a work order, in which state, and why (guardrails in order)."""
    if limits.mode == "off":
        return Decision(False, "the work-order policy is off")
    if live is not None:
        return Decision(False, f"work order {live.id} is already {live.state} for this twin and rule")
    if last_closed is not None and now - last_closed < cooldown:
        return Decision(False, f"cool-down: the last one closed at {iso(last_closed)}")
    if rule_mode == "approve" or limits.mode == "approve":
        who = "the rule" if rule_mode == "approve" else "the policy"
        return Decision(True, f"{who} asks for approval", "proposed", "approve")
    if released_last_day >= limits.max_auto_per_day:
        return Decision(True, f"daily limit of {limits.max_auto_per_day} automatically released work orders "
                              "reached; approve to release", "proposed", "approve")
    return Decision(True, "released by the rule", "open", "auto")


def due_by(trigger: Trigger, now: datetime) -> datetime | None:
    """The earliest likely failure: the insight's time plus the lower end of its RUL interval."""
    if not trigger.rul_hours or "lower" not in trigger.rul_hours:
        return None
    return (trigger.at or now) + timedelta(hours=max(0.0, float(trigger.rul_hours["lower"])))
