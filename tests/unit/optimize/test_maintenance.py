"""The maintenance planner: CP-SAT's plan is the cheapest schedule there is, priced the way ``evaluate`` prices
any schedule, within crew, windows and the risk limit."""

from __future__ import annotations

import itertools
import math
from datetime import UTC, datetime

import numpy as np
import pytest

from tvilling.core.errors import ValidationError
from tvilling.optimize.failure import LogNormalCurve, NoFailure, WeibullCurve
from tvilling.optimize.maintenance import (
    Calendar,
    Problem,
    Task,
    evaluate,
    schedule_independent,
    schedule_threshold,
    solve,
    windows,
)

MONDAY = datetime(2026, 11, 30, 6, tzinfo=UTC)


def calendar(days: int, lost: float | list[float] = 1000.0, crew: float | list[float] = 16.0) -> Calendar:
    as_list = (lambda v: list(v) if isinstance(v, list) else [float(v)] * days)  # noqa: E731
    return Calendar(MONDAY, tuple(as_list(lost)), tuple(as_list(crew)))


def task(tid: str, line: str | None = "L1", *, duration: float = 4.0, crew: float = 8.0, prev: float = 1000.0,
         fail: float = 10_000.0, down: float = 24.0, curve: object = None, **window: int) -> Task:
    return Task(tid, tid, line, duration, crew, prev, fail, down,
                curve or LogNormalCurve(48.0, 240.0, 0.8), **window)  # type: ignore[arg-type]


def random_problem(rng: np.random.Generator, n_tasks: int, days: int) -> Problem:
    cal = calendar(days, [float(x) for x in rng.choice([0.0, 300.0, 2000.0], size=days)],
                   [float(x) for x in rng.choice([0.0, 8.0, 16.0], size=days, p=[0.2, 0.4, 0.4])])
    tasks = []
    for i in range(n_tasks):
        lower = float(rng.uniform(5, 100))
        tasks.append(task(f"t{i}", str(rng.choice(["L1", "L2", "none"])), duration=float(rng.integers(1, 9)),
                          crew=float(rng.choice([4.0, 8.0])), prev=float(rng.uniform(200, 3000)),
                          fail=float(rng.uniform(2000, 30_000)), down=float(rng.uniform(0, 48)),
                          curve=LogNormalCurve(lower, lower * float(rng.uniform(1.5, 6)), 0.8)))
        if tasks[-1].line == "none":
            tasks[-1] = Task(**{**tasks[-1].__dict__, "line": None})
    return Problem(cal, tuple(tasks), risk_limit=float(rng.choice([0.3, 1.0])))


def brute_force(problem: Problem) -> float:
    """The least total over every schedule without violations (tiny problems only)."""
    days = problem.calendar.days
    best = float("inf")
    choices: list[list[int | None]] = [[*range(days), None] for _ in problem.tasks]
    for combo in itertools.product(*choices):
        plan = evaluate(problem, {t.id: d for t, d in zip(problem.tasks, combo, strict=True)})
        if not plan.violations:
            best = min(best, plan.total)
    return best


@pytest.mark.parametrize("seed", range(12))
def test_cp_sat_finds_the_cheapest_schedule(seed: int) -> None:
    rng = np.random.default_rng(seed)
    problem = random_problem(rng, n_tasks=3, days=6)
    try:
        plan = solve(problem)
    except ValidationError:  # the solver says nothing fits: so must the search
        assert brute_force(problem) == float("inf")
        return
    assert plan.status == "optimal"
    assert not plan.violations
    # Costs are rounded to cents for the solver, so its optimum may differ from the float optimum by rounding.
    assert plan.total == pytest.approx(brute_force(problem), abs=0.05 * len(problem.tasks) * 3)
    assert plan.bound == pytest.approx(plan.total, abs=0.5)


