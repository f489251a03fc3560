"""Model-based fault detection on a thermal zone: residual charts (``tvilling fmu residuals``) against ``tvilling
detect`` on the raw readings (the baseline), in the same run on the same weeks. Prints one JSON object.

Each week is 7 days of 5-minute readings of a zone (the native model of ``tvilling.physics.thermal_zone``, UA 420 W/K,
C 6 MJ/K) under its own weather (a daily swing of random amplitude on a random-walk front) and HVAC schedule (heat
for 6-10 h each morning, cool in the afternoon, random levels), with 0.1 K of measurement noise. Faulty weeks get
an envelope fault (UA × (1 + ``--fault``), a door left open, lost insulation) at a random hour of days 3-6; healthy
weeks none. Both methods see the first two days as the healthy reference: the residual analysis calibrates UA, C
and T_start on them (``simulation.calibrate``, as an engineer would) and charts the rest; the baseline is
``detect_table`` (the engine of ``tvilling detect``) on the three raw columns with those rows as its training rows.

Scored per week: detected (a flagged row at or after the onset), delay (onset → first flagged row), and false
episodes (flagged runs, merged within 10 rows, before the onset or in a healthy week, after the reference) per
week. Seeds 1..N; deterministic.

    nice -n 19 .venv/bin/python bench/bench_residuals.py [--weeks 20] [--fault 0.45]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from typing import Any

import numpy as np

STEP = 300.0
DAY_ROWS = 288
REFERENCE = 2 * DAY_ROWS


def week(seed: int, fault: float | None) -> tuple[Any, int | None]:
    """(Measurements, onset row or None) of one week."""
    from tvilling.physics.thermal_zone import ThermalZone
    from tvilling.simulation.calibrate import Measurements

    rng = np.random.default_rng(seed)
    n = 7 * DAY_ROWS
    t = np.arange(n) * STEP
    front = np.cumsum(rng.normal(0.0, 0.08, n))
    outdoor = 6.0 + rng.uniform(3.0, 8.0) * np.sin(2 * np.pi * t / 86400.0 - 1.5) + front
    hour = (t % 86400.0) / 3600.0
    day = (t // 86400.0).astype(int)
    heat_hours = rng.uniform(6.0, 10.0, 7)[day]
    hvac = np.where(hour < heat_hours, rng.uniform(2000, 4000, 7)[day], -rng.uniform(500, 2000, 7)[day])
    onset = None if fault is None else int(rng.integers(3 * DAY_ROWS, 6 * DAY_ROWS))
    zone = ThermalZone()
    values = {"UA": 420.0, "C": 6.0e6, "T_start": 19.0}
    zone.initialize({**values, "T_out": outdoor[0], "Q_hvac": hvac[0]})
    temps = [zone.outputs()["T"]]
    for k in range(1, n):
        u = {"T_out": float(outdoor[k - 1]), "Q_hvac": float(hvac[k - 1])}
        if onset is not None and k - 1 == onset:
            zone.initialize({**values, "UA": 420.0 * (1.0 + (fault or 0.0)), "T_start": temps[-1], **u},
                            start_time=float(t[k - 1]))
        temps.append(zone.step(STEP, u)["T"])
    measured = np.asarray(temps) + rng.normal(0.0, 0.1, n)
    data = Measurements.from_columns(t.tolist(), inputs={"T_out": outdoor.tolist(), "Q_hvac": hvac.tolist()},
                                     outputs={"T": measured.tolist()})
    return data, onset


def episodes(flags: np.ndarray, start: int, end: int) -> int:
    """Flagged runs (merged when closer than 10 rows) within rows [start, end)."""
    rows = np.flatnonzero(flags[start:end])
    return 0 if rows.size == 0 else int(1 + np.sum(np.diff(rows) > 10))


def score(flags: np.ndarray, onset: int | None) -> dict[str, Any]:
    stop = len(flags) if onset is None else onset
    out: dict[str, Any] = {"false_episodes": episodes(flags, REFERENCE, stop)}
    if onset is not None:
        after = np.flatnonzero(flags[onset:])
        out["detected"] = bool(after.size)
        out["delay_h"] = round(float(after[0]) * STEP / 3600.0, 2) if after.size else None
    return out


def main() -> None:
    from tvilling.ml.anomaly.offline import detect_table
    from tvilling.physics.thermal_zone import ThermalZone
    from tvilling.simulation.calibrate import Measurements, calibrate
    from tvilling.simulation.residuals import analyse_residuals

    ap = argparse.ArgumentParser()
    ap.add_argument("--weeks", type=int, default=20, help="faulty weeks, and as many healthy ones")
    ap.add_argument("--fault", type=float, default=0.45, help="relative rise of UA at the fault (0.45: 420 -> 609)")
    args = ap.parse_args()
    results: dict[str, list[dict[str, Any]]] = {"residuals": [], "raw_detect": []}
    cost: dict[str, list[float]] = {"calibrate_s": [], "residuals_s": [], "raw_detect_s": []}
    for seed in range(1, args.weeks + 1):
        for fault in (args.fault, None):
            data, onset = week(seed if fault else 10_000 + seed, fault)
            began = time.perf_counter()
            ref = Measurements.from_columns(data.times[:REFERENCE],
                                            inputs={k: v[:REFERENCE] for k, v in data.inputs.items()},
                                            outputs={k: v[:REFERENCE] for k, v in data.outputs.items()})
            fit = calibrate(ThermalZone(), ref, {"UA": (100.0, 2000.0), "C": (1e6, 1e8), "T_start": (5.0, 35.0)})
            cost["calibrate_s"].append(time.perf_counter() - began)
            began = time.perf_counter()
            report = analyse_residuals(ThermalZone(), data, fit.values, reference_rows=REFERENCE)
            cost["residuals_s"].append(time.perf_counter() - began)
            results["residuals"].append({"seed": seed, "fault": fault is not None, "onset": onset,
                                         **score(report.anomalous, onset)})
            raw = np.column_stack([data.inputs["T_out"], data.inputs["Q_hvac"], data.outputs["T"]])
            began = time.perf_counter()
            found = detect_table(raw, ["T_out", "Q_hvac", "T"], train_rows=REFERENCE)
            cost["raw_detect_s"].append(time.perf_counter() - began)
            results["raw_detect"].append({"seed": seed, "fault": fault is not None, "onset": onset,
                                          **score(found.is_anomaly, onset)})
    summary: dict[str, Any] = {}
    for method, rows in results.items():
        faulty = [r for r in rows if r["fault"]]
        delays = [r["delay_h"] for r in faulty if r["delay_h"] is not None]
        healthy_days = sum(7 - REFERENCE / DAY_ROWS for r in rows if not r["fault"]) + sum(
            (r["onset"] - REFERENCE) / DAY_ROWS for r in faulty)
        summary[method] = {
            "detected": f"{sum(r['detected'] for r in faulty)}/{len(faulty)}",
            "delay_h_median": round(statistics.median(delays), 2) if delays else None,
            "delay_h_max": max(delays) if delays else None,
            "false_episodes": sum(r["false_episodes"] for r in rows),
            "false_episodes_per_healthy_week": round(7 * sum(r["false_episodes"] for r in rows) / healthy_days, 3)}
    print(json.dumps({"bench": "residuals", "weeks": args.weeks, "fault_ua_rise": args.fault,
                      "rows_per_week": 7 * DAY_ROWS, "reference_rows": REFERENCE, "summary": summary,
                      "seconds_median": {k: round(statistics.median(v), 4) for k, v in cost.items()},
                      "per_week": results, "cpus": os.cpu_count(), "python": platform.python_version()}))


if __name__ == "__main__":
    main()
