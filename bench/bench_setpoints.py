"""Setpoint loops on the virtual plant's hall: the optimiser (``tvilling.optimize.setpoint``) against fixed setpoint
pairs, closed loop on the plant's own physics in process (no broker, no platform). Prints one JSON object (last line
of stdout; progress and a summary table on stderr).

Per season (a plant start date) and seed, one timeline at 60 s steps (``--step``), no faults:

* ``--warmup-days`` (7) at the plant's defaults (heating 19 / cooling 24 °C): the optimiser's first history;
* the training period, ``--train-days`` (14): with ``--train before`` (the default) the 14 days right before the
  evaluation window (the main timeline keeps the defaults through it); with ``--train seed`` the evaluation's
  calendar window on seed + 1000 (other weather noise, same climate and calendar), after the same warm-up;
* the evaluation window, ``--days`` (14).

Each strategy starts from one snapshot of the whole plant (``copy.deepcopy``) taken ``--settle-days`` (2) before a
measured window (training or evaluation) and runs its own policy through those days, which are not measured: a
fixed pair has been in force, and the optimiser deciding, before the window opens (without it the first hours,
the air recovering from 19 °C, dominate the violation of every strategy). All strategies see the same weather (the
zone's random stream advances one draw per step whatever the HVAC does) and the same production.

Strategies, each run over the evaluation window on the full plant:

* ``plant_default`` 19/24, ``band_edges`` = the band (21/23), ``band_inset`` = the band pulled in by 0.5 K (21.5/22.5);
* ``best_fixed``: the cheapest pair of a grid (heating 20–23, cooling 21.5–24.5, 0.25 K, cooling ≥ heating + 1)
  whose *training-period* band violation is at most the optimiser's own training-period violation + ``--tolerance``
  K·h (the optimiser is run over the training period for that); if no pair qualifies, the pair with the least
  violation. Chosen on the training period only, then evaluated on the evaluation window;
* ``hindsight_fixed``: the same rule applied to the evaluation window itself (cheapest pair within the optimiser's
  *evaluation* violation + tolerance) — not a strategy anyone could run, an upper bound for what a fixed pair can do;
* ``optimiser``: every 900 s of plant time (the service's ``BUCKET_S``), ``identify`` + ``forecast`` + ``propose``
  exactly as ``tvilling.app.setpoint_loops`` calls them, with the loop's settings read from ``--config`` (band,
  margin, limits, 7 days of history, a 6 h forecast, lookahead 2), on 15-minute means of the zone's true state (air,
  outdoor, HVAC electrical power, occupants, setpoints in force — no sensor noise or dropouts) over the complete
  buckets before the decision. The proposal is applied at once (as an approved or autonomous command would be,
  without the command round trip); if the model cannot be identified the setpoints are held. Also counted: the
  decisions the service would have sent for approval instead (its confidence gate).

The grid is searched by replaying the zone alone (the same backward-Euler step as ``ThermalZone.step``, vectorised
over the pairs) with the outdoor temperature and the internal and solar gains recorded from the plant-default run of
that window; the gains depend weakly on the air temperature (motor losses), so the chosen pairs are then run on the
full plant, and the replay's error is reported (``replay_check``).

Metrics over the measured window, from the true air temperature at every step: HVAC electrical energy (kWh),
band violation (K·h: the distance outside the band, integrated; also split below / above), % of the time outside
the band, setpoint pair changes and setpoint commands (each setpoint that moved counts one) within the window, and
the optimiser's decision cost (identify + forecast + propose, ms per decision, over its settle and evaluation days;
building the 15-minute series is not included). ``hindsight_frontier``: the cheapest grid pair (replayed) within
several violation budgets of the evaluation window.

    nice -n 10 .venv/bin/python bench/bench_setpoints.py [--starts 2026-01-05,2026-04-05,2026-07-05,2026-10-05]
        [--seeds 1] [--warmup-days 7] [--train-days 14] [--settle-days 2] [--days 14] [--train before|seed]
        [--tolerance 0.5]
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import math
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from tvilling.app.setpoint_config import LoopSpec, load_config
from tvilling.optimize import setpoint as setpoint_module
from tvilling.optimize.setpoint import (
    Band,
    IdentificationError,
    Limits,
    ZoneSeries,
    forecast,
    identify,
    propose,
)
from tvilling.virtual_plant import Plant, PlantConfig

ROOT = Path(__file__).resolve().parents[1]
BUCKET_S = 900.0  # the service's resolution and decision period
DAY_S = 86400.0
DEFAULT_PAIR = (19.0, 24.0)  # ThermalZone's defaults
TRAIN_SEED_OFFSET = 1000
# Columns of a run's per-step log: the optimiser's six series first (ZoneSeries order), then the replay's inputs.
AIR, OUT, KW, OCC, HSP, CSP, GAIN_AIR, GAIN_WALL = range(8)
FRONTIER_KH = (1.0, 2.0, 5.0, 10.0, 20.0)  # violation budgets of the hindsight frontier
STRATEGIES = ("plant_default", "band_edges", "band_inset", "best_fixed", "hindsight_fixed", "optimiser")


# -- the closed loop on the full plant --------------------------------------------------------------------------
@dataclass
class Run:
    """A plant and what it did, one row per step (preallocated for the whole timeline)."""

    plant: Plant
    log: np.ndarray
    k: int = 0  # steps done

    def step(self, dt: float) -> None:
        p = self.plant
        h, c = p.hall.heating_setpoint_c, p.hall.cooling_setpoint_c
        p.step(dt)
        z = p.hall.state
        self.log[self.k] = (z.air_c, z.outdoor_c, z.hvac_electrical_w / 1000.0, z.occupants, h, c,
                            z.gains_air_w, z.gains_wall_w)
        self.k += 1

    def set_pair(self, h: float, c: float) -> None:
        self.plant.hall.heating_setpoint_c, self.plant.hall.cooling_setpoint_c = float(h), float(c)


@dataclass
class Loop:
    """The loop's settings as the service uses them."""

    band: Band
    limits: Limits
    margin: float
    history_buckets: int
    horizon_steps: int
    max_energy_error: float
    outdoor_margin_k: float

    @classmethod
    def of(cls, spec: LoopSpec) -> Loop:
        lim = spec.limits
        return cls(Band(spec.band.low, spec.band.high), Limits(lim.heating, lim.cooling, lim.min_gap, lim.step,
                                                              lim.max_move),
                   spec.margin, round(spec.history_days * DAY_S / BUCKET_S), max(1, round(spec.horizon_h * 3600 /
                                                                                             BUCKET_S)),
                   spec.max_energy_error, spec.outdoor_margin_k)