def test_tasks_on_one_line_share_a_stop() -> None:
    # Each alone would go on day 0 or 1; together one 4-hour stop instead of 4 + 3 hours of lost production.
    cal = calendar(3, [5000.0, 5000.0, 5000.0])
    problem = Problem(cal, (task("a", duration=4.0, curve=NoFailure()), task("b", duration=3.0, curve=NoFailure())))
    plan = solve(problem)
    assert plan.schedule()["a"] == plan.schedule()["b"]
    assert [s.hours for s in plan.stops] == [4.0]
    assert plan.stop_cost == pytest.approx(4.0 * 5000.0)
    apart = evaluate(problem, {"a": 0, "b": 1})
    assert apart.stop_cost == pytest.approx(7.0 * 5000.0)


def test_crew_hours_are_respected() -> None:
    # Three 8-hour jobs, one cheap day with 16 crew hours: only two fit there.
    cal = calendar(3, [0.0, 3000.0, 3000.0], [16.0, 16.0, 16.0])
    tasks = tuple(task(t, curve=NoFailure()) for t in "abc")
    plan = solve(Problem(cal, tasks, allow_defer=False))
    # Two on the free day would do; the solver found that one free day plus the other two sharing one paid stop
    # costs the same, and took the later days (ties go later).
    assert sorted(d for d in plan.schedule().values()) == [0, 2, 2]
    assert plan.crew_use == (8.0, 0.0, 16.0) and plan.stop_cost == pytest.approx(4.0 * 3000.0)
    assert not plan.violations
    greedy = evaluate(Problem(cal, tasks, allow_defer=False), {t.id: 0 for t in tasks})
    assert greedy.violations == ("day 0: 24 crew hours planned, 16 available",)


def test_risk_limit_caps_the_day_and_overdue_tasks_go_first() -> None:
    cal = calendar(30, 0.0)
    curve = LogNormalCurve(24.0 * 5, 24.0 * 15, 0.8)  # 10 % by day 5, 90 % by day 15
    cheap_failure = task("a", fail=0.0, down=0.0, prev=1000.0, curve=curve)  # waiting is free: it would wait
    plan = solve(Problem(cal, (cheap_failure,), risk_limit=0.1, allow_defer=False))
    day = plan.schedule()["a"]
    assert day is not None and curve.cdf(24.0 * day) <= 0.1 + 1e-9 < curve.cdf(24.0 * (day + 1))
    # Already past the limit on its first possible day: planned then, and flagged.
    late = task("b", curve=curve, earliest_day=20)
    planned = solve(Problem(cal, (late,), risk_limit=0.1)).planned[0]
    assert (planned.day, planned.over_risk) == (20, True)


def test_a_task_may_wait_past_the_horizon_only_within_the_limit() -> None:
    cal = calendar(10, 2000.0)
    far = task("far", curve=LogNormalCurve(24.0 * 200, 24.0 * 400, 0.8))
    assert solve(Problem(cal, (far,), risk_limit=0.2)).schedule() == {"far": None}
    assert solve(Problem(cal, (far,), risk_limit=0.2, allow_defer=False)).schedule()["far"] is not None
    due = task("due", curve=LogNormalCurve(24.0 * 200, 24.0 * 400, 0.8), latest_day=8)
    assert solve(Problem(cal, (due,), risk_limit=0.2)).schedule()["due"] is not None


def test_impossible_problems_are_refused_with_the_reason() -> None:
    cal = calendar(5, 100.0, 4.0)
    with pytest.raises(ValidationError) as info:
        solve(Problem(cal, (task("big", crew=8.0, curve=NoFailure()),)))
    assert "crew hours" in info.value.message
    assert info.value.problems and info.value.problems[0].where == "tasks[big]"
    tight = Problem(calendar(2, 100.0, 8.0), tuple(task(t, curve=NoFailure(), latest_day=1) for t in "abc"))
    with pytest.raises(ValidationError, match="no schedule fits"):
        solve(tight)


def test_the_plan_is_the_same_every_time() -> None:
    problem = random_problem(np.random.default_rng(7), n_tasks=12, days=30)
    assert solve(problem).schedule() == solve(problem).schedule()


