"""Maintenance planning: the CP-SAT plan (``tvilling.optimize.maintenance.solve``) against the rule-of-thumb
schedules (the baselines, priced in the same run on the same sites), and a Monte Carlo check of the expected costs
that does not use the model's own arithmetic. Prints one JSON object.

Synthetic sites, one per (size, seed), from ``numpy.random.default_rng(1000 * size + seed)``; every range below is
drawn uniformly unless it says log-uniform:

* horizon 90 days from Monday 2027-01-04 06:00 UTC; 1-4 production lines; risk_limit 0.2;
* lost production per hour a line stands still (the calendar's, shared by all lines): weekdays 1 500-5 000,
  Saturday 30-60 % of it, Sunday 0-20 % of it, and 2 random weekdays are shutdowns (0);
* crew: ceil(N / 12) technicians, at least 2, 8 h each on weekdays (shutdown days included), half on Saturday,
  0 or 8 h on Sunday (one on call, half the sites);
* per asset, one task: ~10 % (at least one) stop no line (``line`` None), the rest one of the lines; duration
  1-10 h; 1-2 people (crew hours = duration x people, at most 16); preventive cost 300-6 000; failure cost
  3-15 x the preventive cost; failure downtime 4-72 h; 15 % have an ``earliest_day``, a weekday 1-10 (parts
  arrive), 15 %
  a ``latest_day`` 30-89 (a service interval);
* failure curve, half and half: ``LogNormalCurve`` of an 80 % RUL interval, median log-uniform 7-240 days, the
  interval's ends at median / w and median x w, w 1.3-2.5; or ``WeibullCurve`` shape 1.2-3.5, scale
  5 000-40 000 h, age 30-120 % of the scale.

Per site: ``solve`` (CP-SAT, ``--time-limit`` s, 1 worker: status, seconds, bound, gap) and the baselines
``schedule_independent`` and ``schedule_threshold`` at 0.5, 0.2 and 0.1 (``--thresholds``; under the risk limit of
0.2, 0.5 and 0.2 both give the last allowed day), all priced by ``evaluate``.
Monte Carlo (``--draws`` per site, the same draws for every schedule): failure times drawn from each asset's curve
(closed-form inverse cdf for the log-normal and Weibull curves, parameters recomputed here; bisection on ``cdf``
for any other curve). An asset failing before its planned day costs failure_cost + failure_downtime_hours x that
day's lost production (line None: 0) and its task is not done; otherwise it costs its preventive cost, and a
planned stop on (line, day) costs its longest *surviving* task's stop x the day's lost production (a task left
after the horizon, as ``evaluate`` prices it: its stop on the horizon's cheapest day with crew enough for it,
if its asset survives the horizon), and a surviving part replaced on day d throws away its service until the
horizon's end, at preventive cost / a new part's mean life per hour (the engine's "unused life"; Weibull curves
only). A task's stop and its failure's downtime are the engine's ``Task.stop_hours`` and ``failure_stop_hours``
(less the delay before its line stops; the synthetic sites have none, so these are the duration and the failure's
downtime). Days start at midnight of their date (day 0 at the start), as the engine's docstring says; failure buckets
and day starts are computed here from the dates. Reported as ``realised``; ``model_rule`` is the same draws with
every planned stop charged whether or not the asset failed first — that is how ``evaluate``
prices them, so ``model_rule`` checks its arithmetic and the difference between the two is the cost of that
approximation. Scaling: solve seconds by size, and 1 against ``--workers``
workers on the largest size.

    nice -n 5 .venv/bin/python bench/bench_maintenance.py [--sizes 10,25,50,100] [--seeds 5] [--quick]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

START = datetime(2027, 1, 4, 6, tzinfo=UTC)  # a Monday
HORIZON = 90
RISK_LIMIT = 0.2
Z95 = 1.959963984540054


def site(n: int, seed: int) -> Any:
    """The planning problem of one synthetic site (ranges: the module docstring)."""
    from tvilling.optimize.failure import FailureCurve, LogNormalCurve, WeibullCurve
    from tvilling.optimize.maintenance import Calendar, Problem, Task

    rng = np.random.default_rng(1000 * n + seed)
    weekday_lost = float(rng.uniform(1500, 5000))
    saturday_lost = weekday_lost * float(rng.uniform(0.3, 0.6))
    sunday_lost = weekday_lost * float(rng.uniform(0.0, 0.2))
    techs = max(2, math.ceil(n / 12))
    sunday_crew = float(rng.choice([0.0, 8.0]))
    weekdays = [d for d in range(HORIZON) if (START.weekday() + d) % 7 < 5]
    shutdowns = {int(d) for d in rng.choice(weekdays, size=2, replace=False)}
    lost, crew = [], []
    for d in range(HORIZON):
        wd = (START.weekday() + d) % 7
        lost.append(0.0 if d in shutdowns else weekday_lost if wd < 5 else saturday_lost if wd == 5 else sunday_lost)
        crew.append(8.0 * techs if wd < 5 else 4.0 * techs if wd == 5 else sunday_crew)
    lines = [f"line-{i + 1}" for i in range(int(rng.integers(1, 5)))]
    no_line = set(rng.choice(n, size=max(1, round(0.1 * n)), replace=False).tolist())
    tasks = []
    for i in range(n):
        duration = round(float(rng.uniform(1.0, 10.0)), 1)
        people = int(rng.integers(1, 3))
        preventive = round(float(rng.uniform(300, 6000)), -1)
        curve: FailureCurve
        if rng.random() < 0.5:
            median = 24.0 * math.exp(float(rng.uniform(math.log(7), math.log(240))))
            w = float(rng.uniform(1.3, 2.5))
            curve = LogNormalCurve(round(median / w, 1), round(median * w, 1), 0.8)
        else:
            scale = float(rng.uniform(5000, 40000))
            shape = round(float(rng.uniform(1.2, 3.5)), 2)
            curve = WeibullCurve(shape, float(round(scale)), float(round(scale * float(rng.uniform(0.3, 1.2)))))
        earliest = int(rng.choice([d for d in weekdays if 1 <= d <= 10])) if rng.random() < 0.15 else 0
        latest = int(rng.integers(30, 90)) if rng.random() < 0.15 else None
        tasks.append(Task(
            id=f"a{i:03d}", asset=f"asset-{i:03d}", line=None if i in no_line else str(rng.choice(lines)),
            duration_hours=duration, crew_hours=min(16.0, duration * people), preventive_cost=preventive,
            failure_cost=round(preventive * float(rng.uniform(3, 15)), -1),
            failure_downtime_hours=round(float(rng.uniform(4, 72)), 1), failure=curve,
            earliest_day=earliest, latest_day=latest))
    calendar = Calendar(START, tuple(lost), tuple(crew))
    info = {"lines": len(lines), "tasks_without_line": len(no_line), "technicians": techs,
            "weekday_lost_per_h": round(weekday_lost), "shutdown_days": sorted(shutdowns),
            "sunday_crew_h": sunday_crew,
            "lognormal_curves": sum(isinstance(t.failure, LogNormalCurve) for t in tasks)}
    return Problem(calendar, tuple(tasks), risk_limit=RISK_LIMIT), info


# -- Monte Carlo ---------------------------------------------------------------------------------------------------
def failure_hours(curve: Any, u: np.ndarray) -> np.ndarray:
    """Failure times (hours from the plan's start) at the uniforms ``u``: the curve's inverse cdf."""
    from scipy.stats import norm

    from tvilling.optimize.failure import LogNormalCurve, WeibullCurve

    u = np.clip(u, 1e-12, 1 - 1e-12)
    if isinstance(curve, LogNormalCurve):
        z = float(norm.ppf(0.5 + curve.level / 2.0))
        low = max(curve.lower, curve.upper * 1e-3)
        mu = (math.log(low) + math.log(curve.upper)) / 2.0
        sigma = max((math.log(curve.upper) - math.log(low)) / (2.0 * z), 1e-6)
        return np.asarray(np.exp(mu + sigma * norm.ppf(u)))
    if isinstance(curve, WeibullCurve):  # conditional on having run age hours: F(t) = 1 - exp(a^b - ((age+t)/eta)^b)
        b, eta, age = curve.shape, curve.scale_hours, curve.age_hours
        return np.asarray(eta * ((age / eta) ** b - np.log1p(-u)) ** (1.0 / b) - age)
    # Any other curve: bisection on its cdf, up to ten years (beyond: never within any horizon).
    lo, hi = np.zeros_like(u), np.full_like(u, 24.0 * 3650)
    for _ in range(50):
        mid = (lo + hi) / 2.0
        below = np.array([curve.cdf(float(m)) for m in mid]) < u
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    return np.where(np.array([curve.cdf(24.0 * 3650)]) < u, np.inf, hi)


def day_starts(problem: Any) -> np.ndarray:
    """Hours from the plan's start to the start of each day 0..horizon: midnight of its date in the start's zone
    (day 0: the start itself), computed here from the dates."""
    start = problem.calendar.start
    out = [0.0]
    for d in range(1, problem.calendar.days + 1):
        midnight = datetime.combine(start.date() + timedelta(days=d), datetime.min.time(), tzinfo=start.tzinfo)
        out.append((midnight - start).total_seconds() / 3600.0)
    return np.asarray(out)


def life_rate(task: Any) -> float:
    """Unused-life cost per hour as the engine's docstring defines it: preventive cost over a new part's life
    (``life_hours``, else a Weibull curve's mean life, else no term)."""
    from tvilling.optimize.failure import WeibullCurve

    life = getattr(task, "life_hours", None)
    if life is None and isinstance(task.failure, WeibullCurve):
        life = task.failure.scale_hours * math.gamma(1.0 + 1.0 / task.failure.shape)
    return float(task.preventive_cost / life) if life else 0.0


def simulate(problem: Any, schedule: dict[str, int | None], times: np.ndarray) -> dict[str, np.ndarray]:
    """Realised cost per draw (``times``: draws x tasks failure hours), both stop rules, and the parts."""
    cal, tasks = problem.calendar, problem.tasks
    lost = np.asarray(cal.downtime_cost)
    crew = np.asarray(cal.crew_hours)
    starts = day_starts(problem)
    horizon = cal.days
    draws = times.shape[0]
    risk = np.zeros(draws)
    preventive = np.zeros(draws)
    life_real = np.zeros(draws)
    stops_real = np.zeros(draws)
    stops_model = 0.0
    alive: dict[int, np.ndarray] = {}
    groups: dict[tuple[str, int], list[int]] = {}
    for j, t in enumerate(tasks):
        day = schedule[t.id]
        failed = times[:, j] < starts[horizon if day is None else day]
        fail_day = np.clip(np.searchsorted(starts, times[:, j], side="right") - 1, 0, horizon - 1)
        risk += np.where(failed, t.failure_cost + t.failure_stop_hours * lost[fail_day], 0.0)  # 0 h: no line
        preventive += np.where(failed, 0.0, t.preventive_cost)
        alive[j] = ~failed
        if day is not None:  # a part replaced before the horizon's end throws its remaining service away
            unused = life_rate(t) * (starts[horizon] - starts[day])
            life_real += np.where(failed, 0.0, unused)  # evaluate: x P(survived), i.e. the same in expectation
        if t.stopped_line is None:  # no line, or its stop never reaches the line (Task.stop_hours)
            continue
        if day is None:  # as evaluate: its stop on the horizon's cheapest day with crew enough for it
            fits = lost[crew >= t.crew_hours]
            later = t.stop_hours * float((fits if fits.size else lost).min())
            stops_real += np.where(failed, 0.0, later)
            stops_model += later
        else:
            groups.setdefault((t.stopped_line, day), []).append(j)
    for (_, day), members in groups.items():
        durations = np.array([tasks[j].stop_hours for j in members])
        up = np.column_stack([alive[j] for j in members])
        stops_real += np.max(np.where(up, durations, 0.0), axis=1) * lost[day]
        stops_model += float(durations.max()) * lost[day]
    return {"realised": risk + preventive + stops_real + life_real,
            "model_rule": risk + preventive + stops_model + life_real,
            "risk": risk, "preventive": preventive, "stops": stops_real, "life": life_real}


def mean_ci(x: np.ndarray) -> dict[str, float]:
    half = Z95 * float(x.std(ddof=1)) / math.sqrt(len(x))
    return {"mean": round(float(x.mean()), 2), "ci95": round(half, 2)}


# -- one site ------------------------------------------------------------------------------------------------------
BASELINES: dict[str, float | None] = {"independent": None}  # + "threshold_<p>" per --thresholds, set in main()


def run_site(n: int, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    from tvilling.optimize.maintenance import evaluate, schedule_independent, schedule_threshold, solve

    problem, info = site(n, seed)
    plan = solve(problem, time_limit_s=args.time_limit, workers=1)
    plans = {"cp-sat": plan}
    for name, threshold in BASELINES.items():
        schedule = schedule_independent(problem) if threshold is None else schedule_threshold(problem, threshold)
        plans[name] = evaluate(problem, schedule, method=name)
    rng = np.random.default_rng(10_000_000 + 1000 * n + seed)
    u = rng.random((args.draws, len(problem.tasks)))
    times = np.column_stack([failure_hours(t.failure, u[:, j]) for j, t in enumerate(problem.tasks)])
    sims = {name: simulate(problem, p.schedule(), times) for name, p in plans.items()}
    gap = (plan.total - plan.bound) / plan.total if plan.bound is not None and plan.total > 0 else None
    methods: dict[str, Any] = {}
    for name, p in plans.items():
        sim = sims[name]
        row: dict[str, Any] = {
            "expected": round(p.total, 2),
            "expected_parts": {"risk": round(p.risk_cost, 2), "preventive": round(p.preventive_cost, 2),
                               "stops": round(p.stop_cost, 2), "life": round(getattr(p, "life_cost", 0.0), 2)},
            "realised": mean_ci(sim["realised"]), "model_rule": mean_ci(sim["model_rule"]),
            "realised_parts": {k: round(float(sim[k].mean()), 2) for k in ("risk", "preventive", "stops", "life")},
            "model_rule_z": round((float(sim["model_rule"].mean()) - p.total)
                                  / (float(sim["model_rule"].std(ddof=1)) / math.sqrt(args.draws) or 1.0), 2),
            "deferred": sum(1 for q in p.planned if q.day is None), "stops": len(p.stops),
            "violations": list(p.violations)}
        if name != "cp-sat":
            diff = sim["realised"] - sims["cp-sat"]["realised"]  # paired: the same draws
            row["saving_pct_expected"] = round(100.0 * (p.total - plan.total) / p.total, 2)
            row["saving_pct_realised"] = round(100.0 * float(diff.mean()) / float(sim["realised"].mean()), 2)
            row["saving_realised_ci95"] = mean_ci(diff)
        methods[name] = row
    return {"size": n, "seed": seed, "site": info, "status": plan.status,
            "solve_s": round(plan.solve_seconds, 3), "bound": None if plan.bound is None else round(plan.bound, 2),
            "gap": None if gap is None else round(gap, 5), "methods": methods}


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"sites": len(rows), "statuses": {s: sum(r["status"] == s for r in rows)
                                                            for s in sorted({r["status"] for r in rows})}}
    solve_s = [r["solve_s"] for r in rows]
    out["solve_s"] = {"median": round(statistics.median(solve_s), 3), "max": round(max(solve_s), 3)}
    out["gap_max"] = max((r["gap"] for r in rows if r["gap"] is not None), default=None)
    for name in ["cp-sat", *BASELINES]:
        ms = [r["methods"][name] for r in rows]
        m: dict[str, Any] = {
            "expected_mean": round(statistics.mean(x["expected"] for x in ms), 2),
            "realised_mean": round(statistics.mean(x["realised"]["mean"] for x in ms), 2),
            "model_rule_mean": round(statistics.mean(x["model_rule"]["mean"] for x in ms), 2),
            "realised_over_expected_pct": round(100.0 * (sum(x["realised"]["mean"] for x in ms)
                                                         / sum(x["expected"] for x in ms) - 1.0), 2),
            "model_rule_z_max_abs": max(abs(x["model_rule_z"]) for x in ms),
            "sites_with_violations": sum(bool(x["violations"]) for x in ms),
            "violations": sum(len(x["violations"]) for x in ms)}
        if name != "cp-sat":
            for key in ("saving_pct_expected", "saving_pct_realised"):
                vals = [x[key] for x in ms]
                m[key] = {"median": round(statistics.median(vals), 2), "min": min(vals), "max": max(vals)}
        out[name] = m
    return out


def engine_hash() -> str:
    """The planner's source, hashed: the figures belong to this version of the engine."""
    import hashlib

    import tvilling.optimize.failure as failure
    import tvilling.optimize.maintenance as maintenance

    digest = hashlib.sha256()
    for module in (failure, maintenance):
        with open(str(module.__file__), "rb") as fh:
            digest.update(fh.read())
    return digest.hexdigest()[:16]


def main() -> None:
    from tvilling.core.errors import ValidationError
    from tvilling.optimize.maintenance import solve

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="10,25,50,100", help="assets per site, comma-separated")
    ap.add_argument("--seeds", type=int, default=5, help="sites per size (seeds 1..N)")
    ap.add_argument("--time-limit", type=float, default=30.0, help="CP-SAT limit per solve, seconds")
    ap.add_argument("--draws", type=int, default=2000, help="Monte Carlo draws per site and schedule")
    ap.add_argument("--workers", type=int, default=4, help="the multi-worker arm of the scaling test")
    ap.add_argument("--scaling-seeds", type=int, default=2, help="sites of the largest size solved again with "
                    "--workers workers (0: skip)")
    ap.add_argument("--thresholds", default="0.5,0.2,0.1",
                    help="schedule_threshold baselines (with risk_limit 0.2, 0.5 and 0.2 give the same schedule)")
    ap.add_argument("--quick", action="store_true", help="sizes 10,25, 2 seeds, 5 s limit, 500 draws")
    args = ap.parse_args()
    if args.quick:
        args.sizes, args.seeds, args.time_limit, args.draws, args.scaling_seeds = "10,25", 2, 5.0, 500, 1
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    for p in (float(x) for x in args.thresholds.split(",") if x.strip()):
        BASELINES[f"threshold_{p:g}"] = p
    began = time.perf_counter()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    rows, rejected = [], []
    for n in sizes:
        for seed in range(1, args.seeds + 1):
            try:
                rows.append(run_site(n, seed, args))
            except ValidationError as exc:  # a site no schedule fits: reported, left out of the figures
                rejected.append({"size": n, "seed": seed, "error": str(exc)})
                print(f"size {n} seed {seed}: rejected: {exc}", file=sys.stderr)
                continue
            print(f"size {n} seed {seed}: {rows[-1]['status']} {rows[-1]['solve_s']} s", file=sys.stderr)
    scaling: dict[str, Any] = {"size": max(sizes), "workers": args.workers, "sites": []}
    largest = [r for r in rows if r["size"] == max(sizes)][: args.scaling_seeds]
    for one in largest:
        seed = one["seed"]
        problem, _ = site(max(sizes), seed)
        many = solve(problem, time_limit_s=args.time_limit, workers=args.workers)
        scaling["sites"].append({
            "seed": seed, "one_worker": {"s": one["solve_s"], "status": one["status"],
                                         "cost": one["methods"]["cp-sat"]["expected"], "bound": one["bound"]},
            "many_workers": {"s": round(many.solve_seconds, 3), "status": many.status, "cost": round(many.total, 2),
                             "bound": None if many.bound is None else round(many.bound, 2)}})
    from importlib.metadata import version
    print(json.dumps({
        "bench": "maintenance",
        "command": " ".join(["bench/bench_maintenance.py", *sys.argv[1:]]),
        "machine": {"cpus": os.cpu_count(), "load_1min_at_start": load, "python": platform.python_version(),
                    "platform": platform.platform(), "ortools": version("ortools")},
        "utc": datetime.now(UTC).strftime("%Y-%m-%d %H:%M"),
        "engine_sha256": engine_hash(),
        "params": {"sizes": sizes, "seeds": args.seeds, "time_limit_s": args.time_limit, "draws": args.draws,
                   "horizon_days": HORIZON, "start": START.isoformat(), "risk_limit": RISK_LIMIT,
                   "baselines": ["schedule_independent",
                                 *(f"schedule_threshold({p:g})" for p in BASELINES.values() if p is not None)]},
        "summary": {str(n): summarise([r for r in rows if r["size"] == n]) for n in sizes
                    if any(r["size"] == n for r in rows)},
        "rejected_sites": rejected,
        "scaling": scaling,
        "per_site": rows,
        "wall_s": round(time.perf_counter() - began, 1)}))


if __name__ == "__main__":
    main()
