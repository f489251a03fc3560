"""Maintenance planning: on which day should each task be done so that the expected cost is lowest?

The question an operations manager asks ("what is the cheapest maintenance window in the next 90 days?"), for a
whole site at once, because the answers depend on each other: a line stopped for one task can take another for
free, and one crew cannot do everything on the same day.

For a task done on day ``d`` (at the start of that date, midnight in the start's time zone; day 0 is the plan's
start itself) the expected cost is

* **risk** — the asset may fail first: Σ over the days k before d of P(fails on day k) × (``failure_cost`` +
  the failure's line downtime × the line's lost production per hour on day k);
* **preventive** — (1 − P(failed before d)) × ``preventive_cost`` (a failed asset is repaired, not maintained);
* **planned stop** — the line stands still for the longest task done on it that day, at that day's lost production
  per hour (``downtime_cost_per_hour``: high on production days, low at weekends, nothing on shutdown days).
  Tasks on the same line and day share one stop: this is what makes planning them together cheaper;
* **unused life** — a part replaced early throws away service it would still have given: (1 − P(failed before
  d)) × the hours before the horizon's end × ``preventive_cost / life_hours``, the cost rate of a new part's life
  (Wildeman, Dekker & Smit 1997, "A dynamic policy for grouping maintenance activities"). ``life_hours`` defaults
  to the mean life of a Weibull curve and is 0 (no such term) for curves of one asset's remaining life, whose new
  part is not described.

A task's line may stop only ``line_delay_hours`` after its asset does (a buffer between them runs dry first): the
line then stands still for ``duration_hours`` less the delay, and a failure stops it for ``failure_downtime_hours``
less the delay, never below 0 (``Task.stop_hours``, ``Task.failure_stop_hours``). A task whose stop never reaches
the line within its duration makes no stop.

Constraints: a task's window (``earliest_day``, ``latest_day``), the crew hours of each day, and a **risk limit** —
no task may be planned later than the day its P(failure before maintenance) passes ``risk_limit``. A task over the
limit before any day with crew enough for it is planned as soon as possible: on any day up to the first such day
(``overRisk``). A task may be left after the horizon
(``day`` None) when that keeps its risk within the limit and it has no ``latest_day``; it is then costed as its risk
within the horizon, its preventive cost and a stop on the cheapest day with crew enough for it (the next plan will
have such days too; risk after the horizon is the next plan's). Between days of equal cost the later one wins (a
hundredth of a cent per day, in the solver only): the asset's remaining life is used, not thrown away.

The optimum over all tasks is searched with OR-Tools CP-SAT (one boolean per task and allowed day, one boolean per
line, day and step of stop length, costs in hundredths of a cent; proven optimal, or the best found within the time
limit with its bound); ``evaluate`` prices any schedule the same way in floating point, so a plan's figures and a
baseline's can be compared line by line. Baselines: ``schedule_threshold`` (maintain when P(failure) reaches a
threshold — what a P(failure) work-order rule does) and ``schedule_independent`` (each task on its own cheapest day,
blind to the others); both then moved to the nearest day with crew left.
"""

from __future__ import annotations

import itertools
import math
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

from tvilling.core.errors import ValidationError
from tvilling.optimize.failure import FailureCurve, WeibullCurve

HOURS_PER_DAY = 24.0
MAX_COEFFICIENT = 2**50  # CP-SAT sums int64 coefficients: leave room for a few thousand terms
CENTS = 10_000  # CP-SAT works in integers: money in hundredths of a cent (ties cost one of those per day) ...
TENTHS = 10  # ... and crew hours in tenths


@dataclass(frozen=True)
class Calendar:
    """Day 0 starts at ``start``; one entry per day in each tuple."""

    start: datetime
    downtime_cost: tuple[float, ...]  # lost production per hour a line stands still
    crew_hours: tuple[float, ...]  # maintenance crew hours available

    def __post_init__(self) -> None:
        if len(self.downtime_cost) != len(self.crew_hours) or not self.downtime_cost:
            raise ValidationError("a calendar needs one lost-production figure and one crew figure per day",
                                  where="calendar")

    @property
    def days(self) -> int:
        return len(self.downtime_cost)

    def date(self, day: int) -> date:
        return (self.start + timedelta(days=day)).date()

    def hours(self, day: int) -> float:
        """Hours from the start to the start of ``day`` (midnight of its date in the start's zone; day 0: 0)."""
        if day <= 0:
            return 0.0
        midnight = datetime.combine(self.date(day), datetime.min.time(), tzinfo=self.start.tzinfo)
        return (midnight - self.start).total_seconds() / 3600.0


