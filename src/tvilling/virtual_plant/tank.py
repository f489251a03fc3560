"""The filler's buffer tank and the level controller that throttles the pump's discharge valve.

The pump fills the buffer; the filler draws from it. A PI level controller moves the valve command — so a sticking
valve shows its classic signature: the controller output ramps while the stem stays put, then the stem jumps,
and level and flow cycle (stick-slip limit cycle). When the pump stops, the buffer carries the line for a few
minutes before the filler starves.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class BufferTank:
    name: str
    volume_m3: float = 5.0
    level_frac: float = 0.6

    def step(self, dt_s: float, inputs: dict[str, float]) -> float:
        """Inputs: ``inflow_m3h`` (pump) and ``outflow_m3h`` (line draw, already limited to what is available).
        Returns the new level fraction (0 = empty, 1 = full; overflow returns to the supply tank)."""
        net_m3 = (inputs.get("inflow_m3h", 0.0) - inputs.get("outflow_m3h", 0.0)) * dt_s / 3600.0
        self.level_frac = min(1.0, max(0.0, self.level_frac + net_m3 / self.volume_m3))
        return self.level_frac

    def available_outflow_m3h(self, dt_s: float, inflow_m3h: float) -> float:
        """The most the filler can draw over the next step: the inflow plus what is stored."""
        if dt_s <= 0.0:
            return inflow_m3h if self.level_frac <= 0.0 else float("inf")
        return inflow_m3h + self.level_frac * self.volume_m3 * 3600.0 / dt_s


@dataclass
class LevelController:
    """PI controller: level error (fraction) → valve command (%). ``auto`` False leaves the valve to the operator.

    Gains are chosen for the tank/valve pair above so the loop stays well damped from 1 s to 300 s steps.
    """

    setpoint_frac: float = 0.6
    kp_pct: float = 100.0  # % valve per unit level error
    ti_s: float = 3600.0
    bias_pct: float = 50.0
    integral_pct: float = 0.0
    auto: bool = True

    def output(self, dt_s: float, level_frac: float) -> float:
        e = self.setpoint_frac - level_frac
        p = self.kp_pct * e
        # Conditional integration (anti-windup): stop integrating while the output is saturated.
        unclamped = self.bias_pct + p + self.integral_pct + self.kp_pct * e * dt_s / self.ti_s
        if 0.0 <= unclamped <= 100.0:
            self.integral_pct += self.kp_pct * e * dt_s / self.ti_s
        return min(100.0, max(0.0, self.bias_pct + p + self.integral_pct))

    def take_over(self, valve_pct: float, level_frac: float) -> None:
        """Bumpless transfer from manual: start from the valve where the operator left it."""
        self.integral_pct = valve_pct - self.bias_pct - self.kp_pct * (self.setpoint_frac - level_frac)
        self.auto = True
