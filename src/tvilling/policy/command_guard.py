"""Guards on commands to devices: slew, rate, interlocks and approvals, declared per (twin, command).

A ``guard`` on a row of the site's ``commands.yaml`` (docs/commands.md, "Guards")::

    guard:
      property: setpoint_c     # the twin property the command drives (for max_step)
      max_step: 2              # |new value - current value| <= 2 (slew limit per command)
      rate_per_min: 6          # at most 6 commands of this kind to this twin in any 60 s
      approvals: 1             # 0: runs at once; 1: one approver; 2: two distinct approvers (critical points)
      approval_ttl_s: 900      # how long it may wait for approval before it expires
      interlocks:              # each blocks the command while it holds
        - {property: discharge_pressure_bar, above: 6.0, reason: "pressure too high to open the valve"}
        - {property: inlet_temp_c, max_age_s: 60}   # blocks when missing, not Good, or older than 60 s

Pure: :func:`check_guard` gets the twin as it is now and the time, and returns every violation (empty = allowed).
The service checks at proposal *and* again right before dispatch (an interlock that became true after approval
still stops the command; reliability promise G9). A guard fails closed: a step check without a known current
value, or an interlock on a property that is missing or not Good, blocks.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tvilling.core.errors import Problem
from tvilling.core.quality import Quality
from tvilling.core.twin import Twin

MAX_APPROVALS = 2
_GUARD_KEYS = {"property", "max_step", "rate_per_min", "approvals", "approval_ttl_s", "interlocks"}
_INTERLOCK_KEYS = {"property", "above", "below", "equals", "max_age_s", "reason"}
_MISSING = object()


@dataclass(frozen=True, slots=True)
class Interlock:
    property: str
    above: float | None = None
    below: float | None = None
    equals: Any = _MISSING
    max_age_s: float | None = None
    reason: str = ""

    def describe(self) -> str:
        parts = [f"{self.property} above {self.above:g}" if self.above is not None else "",
                 f"{self.property} below {self.below:g}" if self.below is not None else "",
                 f"{self.property} equals {self.equals!r}" if self.equals is not _MISSING else "",
                 f"{self.property} older than {self.max_age_s:g} s" if self.max_age_s is not None else ""]
        return " or ".join(p for p in parts if p) or f"{self.property} unknown"

    def blocks(self, twin: Twin, now: datetime) -> str:
        """Why this interlock holds now ('' when it does not)."""
        why = f" ({self.reason})" if self.reason else ""
        if self.property not in twin.contents:
            return f"interlock on {self.property}: no value is known{why}"
        value = twin.contents[self.property]
        meta = twin.metadata.get(self.property)
        if meta is not None and meta.quality is not Quality.GOOD:
            return f"interlock on {self.property}: its value is {meta.quality.value}, not good{why}"
        if self.max_age_s is not None:
            age = (now - meta.last_update_time).total_seconds() if meta is not None else math.inf
            if age > self.max_age_s:
                return f"interlock on {self.property}: last updated {age:.0f} s ago (limit {self.max_age_s:g} s){why}"
        if self.equals is not _MISSING and value == self.equals:
            return f"interlock: {self.property} is {value!r}{why}"
        number = _number(value)
        if (self.above is not None or self.below is not None) and number is None:
            return f"interlock on {self.property}: {value!r} is not a number{why}"
        if self.above is not None and number is not None and number > self.above:
            return f"interlock: {self.property} is {number:g}, above {self.above:g}{why}"
        if self.below is not None and number is not None and number < self.below:
            return f"interlock: {self.property} is {number:g}, below {self.below:g}{why}"
        return ""


@dataclass(frozen=True, slots=True)
class CommandGuard:
    prop: str | None = None  # the property the command drives ("property" in commands.yaml)
    max_step: float | None = None
    rate_per_min: int | None = None
    approvals: int = 0
    approval_ttl_s: float = 900.0
    interlocks: tuple[Interlock, ...] = ()

    @property
    def active(self) -> bool:
        return self != CommandGuard()

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"approvals": self.approvals}
        if self.approvals:
            out["approvalTtlS"] = self.approval_ttl_s
        if self.prop is not None:
            out["property"] = self.prop
        if self.max_step is not None:
            out["maxStep"] = self.max_step
        if self.rate_per_min is not None:
            out["ratePerMin"] = self.rate_per_min
        if self.interlocks:
            out["interlocks"] = [i.describe() for i in self.interlocks]
        return out


def _number(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    try:
        f = float(v)
    except OverflowError:  # an integer beyond any float
        return None
    return f if math.isfinite(f) else None


def check_guard(guard: CommandGuard, payload: Any, twin: Twin, now: datetime, *,
                recent_count: int | None = None) -> list[Problem]:
    """Every reason ``guard`` refuses ``payload`` for ``twin`` now. ``recent_count``: commands of this kind to
    this twin in the last 60 s, not counting this one (None: the rate is not checked, as at dispatch)."""
    problems: list[Problem] = []
    if guard.max_step is not None and guard.prop is not None:
        new = _number(payload)
        current = _number(twin.contents.get(guard.prop))
        if new is None:
            problems.append(Problem("a max_step guard needs a numeric request", "body"))
        elif current is None:
            problems.append(Problem(f"the current {guard.prop} of {twin.id} is not known, so the step "
                                    f"limit {guard.max_step:g} cannot be checked", guard.prop,
                                    "wait for the device to report it"))
        elif abs(new - current) > guard.max_step:
            problems.append(Problem(f"a step from {current:g} to {new:g} is more than the limit {guard.max_step:g}",
                                    "body", f"move in steps of at most {guard.max_step:g}"))
    if recent_count is not None and guard.rate_per_min is not None and recent_count >= guard.rate_per_min:
        problems.append(Problem(f"{recent_count} commands of this kind in the last 60 s; the limit is "
                                f"{guard.rate_per_min} per minute", "rate", "wait and send it again"))
    for lock in guard.interlocks:
        why = lock.blocks(twin, now)
        if why:
            problems.append(Problem(why, lock.property, "wait until the interlock clears"))
    return problems


def parse_guard(raw: Any, where: str, problems: list[Problem]) -> CommandGuard:
    """A guard from a commands.yaml row's ``guard`` value; appends every problem to ``problems``."""
    if raw is None:
        return CommandGuard()
    if not isinstance(raw, Mapping):
        problems.append(Problem("guard must be a mapping", where))
        return CommandGuard()
    for key in sorted(set(raw) - _GUARD_KEYS):
        problems.append(Problem(f"unknown guard key {key!r}", f"{where}/{key}", ", ".join(sorted(_GUARD_KEYS))))
    prop = raw.get("property")
    if prop is not None and (not isinstance(prop, str) or not prop):
        problems.append(Problem("property must be a property name", f"{where}/property"))
        prop = None
    max_step = _positive(raw, "max_step", where, problems)
    if max_step is not None and prop is None:
        problems.append(Problem("max_step needs property (the twin property the command drives)", where))
    rate = raw.get("rate_per_min")
    if rate is not None and (isinstance(rate, bool) or not isinstance(rate, int) or not 1 <= rate <= 10_000):
        problems.append(Problem("rate_per_min must be a whole number from 1 to 10000", f"{where}/rate_per_min"))
        rate = None
    approvals = raw.get("approvals", 0)
    if isinstance(approvals, bool) or not isinstance(approvals, int) or not 0 <= approvals <= MAX_APPROVALS:
        problems.append(Problem(f"approvals must be 0, 1 or {MAX_APPROVALS}", f"{where}/approvals"))
        approvals = 0
    ttl = _positive(raw, "approval_ttl_s", where, problems, upper=7 * 86_400)
    locks_raw = raw.get("interlocks") or []
    interlocks: list[Interlock] = []
    if not isinstance(locks_raw, list):
        problems.append(Problem("interlocks must be a list", f"{where}/interlocks"))
        locks_raw = []
    for i, lock in enumerate(locks_raw):
        parsed = _interlock(lock, f"{where}/interlocks/{i}", problems)
        if parsed is not None:
            interlocks.append(parsed)
    return CommandGuard(prop, max_step, rate, approvals, 900.0 if ttl is None else ttl, tuple(interlocks))