@dataclass(frozen=True)
class Task:
    id: str
    asset: str
    line: str | None  # the line the task stops (None: nothing stops)
    duration_hours: float
    crew_hours: float
    preventive_cost: float
    failure_cost: float  # repair and consequences of a failure, lost production excluded
    failure_downtime_hours: float
    failure: FailureCurve
    earliest_day: int = 0
    latest_day: int | None = None  # must be done by this day (inclusive)
    title: str = ""
    life_hours: float | None = None  # a new part's expected life (None: a Weibull curve's mean, else no term)
    line_delay_hours: float = 0.0  # how long after the asset stops its line does (a buffer between them runs dry)

    # The two effective downtimes, here only: every price, the solver and the baselines read these.
    @property
    def stop_hours(self) -> float:
        """How long the task stands its line still: its duration less the delay before the line stops; 0 without a
        line."""
        return max(0.0, self.duration_hours - self.line_delay_hours) if self.line is not None else 0.0

    @property
    def failure_stop_hours(self) -> float:
        """How long the asset's failure stands the line still: its downtime less the same delay; 0 without a line."""
        return max(0.0, self.failure_downtime_hours - self.line_delay_hours) if self.line is not None else 0.0

    @property
    def stopped_line(self) -> str | None:
        """The line its planned stop is booked on: None when nothing stops, or the stop would not reach the line
        before the task ends (a zero-hour stop would show the task sharing a stop it does not make)."""
        return self.line if self.stop_hours > 0 else None

    def life_rate(self) -> float:
        """What an hour of the part's service is worth: its preventive cost spread over a new part's life."""
        life = self.life_hours
        if life is None and isinstance(self.failure, WeibullCurve):
            life = self.failure.scale_hours * math.gamma(1.0 + 1.0 / self.failure.shape)
        return self.preventive_cost / life if life else 0.0


@dataclass(frozen=True)
class Problem:
    calendar: Calendar
    tasks: tuple[Task, ...]
    risk_limit: float = 1.0
    allow_defer: bool = True

    def __post_init__(self) -> None:
        ids = [t.id for t in self.tasks]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ValidationError(f"task ids must be unique: {', '.join(dup)}", where="tasks")
        if not 0.0 < self.risk_limit <= 1.0:
            raise ValidationError(f"risk_limit {self.risk_limit} is not in (0, 1]", where="risk_limit",
                                  hint="the largest P(failure before its maintenance) a plan may accept, e.g. 0.2")


Schedule = Mapping[str, "int | None"]  # task id -> day, or None: after the horizon


@dataclass(frozen=True)
class Planned:
    task: Task
    day: int | None
    p_failure_before: float
    risk_cost: float
    preventive_cost: float
    over_risk: bool  # its risk had passed the limit before its first possible day
    life_cost: float = 0.0  # the part's service thrown away by doing it before the horizon's end


@dataclass(frozen=True)
class Stop:
    line: str
    day: int
    hours: float
    cost: float
    tasks: tuple[str, ...]


