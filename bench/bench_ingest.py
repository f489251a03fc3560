"""Wrapper for ``tvilling bench ingest`` (same options): prints one JSON object.

    .venv/bin/python bench/bench_ingest.py --messages 20000 --points-per-message 10

Raw and platform phases drain the same prefilled stream through the same MQTT adapter; the latency phase is
paced separately; the JSON carries the load average. See the module docstring of ``tvilling.cli.bench_ingest``.
"""

from __future__ import annotations

import argparse
import json

from tvilling.cli.bench_ingest import run_bench


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--broker", default=None, help="mqtt://host:port (default: a local mosquitto)")
    ap.add_argument("--messages", type=int, default=20_000)
    ap.add_argument("--points-per-message", type=int, default=10)
    ap.add_argument("--devices", type=int, default=10)
    ap.add_argument("--latency-seconds", type=float, default=5.0)
    ap.add_argument("--latency-rate", type=float, default=10_000, help="points/s offered in the latency phase")
    a = ap.parse_args()
    print(json.dumps(run_bench(a.broker, a.messages, a.points_per_message, a.devices, a.latency_seconds,
                               a.latency_rate)))


if __name__ == "__main__":
    main()