def test_windows_price_the_move_exactly() -> None:
    problem = random_problem(np.random.default_rng(3), n_tasks=6, days=20)
    plan = solve(problem)
    alternatives = windows(plan, n=3)
    for tid, options in alternatives.items():
        assert [o["extra"] for o in options] == sorted(o["extra"] for o in options)
        for o in options:
            moved = evaluate(problem, {**plan.schedule(), tid: o["day"]})
            assert not moved.violations
            assert moved.total == pytest.approx(o["expectedCost"], abs=0.02)
            assert o["extra"] >= -0.05  # the plan is optimal: no single move makes it cheaper


def test_baselines_are_priced_like_the_plan_and_never_beat_it() -> None:
    for seed in range(5):
        problem = random_problem(np.random.default_rng(100 + seed), n_tasks=10, days=30)
        try:
            plan = solve(problem)
        except ValidationError:
            continue
        for schedule in (schedule_independent(problem), schedule_threshold(problem, 0.5)):
            other = evaluate(problem, schedule)
            if not other.violations:
                assert other.total >= plan.total - 0.05 * len(problem.tasks)


def test_the_risk_cost_uses_the_lost_production_of_the_day_it_fails() -> None:
    # Fails for sure on day 1 (a production day) if not maintained on day 0 or 1.
    cal = calendar(3, [0.0, 1000.0, 0.0])
    curve = WeibullCurve(50.0, 36.0)  # all failures between ~30 h and ~40 h: day 1
    t = task("a", fail=500.0, down=10.0, prev=0.0, curve=curve)
    priced = evaluate(Problem(cal, (t,)), {"a": 2})
    assert priced.planned[0].risk_cost == pytest.approx(500.0 + 10.0 * 1000.0, rel=1e-3)
    assert priced.planned[0].preventive_cost == pytest.approx(0.0, abs=1e-6)
    assert priced.as_dict()["tasks"][0]["pFailureBefore"] == pytest.approx(1.0, abs=1e-3)


def test_days_start_at_midnight_in_the_starts_zone() -> None:
    cal = Calendar(datetime(2026, 11, 30, 18, tzinfo=UTC), (1.0,) * 3, (8.0,) * 3)
    assert [cal.hours(d) for d in range(3)] == [0.0, 6.0, 30.0]
    assert [cal.date(d).isoformat() for d in range(3)] == ["2026-11-30", "2026-12-01", "2026-12-02"]


def test_unused_life_is_a_cost_of_going_early() -> None:
    # No production lost on any day, a Weibull life: without the value of the part's remaining service the risk
    # alone would always say "now"; with it a young part waits until the risk of waiting outweighs it.
    cal = calendar(60, 0.0)
    young = Task("young", "a", "L1", 2.0, 4.0, 1000.0, 3000.0, 0.0, WeibullCurve(3.0, 24.0 * 200, 24.0 * 20))
    old = Task("old", "b", "L1", 2.0, 4.0, 1000.0, 3000.0, 0.0, WeibullCurve(3.0, 24.0 * 200, 24.0 * 190))
    plan = solve(Problem(cal, (young, old), allow_defer=False))
    assert plan.schedule()["old"] == 0  # worn out: its risk per day is far above a day of its life's value
    assert plan.schedule()["young"] == 59  # young: nothing gained by replacing it early
    row = {t["task"]: t for t in plan.as_dict()["tasks"]}
    rate = 1000.0 / (24.0 * 200 * math.gamma(1 + 1 / 3))
    assert row["old"]["unusedLifeCost"] == pytest.approx(rate * cal.hours(60), abs=0.01)  # starts at 06:00
    survived = 1.0 - young.failure.cdf(cal.hours(59))  # only a part still running loses its remaining life
    assert row["young"]["unusedLifeCost"] == pytest.approx(rate * 24.0 * survived, abs=0.01)
    # An RUL curve describes this part, not a new one: no term unless life_hours is given.
    rul = task("rul", curve=LogNormalCurve(24.0 * 100, 24.0 * 300))
    assert rul.life_rate() == 0.0
    assert Task(**{**rul.__dict__, "life_hours": 5000.0}).life_rate() == pytest.approx(1000.0 / 5000.0)