@dataclass(frozen=True)
class Plan:
    problem: Problem
    planned: tuple[Planned, ...]
    stops: tuple[Stop, ...]
    deferred_stop_cost: float
    crew_use: tuple[float, ...]
    violations: tuple[str, ...] = ()
    method: str = "evaluate"
    status: str = "evaluated"
    solve_seconds: float = 0.0
    bound: float | None = None

    @property
    def risk_cost(self) -> float:
        return sum(p.risk_cost for p in self.planned)

    @property
    def preventive_cost(self) -> float:
        return sum(p.preventive_cost for p in self.planned)

    @property
    def life_cost(self) -> float:
        return sum(p.life_cost for p in self.planned)

    @property
    def stop_cost(self) -> float:
        return sum(s.cost for s in self.stops) + self.deferred_stop_cost

    @property
    def total(self) -> float:
        return self.risk_cost + self.preventive_cost + self.stop_cost + self.life_cost

    def schedule(self) -> dict[str, int | None]:
        return {p.task.id: p.day for p in self.planned}

    def as_dict(self, windows: Mapping[str, list[dict[str, Any]]] | None = None) -> dict[str, Any]:
        cal = self.problem.calendar
        stop_of = {(s.line, s.day): s for s in self.stops}
        tasks = []
        for p in sorted(self.planned, key=lambda p: (p.day if p.day is not None else math.inf, p.task.id)):
            t = p.task
            line = t.stopped_line  # a task whose stop never reaches its line shares no stop
            shared = stop_of.get((line, p.day)) if line is not None and p.day is not None else None
            row: dict[str, Any] = {
                "task": t.id, "asset": t.asset, "title": t.title, "line": t.line,
                "day": p.day, "date": cal.date(p.day).isoformat() if p.day is not None else None,
                "pFailureBefore": round(p.p_failure_before, 4), "overRisk": p.over_risk,
                "riskCost": round(p.risk_cost, 2), "preventiveCost": round(p.preventive_cost, 2),
                "unusedLifeCost": round(p.life_cost, 2),
                "durationHours": t.duration_hours, "crewHours": t.crew_hours, "lineDelayHours": t.line_delay_hours,
                "sharedStopWith": [i for i in shared.tasks if i != t.id] if shared is not None else []}
            if windows is not None:
                row["windows"] = windows.get(t.id, [])
            tasks.append(row)
        return {
            "start": cal.start.isoformat(), "days": cal.days, "riskLimit": self.problem.risk_limit,
            "method": self.method, "status": self.status, "solveSeconds": round(self.solve_seconds, 3),
            "expectedCost": {"total": round(self.total, 2), "risk": round(self.risk_cost, 2),
                             "preventive": round(self.preventive_cost, 2), "plannedStops": round(self.stop_cost, 2),
                             "unusedLife": round(self.life_cost, 2)},
            "bound": None if self.bound is None else round(self.bound, 2),
            "tasks": tasks,
            "stops": [{"line": s.line, "day": s.day, "date": cal.date(s.day).isoformat(), "hours": round(s.hours, 4),
                       "cost": round(s.cost, 2), "tasks": list(s.tasks)} for s in self.stops],
            "crew": [{"day": d, "date": cal.date(d).isoformat(), "used": round(u, 2),
                      "available": cal.crew_hours[d]} for d, u in enumerate(self.crew_use) if u > 0],
            "calendar": [{"day": d, "date": cal.date(d).isoformat(), "lostPerHour": cal.downtime_cost[d],
                          "crewHours": cal.crew_hours[d]} for d in range(cal.days)],
            "violations": list(self.violations)}


