"""The runner without a broker: a fake endpoint and a fake clock."""

from typing import Any

from tvilling.virtual_plant import Plant, PlantConfig
from tvilling.virtual_plant.mqtt_json import IncomingCommand, parse_broker_url
from tvilling.virtual_plant.runner import run
from tvilling.virtual_plant.sensors import SensorReading


class FakeEndpoint:
    def __init__(self, commands: list[IncomingCommand]) -> None:
        self.pending = commands
        self.published: list[tuple[str, int, str, int]] = []
        self.acks: list[dict[str, Any]] = []

    def publish_readings(self, device: str, seq: int, source_ts: str, readings: list[SensorReading]) -> None:
        self.published.append((device, seq, source_ts, len(readings)))

    def take_commands(self) -> list[IncomingCommand]:
        out, self.pending = self.pending, []
        return out

    def ack(self, cmd: IncomingCommand, body: dict[str, Any]) -> None:
        self.acks.append(body)


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        self.t += 0.01
        return self.t

    def sleep(self, s: float) -> None:
        self.t += s


def _cmd(device: str, payload: dict[str, Any] | None, error: str = "") -> IncomingCommand:
    return IncomingCommand(device, payload, error, None, None)


def test_runner_paces_publishes_and_answers_commands_once() -> None:
    plant = Plant(PlantConfig(seed=1, faults=[]))
    c = {"command_id": "a", "command": "set_speed_pct", "value": 70}
    ep = FakeEndpoint([_cmd("pump-1", c), _cmd("pump-1", c), _cmd("pump-1", {"command": "stop"}),
                       _cmd("hall", {"command_id": "b", "command": "warp"}), _cmd("line-1", None, "not JSON")])
    clock = FakeClock()
    stats = run(plant, ep, speed=600.0, duration_s=10.0, clock=clock, sleep=clock.sleep)
    # 10 wall seconds at 600x = 6000 simulated seconds = 100 steps of 60 s (give or take the last one).
    assert 98 <= stats.steps <= 100
    assert plant.pump_train.motor.frequency_hz == 35.0
    statuses = [(a["command_id"], a["status"], a["duplicate"]) for a in ep.acks]
    assert statuses == [("a", "applied", False), ("a", "applied", True), (None, "rejected", False),
                        ("b", "rejected", False), (None, "rejected", False)]
    assert "unknown command" in ep.acks[3]["reason"] and ep.acks[4]["reason"] == "not JSON"
    assert stats.commands_applied == 1 and stats.commands_duplicate == 1 and stats.commands_rejected == 3
    # Per-device sequence numbers count up from 1 without gaps.
    by_dev: dict[str, list[int]] = {}
    for dev, seq, _, n in ep.published:
        by_dev.setdefault(dev, []).append(seq)
        assert n > 0
    assert all(seqs == list(range(1, len(seqs) + 1)) for seqs in by_dev.values())
    assert stats.messages == len(ep.published)


def test_runner_stops_at_simulated_duration() -> None:
    plant = Plant(PlantConfig(seed=1, faults=[]))
    clock = FakeClock()
    run(plant, FakeEndpoint([]), speed=1e9, duration_s=100.0, sim_duration_s=3600.0, clock=clock,
        sleep=clock.sleep)
    assert plant.t_s == 3600.0


def test_broker_url_parsing() -> None:
    assert parse_broker_url("mqtt://127.0.0.1:18830") == ("127.0.0.1", 18830)
    assert parse_broker_url("mqtt://localhost") == ("localhost", 1883)
