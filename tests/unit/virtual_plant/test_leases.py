"""Supervisory leases on the device side (reliability C-13): a leased setpoint holds while its holder renews, falls
back to the local value when the renewals stop or the holder releases it; a plain command ends the lease and sets
the local value; malformed lease fields are refused with a reason, never half-applied."""

from __future__ import annotations

from typing import Any

import pytest

from tvilling.virtual_plant import Plant, PlantConfig
from tvilling.virtual_plant.leases import LeaseError, parse_lease
from tvilling.virtual_plant.mqtt_json import IncomingCommand, IncomingLease
from tvilling.virtual_plant.runner import CommandHandler, RunStats, run


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def _cmd(device: str, command: str, value: float | None, cid: str, **lease: Any) -> IncomingCommand:
    body: dict[str, Any] = {"command_id": cid, "command": command, **lease}
    if value is not None:
        body["value"] = value
    return IncomingCommand(device, body, "", None, None)


def _setpoints(plant: Plant) -> tuple[float, float]:
    return plant.hall.heating_setpoint_c, plant.hall.cooling_setpoint_c


@pytest.fixture
def rig() -> tuple[Plant, CommandHandler, Clock, RunStats]:
    plant = Plant(PlantConfig(seed=1, faults=[]))
    clock = Clock()
    return plant, CommandHandler(plant, clock), clock, RunStats()


def test_a_leased_setpoint_holds_while_renewed_and_falls_back_when_renewals_stop(rig: Any) -> None:
    plant, handler, clock, stats = rig
    assert _setpoints(plant) == (19.0, 24.0)
    ack = handler.handle(_cmd("hall", "set_heating_setpoint_c", 21.5, "c1", lease_s=5, holder="loop:h"), stats)
    assert ack["status"] == "applied" and ack["lease_s"] == 5.0
    handler.handle(_cmd("hall", "set_cooling_setpoint_c", 22.75, "c2", lease_s=5, holder="loop:h"), stats)
    assert _setpoints(plant) == (21.5, 22.75)
    for _ in range(4):  # renewed every 4 s: held for 16 s, three times the lease
        clock.t += 4.0
        handler.renew(IncomingLease("hall", {"holder": "loop:h", "lease_s": 5}), stats)
        handler.expire(stats)
        assert _setpoints(plant) == (21.5, 22.75)
    handler.renew(IncomingLease("hall", {"holder": "someone-else", "lease_s": 5}), stats)  # not theirs
    handler.renew(IncomingLease("pump-1", {"holder": "loop:h", "lease_s": 5}), stats)  # not this device
    clock.t += 4.99
    handler.expire(stats)
    assert _setpoints(plant) == (21.5, 22.75)
    clock.t += 0.01  # the holder went quiet: exactly one lease after the last renewal, both points fall back
    handler.expire(stats)
    assert _setpoints(plant) == (19.0, 24.0)
    assert stats.leases_expired == 2 and stats.leases_released == 0
    clock.t += 1.0  # a renewal after the revert does not re-arm anything
    handler.renew(IncomingLease("hall", {"holder": "loop:h", "lease_s": 5}), stats)
    handler.handle(_cmd("hall", "set_heating_setpoint_c", 20.0, "c3"), stats)  # a person's setting: no lease
    clock.t += 60.0
    handler.expire(stats)
    assert _setpoints(plant) == (20.0, 24.0) and stats.leases_expired == 2


def test_release_falls_back_at_once_and_a_plain_command_takes_over(rig: Any) -> None:
    plant, handler, clock, stats = rig
    handler.handle(_cmd("hall", "set_heating_setpoint_c", 18.0, "p1"), stats)  # the operator's local value
    handler.handle(_cmd("hall", "set_heating_setpoint_c", 21.0, "c1", lease_s=5, holder="loop:h"), stats)
    handler.handle(_cmd("chiller-1", "set_setpoint_c", 6.0, "c2", lease_s=5, holder="loop:h"), stats)
    handler.renew(IncomingLease("hall", {"holder": "loop:h", "lease_s": 0}), stats)
    assert plant.hall.heating_setpoint_c == 18.0 and stats.leases_released == 1
    assert plant.chiller.setpoint_c == 6.0  # another device: still held
    handler.handle(_cmd("chiller-1", "set_setpoint_c", 7.0, "p2"), stats)  # a person takes over: lease ends
    clock.t += 60.0
    handler.expire(stats)
    assert plant.chiller.setpoint_c == 7.0 and stats.leases_expired == 0