# -- pricing ------------------------------------------------------------------------------------------------------
@dataclass
class _Prices:
    """Per task: P(failed before day d) and the risk and preventive cost of doing it on day d (d = days: after)."""

    problem: Problem
    failed_before: dict[str, list[float]] = field(default_factory=dict)
    cost: dict[str, list[float]] = field(default_factory=dict)  # risk + preventive + unused life
    life: dict[str, list[float]] = field(default_factory=dict)
    allowed: dict[str, list[int]] = field(default_factory=dict)
    deferrable: dict[str, bool] = field(default_factory=dict)
    over_risk: dict[str, bool] = field(default_factory=dict)

    def __post_init__(self) -> None:
        cal, limit = self.problem.calendar, self.problem.risk_limit
        horizon = cal.days
        for t in self.problem.tasks:
            hours = [cal.hours(d) for d in range(horizon + 1)]
            # max-accumulated: a guard against a curve that is not monotone
            f = list(itertools.accumulate((min(1.0, max(0.0, t.failure.cdf(h))) for h in hours), max))
            rate = t.life_rate()
            # a part that failed before its day is replaced anyway: only a surviving one's life is thrown away
            life = [rate * (hours[horizon] - hours[d]) * (1.0 - f[d]) for d in range(horizon)] + [0.0]
            risk, cost = 0.0, []
            for d in range(horizon + 1):
                cost.append(risk + (1.0 - f[d]) * t.preventive_cost + life[d])
                if d < horizon:
                    risk += (f[d + 1] - f[d]) * (t.failure_cost + t.failure_stop_hours * cal.downtime_cost[d])
            self.failed_before[t.id], self.cost[t.id], self.life[t.id] = f, cost, life
            last = horizon - 1 if t.latest_day is None else min(t.latest_day, horizon - 1)
            window = list(range(max(0, t.earliest_day), last + 1))
            within = [d for d in window if f[d] <= limit + 1e-12]
            if window and not any(cal.crew_hours[d] >= t.crew_hours for d in within):
                # Over the limit before a day with crew enough for it: as soon as possible, i.e. any day up to
                # the first one with crew enough (the risk prefers the earliest), flagged overRisk.
                fits = next((i for i, d in enumerate(window) if cal.crew_hours[d] >= t.crew_hours), 0)
                within = window[: fits + 1]
                self.over_risk[t.id] = True
            else:
                self.over_risk[t.id] = False
            self.allowed[t.id] = within
            self.deferrable[t.id] = (self.problem.allow_defer and t.latest_day is None
                                     and f[horizon] <= limit + 1e-12)

    def later_stop_cost(self, task: Task) -> float:
        """What a deferred task's stop is costed at: its stop on the cheapest day with crew enough for it."""
        if task.stopped_line is None:
            return 0.0
        cal = self.problem.calendar
        fits = [c for c, crew in zip(cal.downtime_cost, cal.crew_hours, strict=True) if crew >= task.crew_hours]
        return task.stop_hours * min(fits or cal.downtime_cost)


def _check(problem: Problem, prices: _Prices) -> None:
    from tvilling.core.errors import Problem as Issue
    issues: list[Issue] = []
    cal = problem.calendar
    for t in problem.tasks:
        where = f"tasks[{t.id}]"
        if not prices.allowed[t.id] and not prices.deferrable[t.id]:
            issues.append(Issue(f"task {t.id} has no day it may be planned on (window {t.earliest_day}.."
                                f"{t.latest_day}, horizon {cal.days} days)", where=where,
                                hint="widen earliest_day/latest_day or the horizon"))
        most = max((cal.crew_hours[d] for d in prices.allowed[t.id]), default=math.inf)
        if t.crew_hours > most:
            issues.append(Issue(f"task {t.id} needs {t.crew_hours} crew hours, more than any of its days has",
                                where=where, hint="split the task or add crew hours to the calendar"))
        if min(t.duration_hours, t.crew_hours, t.preventive_cost, t.failure_cost, t.failure_downtime_hours,
               t.line_delay_hours) < 0:
            issues.append(Issue(f"task {t.id} has a negative duration, crew, delay or cost", where=where))
        if t.duration_hours > HOURS_PER_DAY:
            issues.append(Issue(f"task {t.id} lasts {t.duration_hours} h, longer than a day", where=where,
                                hint="plan a longer job as several tasks, or give its stop per day"))
    if issues:
        raise ValidationError(f"{len(issues)} problem(s) with the planning problem: {issues[0].message}",
                              where=issues[0].where,
                              hint=issues[0].hint, problems=issues)