def test_costs_too_large_for_exact_integers_are_refused_not_wrapped() -> None:
    cal = calendar(5, 1e14)
    with pytest.raises(ValidationError, match="integer overflow") as info:
        solve(Problem(cal, (task("a", curve=NoFailure()),)))
    assert "thousands" in info.value.hint
    free = solve(Problem(calendar(5, 1000.0), (task("b", prev=0.0, crew=0.0, curve=NoFailure()),)))
    assert free.status == "optimal" and free.schedule() == {"b": None}  # nothing to gain now: it waits


def test_an_overdue_task_goes_on_the_first_day_with_crew_not_on_a_day_without() -> None:
    # Over the limit from day 1; day 0 has no crew: day 1 (flagged), not "no plan at all".
    cal = calendar(5, 100.0, [0.0, 16.0, 16.0, 16.0, 16.0])
    due = task("due", curve=LogNormalCurve(10.0, 40.0, 0.8))
    plan = solve(Problem(cal, (due,), risk_limit=0.2))
    assert plan.schedule() == {"due": 1} and plan.planned[0].over_risk and not plan.violations


def test_crew_hours_are_rounded_against_the_plan() -> None:
    # 1.25 + 1.25 > 2.4, though each rounds to 1.2 (half to even) and 2.4 holds 1.2 + 1.2.
    cal = calendar(3, 100.0, 2.4)
    tasks = tuple(task(t, crew=1.25, curve=NoFailure()) for t in "xy")
    plan = solve(Problem(cal, tasks, allow_defer=False))
    assert plan.schedule()["x"] != plan.schedule()["y"] and not plan.violations
    assert plan.status == "optimal" and plan.bound == plan.total


# -- the line stops only after a delay (a buffer between the asset and its line; `line: impact`) -------------------
def delayed(t: Task, hours: float) -> Task:
    return Task(**{**t.__dict__, "line_delay_hours": hours})


def test_a_delay_shortens_the_planned_stop() -> None:
    cal = calendar(3, 2400.0)
    pump = delayed(task("pump", duration=4.0, curve=NoFailure()), 20 / 60)
    assert task("plain").line_delay_hours == 0.0 and task("plain").stop_hours == 4.0  # default: as before
    assert pump.stop_hours == pytest.approx(4.0 - 1 / 3)
    plan = solve(Problem(cal, (pump,), allow_defer=False))
    assert [s.line for s in plan.stops] == ["L1"] and plan.stops[0].hours == pytest.approx(11 / 3)
    assert plan.stop_cost == pytest.approx(11 / 3 * 2400.0)  # 8 800, not 9 600
    row = plan.as_dict()["tasks"][0]
    assert row["lineDelayHours"] == pytest.approx(1 / 3) and row["durationHours"] == 4.0 and row["line"] == "L1"
    # the solver prices the stop in the plan's hours, not rounded to tenths (3.7 h): its bound is the plan's cost
    assert plan.status == "optimal" and plan.bound == pytest.approx(plan.total, abs=0.01)


def test_a_stop_that_never_reaches_the_line_costs_nothing_and_makes_no_stop() -> None:
    cal = calendar(3, 2400.0)
    short = delayed(task("short", duration=0.25, down=0.2, curve=NoFailure()), 20 / 60)  # done before the buffer's dry
    assert (short.stop_hours, short.failure_stop_hours, short.stopped_line) == (0.0, 0.0, None)
    plan = solve(Problem(cal, (short, task("other", duration=2.0, curve=NoFailure())), allow_defer=False))
    assert plan.schedule()["short"] == plan.schedule()["other"]  # ties go later: both on the last day
    assert [s.tasks for s in plan.stops] == [("other",)] and plan.stop_cost == pytest.approx(2.0 * 2400.0)
    rows = {r["task"]: r for r in plan.as_dict()["tasks"]}
    assert rows["short"]["line"] == "L1" and rows["short"]["sharedStopWith"] == []  # the line is kept, no stop
    assert rows["other"]["sharedStopWith"] == []
    alone = evaluate(Problem(cal, (short,)), {"short": None})  # waiting: no stop is charged for it either
    assert alone.stop_cost == 0.0
    # a failure shorter than the delay costs no lost production: only its failure cost
    curve = WeibullCurve(50.0, 36.0)  # fails on day 1 for sure
    cheap = delayed(task("cheap", fail=500.0, down=0.3, prev=0.0, curve=curve), 0.5)
    assert evaluate(Problem(cal, (cheap,)), {"cheap": 2}).planned[0].risk_cost == pytest.approx(500.0, rel=1e-3)