@pytest.mark.parametrize(("lease", "reason"), [
    ({"lease_s": 0, "holder": "h"}, "lease_s must be in (0"),
    ({"lease_s": -1, "holder": "h"}, "lease_s must be in"),
    ({"lease_s": "5", "holder": "h"}, "finite number"),
    ({"lease_s": float("nan"), "holder": "h"}, "finite number"),
    ({"lease_s": True, "holder": "h"}, "finite number"),
    ({"lease_s": 5}, "holder must be"),
    ({"lease_s": 5, "holder": ""}, "holder must be"),
])
def test_a_malformed_lease_refuses_the_command_and_changes_nothing(rig: Any, lease: dict[str, Any],
                                                                   reason: str) -> None:
    plant, handler, _clock, stats = rig
    ack = handler.handle(_cmd("hall", "set_heating_setpoint_c", 21.0, "c1", **lease), stats)
    assert ack["status"] == "rejected" and reason in ack["reason"], ack
    assert plant.hall.heating_setpoint_c == 19.0 and not handler.leases.held


def test_a_command_without_a_value_to_fall_back_to_takes_no_lease(rig: Any) -> None:
    plant, handler, _clock, stats = rig
    ack = handler.handle(_cmd("pump-1", "stop", None, "c1", lease_s=5, holder="h"), stats)
    assert ack["status"] == "rejected" and "takes no lease" in ack["reason"]
    assert plant.pump_train.motor.running  # not applied


def test_bad_renewals_are_counted_not_fatal(rig: Any) -> None:
    _plant, handler, _clock, stats = rig
    for payload in (None, {"holder": "h"}, {"holder": "h", "lease_s": 1e9}, {"lease_s": 5}):
        handler.renew(IncomingLease("hall", payload), stats)
    assert stats.lease_messages_rejected == 4
    assert parse_lease({"holder": "h", "lease_s": 0}, renewal=True) == (0.0, "h")
    assert parse_lease({"command_id": "x"}) is None
    with pytest.raises(LeaseError):
        parse_lease({}, renewal=True)


class Wall:
    """A wall clock the runner advances itself (each reading 10 ms later; sleeping moves it on)."""

    t = 0.0

    def __call__(self) -> float:
        self.t += 0.01
        return self.t

    def sleep(self, s: float) -> None:
        self.t += s


class _Endpoint:
    """A front that delivers one leased command, then renewals for ``renew_for`` wall seconds, then nothing."""

    def __init__(self, clock: Any, renew_for: float) -> None:
        self.clock, self.renew_for = clock, renew_for
        self.commands: list[IncomingCommand | IncomingLease] = [
            _cmd("hall", "set_heating_setpoint_c", 22.0, "c1", lease_s=2, holder="loop:h")]
        self.acks: list[dict[str, Any]] = []
        self.last_renewal = -1.0

    def publish_readings(self, *_a: Any) -> None:
        return None

    def take_commands(self) -> list[IncomingCommand | IncomingLease]:
        out: list[IncomingCommand | IncomingLease] = list(self.commands)
        self.commands = []
        now = self.clock.t
        if now < self.renew_for and now - self.last_renewal >= 0.5:
            self.last_renewal = now
            out.append(IncomingLease("hall", {"holder": "loop:h", "lease_s": 2}))
        return out

    def ack(self, _cmd: IncomingCommand, body: dict[str, Any]) -> None:
        self.acks.append(body)


def test_the_runner_reverts_on_its_own_clock_between_steps() -> None:
    plant = Plant(PlantConfig(seed=1, faults=[]))
    wall = Wall()
    ep = _Endpoint(wall, renew_for=5.0)
    reverted_at: list[float] = []
    stats = RunStats()
    original = plant.hall.heating_setpoint_c

    def watch(s: float) -> None:
        wall.sleep(s)
        if not reverted_at and plant.hall.heating_setpoint_c == original and ep.acks:
            reverted_at.append(wall.t)

    run(plant, ep, speed=60.0, duration_s=12.0, clock=wall, sleep=watch, stats=stats)
    assert ep.acks[0]["status"] == "applied"
    assert stats.leases_expired == 1 and len(reverted_at) == 1
    assert 5.0 + 1.5 <= reverted_at[0] <= 5.0 + 2.0 + 0.1  # the last renewal (≤ 5 s) + the 2 s lease


def test_a_release_then_a_new_leased_command_in_one_tick_keeps_the_new_lease() -> None:
    """Messages are taken in the order they arrived: the release reverts the old value, the new command holds."""
    plant = Plant(PlantConfig(seed=1, faults=[]))

    wall = Wall()
    ep = _Endpoint(wall, renew_for=0.0)
    ep.commands = [_cmd("hall", "set_heating_setpoint_c", 22.0, "c1", lease_s=30, holder="loop:h"),
                   IncomingLease("hall", {"holder": "loop:h", "lease_s": 0}),
                   _cmd("hall", "set_heating_setpoint_c", 21.0, "c2", lease_s=30, holder="loop:h")]
    stats = run(plant, ep, speed=60.0, duration_s=2.0, clock=wall, sleep=wall.sleep)
    assert plant.hall.heating_setpoint_c == 21.0 and stats.leases_released == 1 and stats.leases_held == 1