def evaluate(problem: Problem, schedule: Schedule, *, method: str = "evaluate", status: str = "evaluated",
             solve_seconds: float = 0.0, bound: float | None = None, prices: _Prices | None = None) -> Plan:
    """Price a schedule (every task of the problem must be in it) and list what it breaks."""
    prices = prices or _Prices(problem)
    cal = problem.calendar
    planned, violations = [], []
    by_stop: dict[tuple[str, int], list[Task]] = defaultdict(list)
    crew = [0.0] * cal.days
    deferred_stop = 0.0
    for t in problem.tasks:
        if t.id not in schedule:
            raise ValidationError(f"the schedule has no day for task {t.id}", where=t.id)
        day = schedule[t.id]
        f, cost = prices.failed_before[t.id], prices.cost[t.id]
        if day is None:
            if not prices.deferrable[t.id]:
                violations.append(f"{t.id}: left after the horizon, which its window or the risk limit forbids")
            deferred_stop += prices.later_stop_cost(t)
            planned.append(Planned(t, None, f[-1], cost[-1] - (1.0 - f[-1]) * t.preventive_cost,
                                   (1.0 - f[-1]) * t.preventive_cost, prices.over_risk[t.id]))  # life: 0
            continue
        if day not in prices.allowed[t.id]:
            violations.append(f"{t.id}: day {day} is outside its window or past the risk limit")
        crew[day] += t.crew_hours
        if t.stopped_line is not None:
            by_stop[(t.stopped_line, day)].append(t)
        life = prices.life[t.id][day]
        planned.append(Planned(t, day, f[day], cost[day] - (1.0 - f[day]) * t.preventive_cost - life,
                               (1.0 - f[day]) * t.preventive_cost, prices.over_risk[t.id], life))
    for d, used in enumerate(crew):
        if used > cal.crew_hours[d] + 1e-9:
            violations.append(f"day {d}: {used:g} crew hours planned, {cal.crew_hours[d]:g} available")
    stops = tuple(Stop(line, day, max(t.stop_hours for t in ts),
                       max(t.stop_hours for t in ts) * cal.downtime_cost[day], tuple(sorted(t.id for t in ts)))
                  for (line, day), ts in sorted(by_stop.items()))
    return Plan(problem, tuple(planned), stops, deferred_stop, tuple(crew), tuple(violations), method, status,
                solve_seconds, bound)


