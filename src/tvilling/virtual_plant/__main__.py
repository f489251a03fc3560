"""``python -m tvilling.virtual_plant --speed X --duration S --seed N --broker mqtt://127.0.0.1:PORT``

Runs the plant in its own process, publishes MQTT JSON telemetry, applies commands, and at the end writes the
ground truth (``--truth-out``) and prints a one-line JSON summary on stdout. Errors: one line on stderr, exit 1.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from datetime import UTC, datetime
from types import FrameType
from typing import TYPE_CHECKING

from tvilling.virtual_plant.errors import VirtualPlantError
from tvilling.virtual_plant.mqtt_json import MqttJsonEndpoint
from tvilling.virtual_plant.plant import Plant, PlantConfig
from tvilling.virtual_plant.runner import Endpoint, RunStats, run

if TYPE_CHECKING:
    from tvilling.virtual_plant.opcua_plc import OpcuaPlc


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m tvilling.virtual_plant", description=__doc__)
    ap.add_argument("--speed", type=float, default=3600.0, help="simulated seconds per wall-clock second")
    ap.add_argument("--duration", type=float, default=60.0, help="wall-clock seconds to run")
    ap.add_argument("--sim-days", type=float, default=None,
                    help="stop after this many simulated days (default: speed x duration)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--broker", default="mqtt://127.0.0.1:1883")
    ap.add_argument("--step", type=float, default=None,
                    help="physics step, simulated seconds (default: 60, or less when speed < 60)")
    ap.add_argument("--start", default="2026-05-04T00:00:00Z", help="simulated start time (ISO 8601 UTC)")
    ap.add_argument("--period-scale", type=float, default=1.0,
                    help="multiply every sensor's sampling period (e.g. 10 for 90-day demos: fewer messages)")
    ap.add_argument("--repair-hours", type=float, default=8.0,
                    help="a bearing breakdown is repaired this many simulated hours later (<= 0: never)")
    ap.add_argument("--no-faults", action="store_true", help="inject no faults")
    ap.add_argument("--mqtt-version", type=int, choices=(4, 5), default=5,
                    help="MQTT protocol: 5 (default) or 4 = 3.1.1 for brokers that only speak 3.1.1")
    ap.add_argument("--qos", type=int, choices=(0, 1), default=1, help="telemetry QoS")
    ap.add_argument("--truth-out", default=None, help="write the ground-truth JSON here at the end")
    ap.add_argument("--opcua-port", type=int, default=None,
                    help="also serve line-1 from an OPC UA PLC on 127.0.0.1:PORT (virtual_plant/opcua_plc.py)")
    ap.add_argument("--opcua-cert", default=None, help="PLC certificate: offer SignAndEncrypt only (with --opcua-key)")
    ap.add_argument("--opcua-key", default=None, help="PLC private key (PEM)")
    ap.add_argument("--opcua-trust", default=None, help="directory of trusted client certificates")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    plc: OpcuaPlc | None = None
    try:
        if args.speed <= 0 or args.duration <= 0:
            raise VirtualPlantError("--speed and --duration must be > 0")
        start = datetime.fromisoformat(args.start.replace("Z", "+00:00"))
        if start.tzinfo is None:
            start = start.replace(tzinfo=UTC)
        sim_s = args.sim_days * 86400.0 if args.sim_days is not None else args.speed * args.duration
        step = args.step if args.step is not None else min(60.0, max(1.0, args.speed))
        plant = Plant(PlantConfig(seed=args.seed, dt_s=step, start=start, horizon_s=sim_s,
                                  faults=[] if args.no_faults else None, period_scale=args.period_scale,
                                  repair_after_s=args.repair_hours * 3600.0 if args.repair_hours > 0 else None))
        endpoint = MqttJsonEndpoint(args.broker, qos=args.qos, protocol=args.mqtt_version)
        endpoint.connect()
        endpoints: list[Endpoint] = [endpoint]
        if args.opcua_port is not None:
            from tvilling.virtual_plant.opcua_plc import start_plc  # asyncua loads only when asked for

            plc = start_plc(plant, args.opcua_port, args.opcua_cert, args.opcua_key, args.opcua_trust)
            endpoints.append(plc)
    except (VirtualPlantError, ValueError) as exc:
        sys.stderr.write(f"virtual plant: {exc}\n")
        return 1

    def _terminate(_sig: int, _frame: FrameType | None) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a repeated SIGTERM must not cut the clean-up short
        raise KeyboardInterrupt  # unwind through the finally below so the ground truth is still written

    signal.signal(signal.SIGTERM, _terminate)
    stats = RunStats()
    interrupted = False
    try:
        run(plant, endpoints, speed=args.speed, duration_s=args.duration, sim_duration_s=sim_s, stats=stats)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        endpoint.close()
        if plc is not None:
            plc.close()
        if args.truth_out:
            plant.truth.dump(args.truth_out)
    summary = {
        "sim_days": plant.t_s / 86400.0, "interrupted": interrupted, "messages": stats.messages,
        "points": stats.points, "commands_applied": stats.commands_applied,
        "commands_rejected": stats.commands_rejected, "commands_duplicate": stats.commands_duplicate,
        "max_lag_s": stats.max_lag_s, "faults_injected": plant.truth.as_json()["faults_injected"],
    }
    sys.stdout.write(json.dumps(summary) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
