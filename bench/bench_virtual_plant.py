"""How fast the virtual plant runs flat out: simulated days per wall-clock minute for the physics alone
(the baseline, same run) and for physics + sensor sampling + MQTT JSON payload encoding (everything the
publisher does short of the socket). Prints one JSON object.

    .venv/bin/python bench/bench_virtual_plant.py [--days 10] [--step 60] [--period-scale 1]
"""

from __future__ import annotations

import argparse
import json
import platform
import time

from tvilling.virtual_plant import Plant, PlantConfig


def _physics_only(days: float, step: float, scale: float) -> float:
    p = Plant(PlantConfig(seed=1, dt_s=step, horizon_s=days * 86400.0, period_scale=scale))
    n = int(days * 86400.0 / step)
    t0 = time.perf_counter()
    for _ in range(n):
        p.step()
    return time.perf_counter() - t0


def _with_payloads(days: float, step: float, scale: float) -> tuple[float, int, int]:
    p = Plant(PlantConfig(seed=1, dt_s=step, horizon_s=days * 86400.0, period_scale=scale))
    n = int(days * 86400.0 / step)
    messages = points = 0
    t0 = time.perf_counter()
    for seq in range(n):
        p.step()
        ts = p.now().isoformat().replace("+00:00", "Z")
        for device, rs in p.readings().items():
            payload = {"device_id": device, "seq": seq, "source_ts": ts, "points": {r.name: r.value for r in rs},
                       "units": {r.name: r.unit for r in rs}}
            json.dumps(payload, separators=(",", ":")).encode()
            messages += 1
            points += len(rs)
    return time.perf_counter() - t0, messages, points


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--days", type=float, default=10.0)
    ap.add_argument("--step", type=float, default=60.0)
    ap.add_argument("--period-scale", type=float, default=1.0)
    args = ap.parse_args()
    base = _physics_only(args.days, args.step, args.period_scale)
    full, messages, points = _with_payloads(args.days, args.step, args.period_scale)
    print(json.dumps({
        "sim_days": args.days, "step_s": args.step, "period_scale": args.period_scale,
        "physics_only_s": round(base, 2), "physics_only_days_per_min": round(args.days / base * 60.0, 1),
        "with_payloads_s": round(full, 2), "with_payloads_days_per_min": round(args.days / full * 60.0, 1),
        "messages": messages, "points": points, "us_per_step": round(full / (args.days * 86400 / args.step) * 1e6, 1),
        "python": platform.python_version(),
    }))


if __name__ == "__main__":
    main()