def _positive(raw: Mapping[str, Any], key: str, where: str, problems: list[Problem], *,
              upper: float = 1e12) -> float | None:
    v = raw.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int | float) or not (0 < v <= upper):
        problems.append(Problem(f"{key} must be a number above 0 and at most {upper:g}", f"{where}/{key}"))
        return None
    return float(v)


def _interlock(raw: Any, where: str, problems: list[Problem]) -> Interlock | None:
    if not isinstance(raw, Mapping):
        problems.append(Problem("an interlock must be a mapping", where))
        return None
    for key in sorted(set(raw) - _INTERLOCK_KEYS):
        problems.append(Problem(f"unknown interlock key {key!r}", f"{where}/{key}", ", ".join(sorted(_INTERLOCK_KEYS))))
    prop = raw.get("property")
    if not isinstance(prop, str) or not prop:
        problems.append(Problem("an interlock needs property", f"{where}/property"))
        return None
    bounds: dict[str, float | None] = {}
    for key in ("above", "below"):
        v = raw.get(key)
        if v is not None and _number(v) is None:
            problems.append(Problem(f"{key} must be a finite number", f"{where}/{key}"))
            v = None
        bounds[key] = None if v is None else _number(v)
    age = _positive(raw, "max_age_s", where, problems)
    reason = raw.get("reason", "")
    if not isinstance(reason, str):
        problems.append(Problem("reason must be text", f"{where}/reason"))
        reason = ""
    equals = raw.get("equals", _MISSING)
    if bounds["above"] is None and bounds["below"] is None and equals is _MISSING and age is None:
        problems.append(Problem("an interlock needs above, below, equals or max_age_s", where))
        return None
    return Interlock(prop, bounds["above"], bounds["below"], equals, age, reason)