# -- the optimum --------------------------------------------------------------------------------------------------
def solve(problem: Problem, *, time_limit_s: float = 10.0, workers: int = 1) -> Plan:
    """The schedule of least expected cost (CP-SAT; ``status`` "optimal", or "feasible" when the time limit cut the
    proof short — ``bound`` is then the best lower bound). One worker by default: the same problem gives the same
    plan every time. Raises ValidationError when no schedule meets the constraints."""
    from ortools.sat.python import cp_model  # imported here: the heaviest import of the engines

    began = time.perf_counter()
    prices = _Prices(problem)
    _check(problem, prices)
    cal = problem.calendar
    model = cp_model.CpModel()
    objective: list[Any] = []
    pick: dict[tuple[str, int | None], Any] = {}
    on_day: dict[int, list[tuple[Task, Any]]] = defaultdict(list)
    largest = 0  # the largest objective term: checked against int64 overflow before solving
    for t in problem.tasks:
        options: list[Any] = []
        for d in prices.allowed[t.id]:
            v = model.new_bool_var(f"x[{t.id},{d}]")
            pick[(t.id, d)] = v
            options.append(v)
            on_day[d].append((t, v))
            coefficient = round(prices.cost[t.id][d] * CENTS) + cal.days - d  # ties: the later day
            largest = max(largest, abs(coefficient))
            objective.append(coefficient * v)
        if prices.deferrable[t.id]:
            v = model.new_bool_var(f"defer[{t.id}]")
            pick[(t.id, None)] = v
            options.append(v)
            later = prices.cost[t.id][-1] + prices.later_stop_cost(t)
            largest = max(largest, abs(round(later * CENTS)))
            objective.append(round(later * CENTS) * v)
        model.add_exactly_one(options)
    for d, entries in on_day.items():
        # rounded against the plan (tasks up, the day's crew down), so a plan never needs more than the day has
        model.add(sum(math.ceil(t.crew_hours * TENTHS - 1e-9) * v for t, v in entries)
                  <= math.floor(cal.crew_hours[d] * TENTHS + 1e-9))
        lines: dict[str, list[tuple[Task, Any]]] = defaultdict(list)
        for t, v in entries:
            if t.stopped_line is not None and cal.downtime_cost[d] > 0:
                lines[t.stopped_line].append((t, v))
        for line, members in lines.items():
            # The stop lasts as long as its longest task: one boolean per step of length ("the line stands still
            # for at least h") instead of one integer above every task's duration — the same optimum, but a much
            # tighter linear relaxation (a task half on a day no longer half-pays a stop others make anyway).
            # Lengths in hours as evaluate prices them, not rounded to tenths: a stop shortened by a 20-minute
            # buffer (3.67 h) would otherwise be priced 3.7 h by the solver and 3.67 h in the plan.
            lengths = sorted({_length(t) for t, _ in members})
            steps = [model.new_bool_var(f"stop[{line},{d}]>={h:g}h") for h in lengths]
            for longer, shorter in zip(steps[1:], steps, strict=False):
                model.add_implication(longer, shorter)
            for t, v in members:
                model.add_implication(v, steps[lengths.index(_length(t))])
            per_hour = cal.downtime_cost[d] * CENTS
            largest = max(largest, round(per_hour * lengths[-1]))
            objective.extend(round(per_hour * (h - below)) * z for h, below, z in zip(lengths, [0.0, *lengths],
                                                                                      steps, strict=False))
    model.minimize(sum(objective))
    if largest > MAX_COEFFICIENT:
        raise ValidationError("costs this large cannot be planned exactly (integer overflow in the solver)",
                              where="tasks", hint="give costs and lost production in thousands")
    for tid, day in schedule_independent(problem, prices=prices).items():  # a good start, never a constraint
        if (tid, day) in pick:
            model.add_hint(pick[(tid, day)], 1)
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = time_limit_s
    solver.parameters.num_workers = max(1, workers)
    solver.parameters.random_seed = 0
    # The LP relaxation at every node, with cuts: measured on 10-100-task sites (docs/benchmarks.md), it proves
    # 10-task plans optimal in 0.1-0.2 s instead of up to 13 s, and finds cheaper plans for larger ones.
    solver.parameters.linearization_level = 2
    code = solver.solve(model)
    if code not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        reason = ("no schedule fits the crew hours and windows" if code == cp_model.INFEASIBLE
                  else f"the solver found no schedule within {time_limit_s:g} s")
        raise ValidationError(reason, where="tasks",
                              hint="add crew hours, widen task windows or the horizon, or raise the time limit")
    schedule = {tid: day for (tid, day), v in pick.items() if solver.boolean_value(v)}
    plan = evaluate(problem, schedule, method="cp-sat", prices=prices,
                    status="optimal" if code == cp_model.OPTIMAL else "feasible",
                    solve_seconds=time.perf_counter() - began,
                    # the ties' hundredths of a cent taken out at their most: a lower bound of the real cost
                    bound=(solver.best_objective_bound - cal.days * len(problem.tasks)) / CENTS)
    return replace(plan, bound=plan.total) if code == cp_model.OPTIMAL else plan


def line_text(row: Mapping[str, Any], none: str = "-") -> str:
    """A plan row's line as people read it: ``line-1``, ``line-1 after 20 min`` when a buffer delays its stop, or
    ``none`` (the CLI's table and the dashboard's share it)."""
    if not row.get("line"):
        return none
    delay = float(row.get("lineDelayHours") or 0.0)
    return str(row["line"]) + (f" after {delay * 60:.0f} min" if delay > 0 else "")


def _length(task: Task) -> float:
    """A stop's length as the solver's steps know it: to a few milliseconds, so float noise makes no extra step."""
    return round(task.stop_hours, 6)


# -- baselines ----------------------------------------------------------------------------------------------------
def schedule_independent(problem: Problem, *, prices: _Prices | None = None) -> dict[str, int | None]:
    """Each task on its own cheapest allowed day (its risk, preventive cost and its own stop), blind to the others;
    then moved to the nearest day with crew left."""
    prices = prices or _Prices(problem)
    cal = problem.calendar
    wish: dict[str, int | None] = {}
    for t in problem.tasks:
        own = t.stop_hours
        costs = {d: prices.cost[t.id][d] + own * cal.downtime_cost[d] for d in prices.allowed[t.id]}
        best = min(costs, key=lambda d: (costs[d], d)) if costs else None
        if prices.deferrable[t.id]:
            later = prices.cost[t.id][-1] + prices.later_stop_cost(t)
            if best is None or later < prices.cost[t.id][best] + own * cal.downtime_cost[best]:
                best = None
        wish[t.id] = best
    return _fit_crew(problem, prices, wish)