def test_a_shared_stop_lasts_the_longest_effective_stop() -> None:
    # 3 h at once and 5 h of which 1.5 h before the line stops: one 3.5 h stop, not 5 h
    cal = calendar(2, 1000.0)
    a = task("a", duration=3.0, curve=NoFailure())
    b = delayed(task("b", duration=5.0, curve=NoFailure()), 1.5)
    plan = solve(Problem(cal, (a, b), allow_defer=False))
    assert plan.schedule()["a"] == plan.schedule()["b"]
    assert [(s.hours, s.tasks) for s in plan.stops] == [(3.5, ("a", "b"))]
    assert plan.stop_cost == pytest.approx(3.5 * 1000.0)
    assert {r["task"]: r["sharedStopWith"] for r in plan.as_dict()["tasks"]} == {"a": ["b"], "b": ["a"]}


def test_a_delay_shortens_the_failures_downtime() -> None:
    cal = calendar(3, [0.0, 1000.0, 0.0])
    curve = WeibullCurve(50.0, 36.0)  # fails on day 1 for sure
    t = delayed(task("a", fail=500.0, down=10.0, prev=0.0, curve=curve), 2.0)
    assert t.failure_stop_hours == 8.0
    priced = evaluate(Problem(cal, (t,)), {"a": 2})
    assert priced.planned[0].risk_cost == pytest.approx(500.0 + 8.0 * 1000.0, rel=1e-3)
    # without a line a delay changes nothing: no line, no lost production
    loose = delayed(task("b", line=None, fail=500.0, down=10.0, prev=0.0, curve=curve), 2.0)
    assert evaluate(Problem(cal, (loose,)), {"b": 2}).planned[0].risk_cost == pytest.approx(500.0, rel=1e-3)


@pytest.mark.parametrize("seed", range(6))
def test_cp_sat_finds_the_cheapest_schedule_with_delays(seed: int) -> None:
    rng = np.random.default_rng(1000 + seed)
    base = random_problem(rng, n_tasks=3, days=6)
    # delays in minutes, some longer than the task: stops of odd lengths, some none at all
    problem = Problem(base.calendar, tuple(delayed(t, float(rng.choice([0, 10, 20, 45, 90, 600]) / 60))
                                           for t in base.tasks), risk_limit=base.risk_limit)
    try:
        plan = solve(problem)
    except ValidationError:
        assert brute_force(problem) == float("inf")
        return
    assert plan.status == "optimal" and not plan.violations
    assert plan.total == pytest.approx(brute_force(problem), abs=0.05 * len(problem.tasks) * 3)
    for s in plan.stops:
        assert s.hours == max(t.stop_hours for t in problem.tasks if t.id in s.tasks) > 0
    for tid, options in windows(plan, n=3).items():  # the alternatives are priced with the delays too
        for o in options:
            assert evaluate(problem, {**plan.schedule(), tid: o["day"]}).total == pytest.approx(o["expectedCost"],
                                                                                                 abs=0.02)


def test_a_negative_delay_is_refused() -> None:
    with pytest.raises(ValidationError, match="negative duration, crew, delay or cost"):
        solve(Problem(calendar(3), (delayed(task("a", curve=NoFailure()), -1.0),)))