def series(run: Run, per_bucket: int, buckets: int) -> ZoneSeries:
    """15-minute means of the complete buckets before now (the service's ``_series``, from the true state)."""
    have = run.k // per_bucket
    take = min(buckets, have)
    rows = run.log[(have - take) * per_bucket: have * per_bucket, :6].reshape(take, per_bucket, 6).mean(axis=1)
    start_s = run.plant.config.start.timestamp() + (have - take) * BUCKET_S  # epoch s, as the service passes it
    air, outdoor, power, occupancy, heating, cooling = (np.ascontiguousarray(rows[:, j]) for j in range(6))
    return ZoneSeries(BUCKET_S, air, outdoor, power, occupancy, heating, cooling, start_s=start_s)


def decide(run: Run, loop: Loop, per_bucket: int, stats: dict[str, Any]) -> tuple[float, float] | None:
    s = series(run, per_bucket, loop.history_buckets)
    current = (run.plant.hall.heating_setpoint_c, run.plant.hall.cooling_setpoint_c)
    began = time.perf_counter()
    try:
        model = identify(s)
    except IdentificationError:
        stats["ms"].append((time.perf_counter() - began) * 1000.0)
        stats["no_model"] += 1
        return None
    fc = forecast(s, loop.horizon_steps)
    proposal = propose(model, fc, loop.band, loop.limits, current, margin=loop.margin)
    stats["ms"].append((time.perf_counter() - began) * 1000.0)
    lo, hi = model.outdoor_range  # the service's confidence gate, counted (the bench applies every proposal)
    near = fc.outdoor[:2]
    ood = bool(np.any(near < lo - loop.outdoor_margin_k) or np.any(near > hi + loop.outdoor_margin_k))
    err = model.replay_energy_error
    if not (math.isfinite(err) and abs(err) <= loop.max_energy_error) or ood:
        stats["not_confident"] += 1
    if math.isfinite(err):
        stats["energy_error"].append(err)
    return proposal.best.heating_sp, proposal.best.cooling_sp