def schedule_threshold(problem: Problem, threshold: float, *, prices: _Prices | None = None) -> dict[str, int | None]:
    """Each task on the last allowed day before its P(failure) reaches ``threshold`` (after the horizon when it
    never does and it may wait); then moved to the nearest day with crew left."""
    prices = prices or _Prices(problem)
    wish: dict[str, int | None] = {}
    for t in problem.tasks:
        f = prices.failed_before[t.id]
        ok = [d for d in prices.allowed[t.id] if f[d] < threshold]
        if prices.deferrable[t.id] and f[-1] < threshold:
            wish[t.id] = None
        else:
            wish[t.id] = max(ok) if ok else min(prices.allowed[t.id], default=None)
    return _fit_crew(problem, prices, wish)


def _fit_crew(problem: Problem, prices: _Prices, wish: Mapping[str, int | None]) -> dict[str, int | None]:
    cal = problem.calendar
    left = list(cal.crew_hours)
    out: dict[str, int | None] = {}
    # Tasks with the fewest days to choose from first, so a flexible task does not take the only crew a tight one
    # had; then by the day wished.
    order = sorted(problem.tasks, key=lambda t: (len(prices.allowed[t.id]),
                                                 wish[t.id] if wish[t.id] is not None else math.inf, t.id))
    for t in order:
        want = wish[t.id]
        if want is None:
            out[t.id] = None
            continue
        near = sorted(prices.allowed[t.id], key=lambda d: (abs(d - want), d > want))  # earlier first on ties
        day = next((d for d in near if left[d] + 1e-9 >= t.crew_hours), None)
        if day is None and not prices.deferrable[t.id]:
            day = want  # nothing fits: keep the wish, the evaluation reports the overload
        if day is not None:
            left[day] -= t.crew_hours
        out[t.id] = day
    return out


# -- what else would do? ------------------------------------------------------------------------------------------
def windows(plan: Plan, n: int = 3) -> dict[str, list[dict[str, Any]]]:
    """Per task, the ``n`` cheapest days for it with every other task where the plan put it (crew permitting):
    the day, the plan's total expected cost with the task moved there, and the difference to the plan."""
    problem = plan.problem
    prices = _Prices(problem)
    cal = problem.calendar
    schedule = plan.schedule()
    crew = list(plan.crew_use)
    durations: dict[tuple[str, int], list[float]] = defaultdict(list)
    for t in problem.tasks:
        d = schedule[t.id]
        if t.stopped_line is not None and d is not None:
            durations[(t.stopped_line, d)].append(t.stop_hours)

    def stop(line: str, day: int, hours: Sequence[float]) -> float:
        return (max(hours) if hours else 0.0) * cal.downtime_cost[day]

    out: dict[str, list[dict[str, Any]]] = {}
    for t in problem.tasks:
        d0 = schedule[t.id]
        base = prices.cost[t.id][d0] if d0 is not None else prices.cost[t.id][-1]
        freed = 0.0
        line = t.stopped_line
        if line is not None and d0 is not None:
            rest = list(durations[(line, d0)])
            rest.remove(t.stop_hours)
            freed = stop(line, d0, durations[(line, d0)]) - stop(line, d0, rest)
        elif line is not None:
            freed = prices.later_stop_cost(t)
        options = []
        for d in prices.allowed[t.id]:
            if d == d0 or crew[d] + t.crew_hours > cal.crew_hours[d] + 1e-9:
                continue
            added = 0.0
            if line is not None:
                here = durations[(line, d)]
                added = stop(line, d, [*here, t.stop_hours]) - stop(line, d, here)
            delta = prices.cost[t.id][d] - base + added - freed
            options.append((delta, d))
        options.sort()
        out[t.id] = [{"day": d, "date": cal.date(d).isoformat(), "expectedCost": round(plan.total + delta, 2),
                      "extra": round(delta, 2), "pFailureBefore": round(prices.failed_before[t.id][d], 4)}
                     for delta, d in options[:n]]
    return out
