"""Cost of a co-simulation step through the FMU adapter (FMI 2.0 and 3.0, FMPy), against the native Python model of
the same equations (the baseline) in the same run, the wall time of one API-style isolated run (a fresh child
process, FMU unpacked, simulated, result sent back), a Monte Carlo ensemble of ``--samples`` days (native, FMU,
isolated FMU), and a calibration of three parameters on three days of 5-minute data (native, FMU). Prints one JSON
object.

The FMUs are the thermal zone of ``examples/fmus``, compiled with gcc into a temporary folder first.

    nice -n 19 .venv/bin/python bench/bench_fmu.py [--steps N] [--repeats R]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# Only the standard library at the top, the platform imported in main(): the script stays cheap to import.

INPUTS = {"Q_hvac": -2000.0, "T_out": 5.0}


def per_step_us(model: Any, steps: int, repeats: int) -> dict[str, float]:
    """Median over ``repeats`` runs of ``steps`` steps with inputs set every step (what a live coupling does)."""
    runs = []
    for _ in range(repeats):
        model.initialize({})
        began = time.perf_counter()
        for _ in range(steps):
            model.step(60.0, INPUTS)
        runs.append((time.perf_counter() - began) / steps * 1e6)
    return {"median_us": round(statistics.median(runs), 2), "min_us": round(min(runs), 2)}


def main() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples" / "fmus"))
    from build import build_fmu  # the example's build script, found through the path above

    from tvilling.adapters.fmu import FmuModel
    from tvilling.app.fmu_runner import SimulationRequest, simulate_isolated
    from tvilling.physics.thermal_zone import ThermalZone
    from tvilling.simulation.cosim import Span, simulate
    from tvilling.simulation.ensemble import parse_distribution, run_ensemble

    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=20_000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--samples", type=int, default=200, help="ensemble members (each a day of 1 440 steps)")
    args = ap.parse_args()
    out: dict[str, Any] = {"steps": args.steps, "repeats": args.repeats, "samples": args.samples,
                           "cpus": os.cpu_count(), "python": platform.python_version(), "machine": platform.machine()}
    with tempfile.TemporaryDirectory() as tmp:
        fmus = {v: build_fmu(v, Path(tmp)) for v in ("2.0", "3.0")}
        out["native_step"] = per_step_us(ThermalZone(), args.steps, args.repeats)
        for version, path in fmus.items():
            with FmuModel(path) as fmu:
                out[f"fmi{version[0]}_step"] = per_step_us(fmu, args.steps, args.repeats)
                began = time.perf_counter()
                snap = fmu.snapshot()
                for _ in range(1000):
                    fmu.restore(snap)
                out[f"fmi{version[0]}_restore_us"] = round((time.perf_counter() - began) / 1000 * 1e6, 2)
                began = time.perf_counter()
                day = simulate(fmu, Span(0.0, 86400.0, 60.0))
                out[f"fmi{version[0]}_day_in_process_s"] = round(time.perf_counter() - began, 4)
                assert len(day.times) == 1441
        began = time.perf_counter()
        FmuModel(fmus["2.0"]).close()
        out["fmi2_open_close_s"] = round(time.perf_counter() - began, 4)
        isolated = []
        for _ in range(3):
            began = time.perf_counter()
            result = simulate_isolated(Path(fmus["2.0"]).read_bytes(), SimulationRequest(), timeout_s=120)
            isolated.append(time.perf_counter() - began)
            assert result["steps"] == 1440
        out["isolated_day_s"] = {"median": round(statistics.median(isolated), 3), "min": round(min(isolated), 3)}
        # A Monte Carlo ensemble of the default day: in process (native model and FMU), then as the API runs it.
        spread = {"UA": parse_distribution("UA", "normal:500:50"), "C": parse_distribution("C", "uniform:4e6:6e6")}
        one_day = Span(0.0, 86400.0, 60.0)
        for label, model in (("native", ThermalZone()), ("fmi2", FmuModel(fmus["2.0"]))):
            began = time.perf_counter()
            run_ensemble(model, one_day, spread, samples=args.samples, values=INPUTS)
            out[f"{label}_ensemble_s"] = round(time.perf_counter() - began, 3)
            model.close()
        request = SimulationRequest(values=dict(INPUTS), samples=args.samples, max_steps=10**9,
                                    vary={k: d.as_dict() for k, d in spread.items()})
        began = time.perf_counter()
        simulate_isolated(Path(fmus["2.0"]).read_bytes(), request, timeout_s=600)
        out["isolated_ensemble_s"] = round(time.perf_counter() - began, 3)
        # Calibration: three days of 5-minute data made by the native model (UA 420 W/K, C 6 MJ/K, T_start 19,
        # noise 0.1 K), three parameters fitted within wide bounds, on the native model and on the FMU.
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        from tests.unit.simulation.test_calibrate import measured_zone

        from tvilling.simulation.calibrate import calibrate

        data = measured_zone()
        bounds = {"UA": (100.0, 2000.0), "C": (1e6, 1e8), "T_start": (10.0, 30.0)}
        for label, model in (("native", ThermalZone()), ("fmi2", FmuModel(fmus["2.0"]))):
            began = time.perf_counter()
            fit = calibrate(model, data, bounds)
            out[f"{label}_calibration"] = {"s": round(time.perf_counter() - began, 3), "runs": fit.evaluations,
                                           "UA": round(fit.values["UA"], 2), "C": round(fit.values["C"]),
                                           "rmse_before": round(fit.rmse_before["T"], 4),
                                           "rmse_after": round(fit.rmse_after["T"], 4)}
            model.close()
    for version in ("2", "3"):
        out[f"fmi{version}_vs_native"] = round(out[f"fmi{version}_step"]["median_us"]
                                               / out["native_step"]["median_us"], 1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
