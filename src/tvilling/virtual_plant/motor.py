"""Inverter-fed induction motor: slip, losses, current and a first-order winding thermal model."""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass(frozen=True)
class MotorParams:
    rated_kw: float = 11.0
    poles: int = 4
    rated_hz: float = 50.0
    rated_slip: float = 0.02
    rated_efficiency: float = 0.91
    fixed_loss_share: float = 0.35  # iron + friction share of rated losses; the rest is copper (∝ torque²)
    rated_voltage_v: float = 400.0
    rated_current_a: float = 21.0
    magnetising_share: float = 0.35  # magnetising current as a fraction of rated current
    winding_rise_rated_c: float = 80.0  # winding rise over ambient at rated losses (insulation class B-ish)
    thermal_tau_s: float = 1800.0
    trip_winding_c: float = 155.0  # thermal protection trips here


@dataclass
class MotorState:
    speed_rpm: float = 0.0
    torque_nm: float = 0.0
    shaft_power_kw: float = 0.0
    electrical_power_kw: float = 0.0
    efficiency: float = 0.0
    current_a: float = 0.0
    slip: float = 0.0


@dataclass
class InductionMotor:
    """Constant V/f drive: slip speed (rpm) at a given torque is independent of frequency.

    ``frequency_hz`` is the inverter output; ``running`` False means the drive is off (or tripped).
    """

    name: str
    params: MotorParams = field(default_factory=MotorParams)
    frequency_hz: float = 50.0
    running: bool = True
    tripped: bool = False
    winding_c: float = 25.0
    state: MotorState = field(default_factory=MotorState)

    @property
    def sync_rpm(self) -> float:
        return 120.0 * self.frequency_hz / self.params.poles if self.running and not self.tripped else 0.0

    def rated_torque_nm(self) -> float:
        p = self.params
        rated_rpm = 120.0 * p.rated_hz / p.poles * (1.0 - p.rated_slip)
        return p.rated_kw * 1000.0 / (rated_rpm * 2.0 * math.pi / 60.0)

    def speed_at(self, load_torque_nm: float) -> float:
        """Shaft speed (rpm) for a load torque, linear region of the torque-slip curve."""
        p = self.params
        sync = self.sync_rpm
        if sync <= 0.0:
            return 0.0
        slip_rpm = p.rated_slip * 120.0 * p.rated_hz / p.poles * load_torque_nm / self.rated_torque_nm()
        return max(0.0, sync - slip_rpm)

    def step(self, dt_s: float, inputs: dict[str, float]) -> MotorState:
        """Inputs: ``shaft_power_kw`` (the load's demand at the current speed), ``speed_rpm``, ``ambient_c``."""
        p = self.params
        ambient_c = inputs.get("ambient_c", 25.0)
        speed = inputs.get("speed_rpm", 0.0) if self.sync_rpm > 0 else 0.0
        shaft_kw = inputs.get("shaft_power_kw", 0.0) if speed > 0 else 0.0
        omega = speed * 2.0 * math.pi / 60.0
        torque = shaft_kw * 1000.0 / omega if omega > 0 else 0.0
        t_rel = torque / self.rated_torque_nm()
        rated_losses_kw = p.rated_kw * (1.0 / p.rated_efficiency - 1.0)
        f_rel = self.frequency_hz / p.rated_hz if self.sync_rpm > 0 else 0.0
        losses_kw = 0.0
        if self.sync_rpm > 0:
            losses_kw = rated_losses_kw * (p.fixed_loss_share * f_rel + (1.0 - p.fixed_loss_share) * t_rel**2)
        elec_kw = shaft_kw + losses_kw
        current = 0.0
        if self.sync_rpm > 0:
            i_mag = p.magnetising_share * p.rated_current_a
            i_torque = math.sqrt(1.0 - p.magnetising_share**2) * p.rated_current_a * t_rel
            current = math.hypot(i_mag, i_torque)
        # Self-ventilated: the fan slows with the shaft, so cooling worsens at low speed.
        cooling = 0.3 + 0.7 * min(1.0, f_rel)
        target_c = ambient_c + p.winding_rise_rated_c * losses_kw / rated_losses_kw / cooling
        self.winding_c = target_c + (self.winding_c - target_c) * math.exp(-dt_s / p.thermal_tau_s)
        if self.winding_c >= p.trip_winding_c:
            self.tripped = True
        sync = self.sync_rpm
        self.state = MotorState(
            speed_rpm=speed, torque_nm=torque, shaft_power_kw=shaft_kw, electrical_power_kw=elec_kw,
            efficiency=shaft_kw / elec_kw if elec_kw > 0 else 0.0, current_a=current,
            slip=(sync - speed) / sync if sync > 0 else 0.0,
        )
        return self.state