def run_window(base: Run, steps: int, dt: float, policy: tuple[float, float] | str | None,
               loop: Loop) -> tuple[Run, dict[str, Any]]:
    """A copy of ``base`` run ``steps`` further under ``policy`` (a fixed pair, ``"optimiser"`` or ``None``: keep
    what is set). Returns the run and the optimiser's decision statistics."""
    run = copy.deepcopy(base)
    per_bucket = round(BUCKET_S / dt)
    stats: dict[str, Any] = {"ms": [], "no_model": 0, "not_confident": 0, "energy_error": []}
    if isinstance(policy, tuple):
        run.set_pair(*policy)
    for _ in range(steps):
        if policy == "optimiser" and run.k % per_bucket == 0:
            pair = decide(run, loop, per_bucket, stats)
            if pair is not None:
                run.set_pair(*pair)
        run.step(dt)
    return run, stats


def metrics(run: Run, first: int, steps: int, dt: float, band: Band) -> dict[str, Any]:
    w = run.log[first: first + steps]
    prev = run.log[first - 1, [HSP, CSP]] if first > 0 else np.array(DEFAULT_PAIR)
    pairs = np.vstack([prev, w[:, [HSP, CSP]]])
    moved = np.diff(pairs, axis=0) != 0
    low = np.maximum(0.0, band.low - w[:, AIR])
    high = np.maximum(0.0, w[:, AIR] - band.high)
    excess = low + high
    return {"energy_kwh": round(float(w[:, KW].sum() * dt / 3600.0), 1),
            "violation_kh": round(float(excess.sum() * dt / 3600.0), 2),
            "below_kh": round(float(low.sum() * dt / 3600.0), 2), "above_kh": round(float(high.sum() * dt / 3600.0), 2),
            "outside_pct": round(float((excess > 0).mean() * 100.0), 2),
            "pair_changes": int(moved.any(axis=1).sum()), "commands": int(moved.sum()),
            "air_min": round(float(w[:, AIR].min()), 2), "air_max": round(float(w[:, AIR].max()), 2)}


# -- the zone alone, vectorised over fixed pairs (grid search) --------------------------------------------------
def grid() -> list[tuple[float, float]]:
    q = [(h, c) for h in range(80, 93) for c in range(86, 99) if c - h >= 4]  # quarter kelvins
    return [(h / 4.0, c / 4.0) for h, c in q]


def replay(plant: Plant, log: np.ndarray, pairs: list[tuple[float, float]], dt: float, band: Band,
           skip: int) -> tuple[np.ndarray, np.ndarray]:
    """Energy (kWh) and violation (K·h) of each fixed pair over ``log``'s steps but the first ``skip`` (settling),
    from ``plant``'s zone state at the first step: ``ThermalZone.step`` with the recorded outdoor temperature and
    gains."""
    p = plant.hall.params
    h = np.array([x[0] for x in pairs])
    c = np.array([x[1] for x in pairs])
    ta = np.full(len(pairs), plant.hall.state.air_c)
    tw = np.full(len(pairs), plant.hall.state.wall_c)
    ca, cw = p.c_air_j_k / dt, p.c_wall_j_k / dt
    a11 = ca + p.ua_air_wall_w_k + p.ua_air_out_w_k
    a22 = cw + p.ua_air_wall_w_k + p.ua_wall_out_w_k
    a12 = -p.ua_air_wall_w_k
    det = a11 * a22 - a12 * a12
    energy = np.zeros(len(pairs))
    excess = np.zeros(len(pairs))
    for n, (t_out, g_air, g_wall) in enumerate(log[:, [OUT, GAIN_AIR, GAIN_WALL]]):
        heat = np.minimum(p.heating_capacity_w, np.maximum(0.0, p.gain_w_k * (h - ta)))
        cool = np.minimum(p.cooling_capacity_w, np.maximum(0.0, p.gain_w_k * (ta - c)))
        hvac = heat - cool
        b1 = ca * ta + g_air + hvac + p.ua_air_out_w_k * t_out
        b2 = cw * tw + g_wall + p.ua_wall_out_w_k * t_out
        ta, tw = (b1 * a22 - a12 * b2) / det, (a11 * b2 - a12 * b1) / det
        if n < skip:
            continue
        energy += np.where(hvac > 0, hvac / p.heating_cop, -hvac / p.cooling_cop)
        excess += np.maximum(0.0, np.maximum(band.low - ta, ta - band.high))
    return energy * dt / 3.6e6, excess * dt / 3600.0


