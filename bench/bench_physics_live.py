"""Cost of a physics model coupled to a live twin: the FMU in its own long-lived process (``app.fmu_session``)
against the same FMU in process (the baseline), in the same run. Prints one JSON object.

Measures: starting a session (a fresh interpreter that loads the FMU); one step per call through the pipe (what a
coupling does when readings arrive one step at a time) and 288 steps per call (catching up a day); the in-process
FMU step; and a whole ``TwinCoupling.update`` per reading (three properties, one model step, residual chart) on
a session — the work the physics service does per telemetry event.

    nice -n 19 .venv/bin/python bench/bench_physics_live.py [--calls 2000]
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

U = {"T_out": 5.0, "Q_hvac": -2000.0}


def main() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples" / "fmus"))
    from build import build_fmu  # the example's build script, found through the path above

    from tvilling.adapters.fmu import FmuModel
    from tvilling.app.fmu_session import FmuSession
    from tvilling.app.monitoring_twin import iso
    from tvilling.app.physics_config import parse_config
    from tvilling.app.physics_twin import TwinCoupling

    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=2000)
    args = ap.parse_args()
    out: dict[str, Any] = {"bench": "physics_live", "calls": args.calls, "cpus": os.cpu_count(),
                           "python": platform.python_version()}
    with tempfile.TemporaryDirectory() as tmp:
        artifact = Path(build_fmu("2.0", Path(tmp))).read_bytes()
        starts = []
        for _ in range(3):
            began = time.perf_counter()
            session = FmuSession(artifact, timeout_s=30)
            session.initialize({}, 0.0)
            starts.append(time.perf_counter() - began)
            session.close()
        out["session_start_s"] = round(statistics.median(starts), 3)
        with FmuSession(artifact, timeout_s=30) as session:
            session.initialize({}, 0.0)
            began = time.perf_counter()
            for _ in range(args.calls):
                session.steps(300.0, [U])
            out["session_one_step_per_call_us"] = round((time.perf_counter() - began) / args.calls * 1e6, 1)
            began = time.perf_counter()
            for _ in range(20):
                session.steps(300.0, [U] * 288)
            out["session_288_steps_per_call_us_per_step"] = round((time.perf_counter() - began) / (20 * 288) * 1e6, 2)
        with FmuModel(Path(tmp) / "ThermalZone-fmi2.fmu") as model:  # the baseline: the same FMU in process
            model.initialize({})
            began = time.perf_counter()
            for _ in range(args.calls):
                model.step(300.0, U)
            out["in_process_step_us"] = round((time.perf_counter() - began) / args.calls * 1e6, 1)
        doc = {"couplings": [{"model": "dtmi:example:Zone;1", "fmu": "fmu-0123456789abcdef", "step": 300,
                              "inputs": {"T_out": "outdoor", "Q_hvac": "hvac"}, "outputs": {"T": "air"},
                              "settle_hours": 0, "reference_hours": 1}]}
        spec = parse_config(doc).couplings[0]
        coupling = TwinCoupling(spec, lambda: FmuSession(artifact, timeout_s=30))
        t0 = 1.8e9
        coupling.update({p: {"new": 20.0, "source_time": iso(t0)} for p in ("outdoor", "hvac", "air")})
        began = time.perf_counter()
        for k in range(1, args.calls + 1):
            at = iso(t0 + 300.0 * k)
            coupling.update({"outdoor": {"new": 5.0, "source_time": at}, "hvac": {"new": -2000.0, "source_time": at},
                             "air": {"new": 20.0 - 0.001 * k, "source_time": at}})
        out["coupling_update_per_reading_us"] = round((time.perf_counter() - began) / args.calls * 1e6, 1)
        assert coupling.stats.steps == args.calls and coupling.snapshot()["phase"] == "watching"
        coupling.close()
    out["pipe_overhead_us"] = round(out["session_one_step_per_call_us"] - out["in_process_step_us"], 1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
