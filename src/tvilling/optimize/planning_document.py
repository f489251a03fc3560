"""A maintenance-planning problem as data — the form files, the API and the SDK share::

    version: 1
    start: "2026-12-01T06:00:00Z"    # optional: day 0 starts here (default: now, or the live data's time)
    horizon_days: 90
    risk_limit: 0.2                  # largest P(failure before its maintenance) a plan may accept
    calendar:
      downtime_cost_per_hour: {default: 2400, saturday: 900, sunday: 0}   # lost production while a line stops
      crew_hours_per_day: {default: 16, saturday: 8, sunday: 0}
      shutdowns: ["2026-12-24", "2026-12-25"]                              # no production: a stop costs nothing
    tasks:
      - id: pump-1-bearing
        asset: pump-1-bearing         # the twin
        title: Replace the pump's drive-end bearing
        line: line-1                  # the line it stops (omit: nothing stops)
        line_delay_hours: 0.33        # the line stops this long after the asset (a buffer; optional, default 0)
        duration_hours: 4
        crew_hours: 8
        preventive_cost: 1800
        failure_cost: 12000           # repair and consequences, lost production excluded
        failure_downtime_hours: 36
        failure: {rul_hours: {lower: 400, upper: 1400, level: 0.8}}
        earliest_day: 2               # parts arrive (optional)
        latest_day: 60                # must be done by (optional)
        life_hours: 30000             # a new part's expected life (optional; default: a Weibull curve's mean)

A per-day figure is one number or a map of ``default``, weekday names (``monday`` … ``sunday``) and ISO dates.
``failure``: see :mod:`tvilling.optimize.failure`. Every problem in the document is reported at once.

``line: impact`` (``LINE_FROM_IMPACT``) asks the site's live plan to find the line and the delay in impact.yaml
(:mod:`tvilling.app.planning_lines`); it is resolved there, before the document reaches this parser, which refuses
it unresolved rather than plan a line called "impact".
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from tvilling.core.errors import Problem as Issue
from tvilling.core.errors import ValidationError
from tvilling.optimize.failure import FailureCurve, curve_from_dict
from tvilling.optimize.maintenance import Calendar, Problem, Task

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
TOP_KEYS = {"version", "start", "horizon_days", "risk_limit", "allow_defer", "calendar", "tasks"}
CALENDAR_KEYS = {"downtime_cost_per_hour", "crew_hours_per_day", "shutdowns"}
TASK_KEYS = {"id", "asset", "title", "line", "duration_hours", "crew_hours", "preventive_cost", "failure_cost",
             "failure_downtime_hours", "failure", "earliest_day", "latest_day", "life_hours", "line_delay_hours"}
TASK_NUMBERS = ("duration_hours", "crew_hours", "preventive_cost", "failure_cost", "failure_downtime_hours",
                "line_delay_hours")
LINE_FROM_IMPACT = "impact"  # line: impact - the line and its delay come from impact.yaml (the app layer's)
MAX_DAYS = 730
MAX_TASKS = 2000


def parse_time(value: Any, where: str) -> datetime:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    else:
        try:
            moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            raise ValidationError(f"{value!r} is not an ISO 8601 time", where=where,
                                  hint='e.g. "2026-12-01T06:00:00Z"') from None
    if not 1970 <= moment.year <= 2200:
        raise ValidationError(f"{value!r} is not a plausible planning time", where=where,
                              hint="a time between 1970 and 2200")
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class _Reader:
    def __init__(self) -> None:
        self.issues: list[Issue] = []

    def fail(self, message: str, where: str, hint: str = "") -> None:
        self.issues.append(Issue(message, where=where, hint=hint))

    def number(self, raw: Any, where: str, *, low: float = 0.0, high: float = 1e9,
               default: float | None = None) -> float:
        if raw is None and default is not None:
            return default
        try:
            value = float(raw) if not isinstance(raw, bool) else math.nan
        except (TypeError, ValueError, OverflowError):
            self.fail(f"{str(raw)[:40]!r} is not a number", where)
            return default or 0.0
        if not math.isfinite(value) or not low <= value <= high:
            self.fail(f"{str(raw)[:40]} must be a number from {low:g} to {high:g}", where)
            return default or 0.0
        return value

    def day(self, raw: Any, where: str, low: int = 0) -> int:
        value = self.number(raw, where, low=low, high=MAX_DAYS)
        if value != int(value):
            self.fail(f"{raw!r} is not a whole day number", where, "days count from 0, the plan's first day")
        return int(value)

    def unknown(self, given: Mapping[str, Any], known: set[str], where: str) -> None:
        for key in sorted(map(str, given)):
            if key in known:
                continue
            self.fail(f"unknown key {key!r}", f"{where}.{key}" if where else key, "known: " + ", ".join(sorted(known)))

    def per_day(self, raw: Any, where: str, start: datetime, days: int, default: float,
                high: float = 1e9) -> list[float]:
        if raw is None:
            return [default] * days
        if not isinstance(raw, Mapping):
            return [self.number(raw, where, high=high)] * days
        base = self.number(raw.get("default", default), f"{where}.default", high=high)
        by_weekday: dict[int, float] = {}
        by_date: dict[date, float] = {}
        for key, value in raw.items():
            k = str(key).lower()
            if k == "default":
                continue
            if k in WEEKDAYS:
                by_weekday[WEEKDAYS.index(k)] = self.number(value, f"{where}.{key}", high=high)
                continue
            try:
                day = key if isinstance(key, date) else date.fromisoformat(str(key))
                by_date[day if not isinstance(day, datetime) else day.date()] = self.number(
                    value, f"{where}.{key}", high=high)
            except ValueError:
                self.fail(f"{key!r} is neither default, a weekday nor an ISO date", f"{where}.{key}",
                          "e.g. saturday: 900 or \"2026-12-24\": 0")
        out = []
        for d in range(days):
            day = (start + timedelta(days=d)).date()
            out.append(by_date.get(day, by_weekday.get(day.weekday(), base)))
        return out


def problem_from_dict(doc: Any, *, start: datetime | None = None,
                      failures: Mapping[str, FailureCurve] | None = None) -> Problem:
    """The planning problem a document describes. ``start`` is used when the document gives none; ``failures``
    supplies the curve of tasks without a ``failure`` (the live RUL estimates, by task id)."""
    r = _Reader()
    if not isinstance(doc, Mapping):
        raise ValidationError("a planning document is a mapping", hint="see docs/maintenance-planning.md")
    r.unknown(doc, TOP_KEYS, "")
    if doc.get("version", 1) != 1:
        r.fail(f"version {doc.get('version')!r} is not supported", "version", "use version: 1")
    begin = parse_time(doc["start"], "start") if doc.get("start") is not None else (start or datetime.now(UTC))
    days = max(1, r.day(doc.get("horizon_days", 90), "horizon_days", low=1))
    cal_doc = doc.get("calendar") or {}
    if not isinstance(cal_doc, Mapping):
        r.fail("calendar must be a mapping", "calendar")
        cal_doc = {}
    r.unknown(cal_doc, CALENDAR_KEYS, "calendar")
    lost = r.per_day(cal_doc.get("downtime_cost_per_hour"), "calendar.downtime_cost_per_hour", begin, days, 0.0)
    crew = r.per_day(cal_doc.get("crew_hours_per_day"), "calendar.crew_hours_per_day", begin, days, 24.0,
                     high=1e5)
    shutdowns = cal_doc.get("shutdowns") or []
    if not isinstance(shutdowns, list):
        r.fail("shutdowns must be a list of ISO dates", "calendar.shutdowns")
        shutdowns = []
    first = begin.date()
    for i, raw in enumerate(shutdowns):
        try:
            when = raw if isinstance(raw, date) else date.fromisoformat(str(raw))
            day = (when.date() if isinstance(when, datetime) else when) - first
        except ValueError:
            r.fail(f"{raw!r} is not an ISO date", f"calendar.shutdowns[{i}]", 'e.g. "2026-12-24"')
            continue
        if 0 <= day.days < days:
            lost[day.days] = 0.0
    tasks_doc = doc.get("tasks")
    if not isinstance(tasks_doc, list) or not tasks_doc:
        r.fail("tasks must be a non-empty list", "tasks", "one entry per maintenance task")
        tasks_doc = []
    if len(tasks_doc) > MAX_TASKS:
        r.fail(f"{len(tasks_doc)} tasks are over {MAX_TASKS}", "tasks")
        tasks_doc = tasks_doc[:MAX_TASKS]
    tasks = [t for t in (_task(r, i, raw, failures or {}) for i, raw in enumerate(tasks_doc)) if t is not None]
    risk = r.number(doc.get("risk_limit", 1.0), "risk_limit", low=0.0, high=1.0)
    if not isinstance(doc.get("allow_defer", True), bool):
        r.fail("allow_defer must be true or false", "allow_defer")
    if r.issues:
        first_issue = r.issues[0]
        raise ValidationError(f"{len(r.issues)} problem(s) in the planning document: {first_issue.message}",
                              where=first_issue.where, hint=first_issue.hint, problems=r.issues)
    return Problem(Calendar(begin, tuple(lost), tuple(crew)), tuple(tasks), risk_limit=risk,
                   allow_defer=bool(doc.get("allow_defer", True)))


def _task(r: _Reader, i: int, raw: Any, failures: Mapping[str, FailureCurve]) -> Task | None:
    where = f"tasks[{i}]"
    if not isinstance(raw, Mapping):
        r.fail("a task is a mapping", where)
        return None
    r.unknown(raw, TASK_KEYS, where)
    tid = str(raw.get("id") or raw.get("asset") or "")
    if not tid:
        r.fail("a task needs an id (or an asset)", where)
        return None
    nums = {k: r.number(raw.get(k), f"{where}.{k}", default=0.0, high=1e9 if k.endswith("cost") else 1e5)
            for k in TASK_NUMBERS}
    if raw.get("duration_hours") is None:
        r.fail("duration_hours is required", f"{where}.duration_hours", "how long the task stops its line, hours")
    curve: FailureCurve | None = failures.get(tid)
    if raw.get("failure") is not None:
        try:
            curve = curve_from_dict(raw["failure"], f"{where}.failure")
        except ValidationError as exc:
            r.fail(exc.message, exc.where, exc.hint)
            return None
    if curve is None:
        r.fail(f"task {tid} has no failure curve", f"{where}.failure",
               "give failure: {rul_hours: …}, {weibull: …}, {quantiles_hours: …} or {none: true}")
        return None
    window = {}
    for k in ("earliest_day", "latest_day"):
        if raw.get(k) is not None:
            window[k] = r.day(raw[k], f"{where}.{k}")
    life = None
    if raw.get("life_hours") is not None:
        life = r.number(raw["life_hours"], f"{where}.life_hours", low=1e-3) or None
    line = raw.get("line")
    if line == LINE_FROM_IMPACT:
        r.fail("line: impact is resolved from impact.yaml by the site's live plan only", f"{where}.line",
               "name the line (line: <twin>) and, if a buffer delays its stop, line_delay_hours")
    return Task(tid, str(raw.get("asset") or tid), None if line is None else str(line), failure=curve,
                title=str(raw.get("title") or ""), earliest_day=window.get("earliest_day", 0),
                latest_day=window.get("latest_day"), life_hours=life, **nums)