def cheapest_within(pairs: list[tuple[float, float]], energy: np.ndarray, violation: np.ndarray,
                    limit: float) -> tuple[tuple[float, float], bool]:
    ok = violation <= limit
    if not ok.any():
        return pairs[int(np.argmin(violation))], False
    return pairs[int(np.flatnonzero(ok)[np.argmin(energy[ok])])], True


# -- one season ---------------------------------------------------------------------------------------------
def new_run(seed: int, start: datetime, days: float, dt: float) -> Run:
    plant = Plant(PlantConfig(seed=seed, dt_s=dt, start=start, horizon_s=days * DAY_S, faults=[]))
    return Run(plant, np.zeros((round(days * DAY_S / dt) + 1, 8)))


def advance(run: Run, steps: int, dt: float) -> None:
    for _ in range(steps):
        run.step(dt)


def season(start: date, seed: int, args: argparse.Namespace, loop: Loop) -> dict[str, Any]:
    dt, band = args.step, loop.band
    t0 = datetime(start.year, start.month, start.day, tzinfo=UTC)
    warm, settle, train, ev = (round(d * DAY_S / dt) for d in (args.warmup_days, args.settle_days, args.train_days,
                                                                args.days))
    before = args.train == "before"
    grid_pairs = grid()
    checked = [*grid_pairs, DEFAULT_PAIR]  # the replay of the default pair checks the replay (round-off only)

    def day(step: int) -> str:
        return (t0 + timedelta(seconds=step * dt)).date().isoformat()

    # Training: from the end of the warm-up (defaults), each strategy settles, then the training period is measured.
    main = new_run(seed, t0, args.warmup_days + (args.train_days if before else 0) + args.settle_days + args.days, dt)
    trainer = main if before else new_run(seed + TRAIN_SEED_OFFSET, t0, args.warmup_days + args.settle_days
                                          + args.train_days, dt)
    advance(trainer, warm, dt)
    tr_first = warm + settle
    default_tr, _ = run_window(trainer, settle + train, dt, None, loop)  # the replay's inputs
    opt_tr, train_stats = run_window(trainer, settle + train, dt, "optimiser", loop)
    e_tr, v_tr = replay(trainer.plant, default_tr.log[warm: tr_first + train], checked, dt, band, settle)
    opt_tr_m = metrics(opt_tr, tr_first, train, dt, band)
    fixed, met = cheapest_within(grid_pairs, e_tr[:-1], v_tr[:-1], opt_tr_m["violation_kh"] + args.tolerance)
    fixed_tr, _ = run_window(trainer, settle + train, dt, fixed, loop)
    i = grid_pairs.index(fixed)
    train_out: dict[str, Any] = {
        "from": day(tr_first), "to": day(tr_first + train), "seed": seed if before else seed + TRAIN_SEED_OFFSET,
        "optimiser": opt_tr_m, "best_fixed": {**metrics(fixed_tr, tr_first, train, dt, band), "pair": list(fixed)},
        "best_fixed_met_tolerance": met,
        "best_fixed_replayed": {"energy_kwh": round(float(e_tr[i]), 1), "violation_kh": round(float(v_tr[i]), 2)},
        "default_pair_energy_kwh": [round(float(e_tr[-1]), 2),
                                    metrics(default_tr, tr_first, train, dt, band)["energy_kwh"]],
        "optimiser_decisions": {"no_model": train_stats["no_model"], "not_confident": train_stats["not_confident"]}}
    # Evaluation: every strategy from one snapshot (with --train before: the defaults ran through the training
    # period on the main timeline), settles, then the evaluation window is measured.
    advance(main, train if before else warm, dt)
    branch = main.k
    first = branch + settle
    runs: dict[str, Run] = {}
    runs["plant_default"], _ = run_window(main, settle + ev, dt, None, loop)
    named = {"band_edges": (band.low, band.high), "band_inset": (band.low + 0.5, band.high - 0.5),
             "best_fixed": fixed}
    for name, pair in named.items():
        runs[name], _ = run_window(main, settle + ev, dt, pair, loop)
    runs["optimiser"], stats = run_window(main, settle + ev, dt, "optimiser", loop)
    out = {name: metrics(r, first, ev, dt, band) for name, r in runs.items()}
    e_ev, v_ev = replay(main.plant, runs["plant_default"].log[branch: first + ev], checked, dt, band, settle)
    opt_v = out["optimiser"]["violation_kh"]
    hind, hind_met = cheapest_within(grid_pairs, e_ev[:-1], v_ev[:-1], opt_v + args.tolerance)
    runs["hindsight_fixed"], _ = run_window(main, settle + ev, dt, hind, loop)
    out["hindsight_fixed"] = metrics(runs["hindsight_fixed"], first, ev, dt, band)
    for name, pair in {**named, "plant_default": DEFAULT_PAIR, "hindsight_fixed": hind}.items():
        out[name]["pair"] = list(pair)
    ms = stats["ms"]
    opt_log = runs["optimiser"].log[first: first + ev]
    out["optimiser"].update(
        decisions=len(ms), no_model=stats["no_model"], not_confident=stats["not_confident"],
        decision_ms_median=round(statistics.median(ms), 2) if ms else None,
        decision_ms_p95=round(float(np.percentile(ms, 95)), 2) if ms else None,
        model_energy_error_median=(round(statistics.median(stats["energy_error"]), 3) if stats["energy_error"]
                                   else None),
        heating_sp_range=[float(opt_log[:, HSP].min()), float(opt_log[:, HSP].max())],
        cooling_sp_range=[float(opt_log[:, CSP].min()), float(opt_log[:, CSP].max())])
    # Hindsight frontier (replay): the cheapest fixed pair of the grid within each violation budget.
    frontier = []
    for limit in (opt_v, opt_v + args.tolerance, *FRONTIER_KH):
        pair, ok = cheapest_within(grid_pairs, e_ev[:-1], v_ev[:-1], limit)
        j = grid_pairs.index(pair)
        frontier.append({"max_violation_kh": round(limit, 2), "pair": list(pair), "met": ok,
                         "energy_kwh": round(float(e_ev[j]), 1), "violation_kh": round(float(v_ev[j]), 2)})
    k, d = grid_pairs.index(hind), grid_pairs.index(fixed)
    # The replay against the full plant: the default pair (the replay's own inputs: round-off only) and two others.
    check = {"default_pair_energy_kwh": [round(float(e_ev[-1]), 2), out["plant_default"]["energy_kwh"]],
             "hindsight_energy_kwh": [round(float(e_ev[k]), 1), out["hindsight_fixed"]["energy_kwh"]],
             "hindsight_violation_kh": [round(float(v_ev[k]), 2), out["hindsight_fixed"]["violation_kh"]],
             "best_fixed_energy_kwh": [round(float(e_ev[d]), 1), out["best_fixed"]["energy_kwh"]],
             "best_fixed_violation_kh": [round(float(v_ev[d]), 2), out["best_fixed"]["violation_kh"]]}
    return {"start": start.isoformat(), "seed": seed, "eval": {"from": day(first), "to": day(first + ev)},
            "train": train_out, "hindsight_met_tolerance": hind_met, "strategies": out,
            "hindsight_frontier": frontier, "replay_check": check, "decision_ms": ms}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--starts", default="2026-01-05,2026-04-05,2026-07-05,2026-10-05",
                    help="plant start dates (UTC midnight), comma-separated: one season each")
    ap.add_argument("--seeds", default="1", help="plant seeds, comma-separated")
    ap.add_argument("--warmup-days", type=float, default=7.0)
    ap.add_argument("--train-days", type=float, default=14.0)
    ap.add_argument("--settle-days", type=float, default=2.0,
                    help="days each strategy runs before a measured window (training and evaluation) starts")
    ap.add_argument("--days", type=float, default=14.0, help="evaluation window")
    ap.add_argument("--train", choices=("before", "seed"), default="before",
                    help="training period: the days right before the evaluation window, or the evaluation's "
                         "calendar window on seed + 1000")
    ap.add_argument("--tolerance", type=float, default=0.5,
                    help="K·h of band violation a fixed pair may exceed the optimiser's by")
    ap.add_argument("--step", type=float, default=60.0, help="plant step, s (must divide 900)")
    ap.add_argument("--config", default=str(ROOT / "examples" / "bottling-plant" / "setpoints.yaml"))
    ap.add_argument("--loop", default="hall-comfort")
    ap.add_argument("--json", action="store_true", help="accepted for symmetry: the JSON object is always printed")
    args = ap.parse_args()
    try:
        starts = [date.fromisoformat(s.strip()) for s in args.starts.split(",") if s.strip()]
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
        spec = load_config(args.config).get(args.loop)
        if spec is None:
            raise ValueError(f"no loop {args.loop!r} in {args.config}")
        if not (args.step > 0 and abs(BUCKET_S / args.step - round(BUCKET_S / args.step)) < 1e-9):
            raise ValueError(f"--step must divide {BUCKET_S:.0f} s, got {args.step}")
        if args.warmup_days < spec.history_days:
            raise ValueError(f"--warmup-days must cover the loop's {spec.history_days} days of history")
        if not (starts and seeds and args.days > 0 and args.train_days > 0 and args.settle_days >= 0):
            raise ValueError("need at least one start, one seed, positive --days / --train-days and --settle-days "
                             ">= 0")
    except Exception as exc:  # one line on stderr, non-zero exit (the bench contract)
        sys.stderr.write(f"error: {exc}\n")
        return 2
    loop = Loop.of(spec)
    began = time.perf_counter()
    seasons = []
    for seed in seeds:
        for start in starts:
            t = time.perf_counter()
            seasons.append(season(start, seed, args, loop))
            sys.stderr.write(f"  {start} seed {seed}: {time.perf_counter() - t:.1f} s\n")
    total: dict[str, dict[str, float]] = {}
    for name in STRATEGIES:
        rows = [s["strategies"][name] for s in seasons]
        total[name] = {"energy_kwh": round(sum(r["energy_kwh"] for r in rows), 1),
                       "violation_kh": round(sum(r["violation_kh"] for r in rows), 2),
                       "outside_pct": round(statistics.mean(r["outside_pct"] for r in rows), 2),
                       "pair_changes": sum(r["pair_changes"] for r in rows),
                       "commands": sum(r["commands"] for r in rows)}
    all_ms = [m for s in seasons for m in s.pop("decision_ms")]
    result = {
        "bench": "setpoints", "strategies": list(STRATEGIES), "seasons": seasons, "total": total,
        "optimiser_vs_best_fixed_energy_pct": round(
            (total["optimiser"]["energy_kwh"] / total["best_fixed"]["energy_kwh"] - 1.0) * 100.0, 2),
        "decision_ms": {"decisions": len(all_ms), "median": round(statistics.median(all_ms), 2),
                        "p95": round(float(np.percentile(all_ms, 95)), 2), "max": round(max(all_ms), 2)},
        "settings": {"starts": [s.isoformat() for s in starts], "seeds": seeds, "warmup_days": args.warmup_days,
                     "train_days": args.train_days, "settle_days": args.settle_days, "days": args.days,
                     "train": args.train,
                     "tolerance_kh": args.tolerance, "step_s": args.step, "band": [loop.band.low, loop.band.high],
                     "margin": loop.margin, "limits": {"heating": list(loop.limits.heating),
                                                       "cooling": list(loop.limits.cooling),
                                                       "min_gap": loop.limits.min_gap, "step": loop.limits.step,
                                                       "max_move": loop.limits.max_move},
                     "history_buckets": loop.history_buckets, "horizon_steps": loop.horizon_steps,
                     "grid_pairs": len(grid())},
        "engine_sha256": hashlib.sha256(Path(setpoint_module.__file__).read_bytes()).hexdigest()[:16],
        "wall_s": round(time.perf_counter() - began, 1), "cpus": os.cpu_count(), "python": platform.python_version(),
    }
    for s in seasons:
        sys.stderr.write(f"{s['start']} seed {s['seed']} (eval {s['eval']['from']}..{s['eval']['to']}, train "
                         f"{s['train']['from']}..{s['train']['to']} seed {s['train']['seed']}: optimiser "
                         f"{s['train']['optimiser']['energy_kwh']} kWh {s['train']['optimiser']['violation_kh']} K·h,"
                         f" best_fixed {s['train']['best_fixed']['pair']} {s['train']['best_fixed']['energy_kwh']} "
                         f"kWh {s['train']['best_fixed']['violation_kh']} K·h)\n")
        for name in STRATEGIES:
            r = s["strategies"][name]
            sys.stderr.write(f"  {name:16s} {r.get('pair', '')!s:14s} {r['energy_kwh']:8.1f} kWh "
                             f"{r['violation_kh']:7.2f} K·h {r['outside_pct']:6.2f} % {r['pair_changes']:4d} changes\n")
    for name in STRATEGIES:
        r = total[name]
        sys.stderr.write(f"total {name:16s} {r['energy_kwh']:8.1f} kWh {r['violation_kh']:7.2f} K·h "
                         f"{r['outside_pct']:6.2f} %\n")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
