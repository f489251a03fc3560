"""``python -m tvilling.virtual_plant --speed X --duration S --seed N --broker mqtt://127.0.0.1:PORT``

Runs the plant in its own process, publishes MQTT JSON telemetry (``--sparkplug-devices``: those devices as
Sparkplug B instead), applies commands, and at the end writes the
ground truth (``--truth-out``) and prints a one-line JSON summary on stdout. Errors: one line on stderr, exit 1.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from datetime import UTC, datetime
from types import FrameType
from typing import TYPE_CHECKING, Any

from tvilling.virtual_plant.commands import COMMANDS
from tvilling.virtual_plant.errors import VirtualPlantError
from tvilling.virtual_plant.mqtt_json import IncomingCommand, MqttJsonEndpoint
from tvilling.virtual_plant.plant import Plant, PlantConfig
from tvilling.virtual_plant.runner import Endpoint, RunStats, run
from tvilling.virtual_plant.sensors import SensorReading
from tvilling.virtual_plant.sparkplug import SparkplugEndpoint, WithoutDevices

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
    ap.add_argument("--sparkplug-devices", default="",
                    help="comma-separated devices to publish as Sparkplug B instead of MQTT JSON (e.g. chiller-1,hall)")
    ap.add_argument("--sparkplug-group", default="bottling", help="Sparkplug group id")
    ap.add_argument("--sparkplug-edge", default="virtual-plant", help="Sparkplug edge node id")
    return ap


def sparkplug_endpoint(plant: Plant, args: argparse.Namespace, devices: list[str]) -> SparkplugEndpoint:
    """A connected Sparkplug B edge node for ``devices``: their sensors as metrics, their commands as writable ones."""
    unknown = sorted(set(devices) - set(plant.devices()))
    if unknown:
        raise VirtualPlantError(f"--sparkplug-devices: unknown device(s) {', '.join(unknown)}; "
                                f"known: {', '.join(plant.devices())}")
    metrics = {d: [(s.spec.name, s.spec.unit) for s in plant.sensors if s.spec.device == d] for d in devices}
    commands = {d: [(c, spec.unit, spec.lo is not None) for (dev, c), spec in COMMANDS.items() if dev == d]
                for d in devices}
    spb = SparkplugEndpoint(args.broker, metrics, commands, group_id=args.sparkplug_group,
                            edge_node_id=args.sparkplug_edge, protocol=args.mqtt_version)
    spb.connect()
    return spb


class ServedPoints:
    """A runner endpoint that only counts the readings another front serves (the line PLC: line-1 throughput), so
    the summary can say how many points went over that protocol (``points_opcua``) and a consumer can reconcile
    per protocol: an OPC UA subscription is a live view and may skip values, MQTT with QoS 1 does not."""

    def __init__(self, device: str, names: set[str]) -> None:
        self.device, self.names, self.points = device, names, 0

    def publish_readings(self, device: str, seq: int, source_ts: str, readings: list[SensorReading]) -> None:
        if device == self.device:
            self.points += sum(r.name in self.names for r in readings)

    def take_commands(self) -> list[IncomingCommand]:
        return []

    def ack(self, cmd: IncomingCommand, body: dict[str, Any]) -> None:
        return None


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    plc: OpcuaPlc | None = None
    served: ServedPoints | None = None
    spb: SparkplugEndpoint | None = None
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
        spb_devices = [d for d in args.sparkplug_devices.split(",") if d.strip()]
        if spb_devices:
            spb = sparkplug_endpoint(plant, args, spb_devices)
            endpoints = [WithoutDevices(endpoint, set(spb_devices)), spb]
        if args.opcua_port is not None:
            from tvilling.virtual_plant.opcua_plc import DEVICE, VARIABLES, start_plc  # asyncua only when asked

            plc = start_plc(plant, args.opcua_port, args.opcua_cert, args.opcua_key, args.opcua_trust)
            served = ServedPoints(DEVICE, set(VARIABLES))
            endpoints += [plc, served]
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
        if spb is not None:
            spb.close()
        endpoint.close()
        if plc is not None:
            plc.close()
        if args.truth_out:
            plant.truth.dump(args.truth_out)
    summary = {
        "sim_days": plant.t_s / 86400.0, "interrupted": interrupted, "messages": stats.messages,
        "points": stats.points, "points_opcua": served.points if served is not None else 0,
        "commands_applied": stats.commands_applied,
        "commands_rejected": stats.commands_rejected, "commands_duplicate": stats.commands_duplicate,
        "max_lag_s": stats.max_lag_s, "leases_held": stats.leases_held, "leases_expired": stats.leases_expired,
        "leases_released": stats.leases_released, "lease_messages_rejected": stats.lease_messages_rejected,
        "faults_injected": plant.truth.as_json()["faults_injected"],
    }
    sys.stdout.write(json.dumps(summary) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
