"""Centrifugal pump on a pipe system with a discharge control valve.

Operating point = intersection of the pump curve H(Q, n) with the system curve through the valve. The pump curve
obeys the affinity laws (Q ∝ n, H ∝ n², P ∝ n³ along affine points); low suction pressure drives the NPSH margin
negative, and cavitation then cuts head and adds broadband vibration.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

RHO_KG_M3 = 998.0  # product (water-like) density
G_M_S2 = 9.81


def vapour_pressure_pa(temp_c: float) -> float:
    """Water vapour pressure (Tetens/Magnus form), Pa; good to a few % over 0..60 °C."""
    return 610.78 * math.exp(17.27 * temp_c / (temp_c + 237.3))


@dataclass
class Valve:
    """Equal-percentage discharge valve with a rate-limited actuator and optional stiction (sticking fault).

    ``stiction_pct`` is the dead band: the stem only moves once the command differs from the actual position by
    more than it, and then jumps (stick-slip), as a sticking valve does.
    """

    name: str
    rangeability: float = 30.0
    k_full_m_per_m3h2: float = 7.0 / 3600.0  # pressure-drop coefficient fully open, m per (m³/h)²
    stroke_pct_per_s: float = 5.0
    command_pct: float = 100.0
    position_pct: float = 100.0
    stiction_pct: float = 0.0

    def step(self, dt_s: float, inputs: dict[str, float] | None = None) -> None:
        del inputs
        error = self.command_pct - self.position_pct
        if self.stiction_pct > 0.0 and abs(error) <= self.stiction_pct:
            return  # stuck: friction holds the stem
        move = max(-self.stroke_pct_per_s * dt_s, min(self.stroke_pct_per_s * dt_s, error))
        self.position_pct = min(100.0, max(0.0, self.position_pct + move))

    def k_m_per_m3h2(self) -> float:
        """Head-loss coefficient at the current position; inf when shut."""
        x = self.position_pct / 100.0
        if x <= 0.005:
            return math.inf
        # Equal-percentage trim: Cv = Cv_max * R^(x-1), and head loss ∝ 1/Cv².
        return float(self.k_full_m_per_m3h2 * self.rangeability ** (2.0 * (1.0 - x)))


@dataclass(frozen=True)
class PumpParams:
    """Pump and pipe data at rated speed."""

    rated_rpm: float = 1470.0
    shutoff_head_m: float = 40.0
    bep_flow_m3h: float = 60.0
    bep_head_m: float = 32.0
    shutoff_power_kw: float = 3.0  # power at closed valve (disc friction, recirculation)
    bep_power_kw: float = 6.98
    npshr_bep_m: float = 3.0
    static_head_m: float = 10.0
    pipe_k_m_per_m3h2: float = 15.0 / 3600.0
    cavitation_head_loss: float = 0.3  # fraction of head lost at full cavitation
    cavitation_vibration_g: float = 0.6  # broadband vibration added at full cavitation


@dataclass(frozen=True)
class PumpState:
    flow_m3h: float
    head_m: float
    shaft_power_kw: float
    efficiency: float
    suction_pressure_bar: float  # absolute
    discharge_pressure_bar: float  # absolute
    npsh_available_m: float
    npsh_required_m: float
    cavitation: float  # 0 = none .. 1 = fully developed
    vibration_broadband_g: float


@dataclass
class CentrifugalPump:
    """Pump curve H = H0·r² − b·Q², power curve P = P0·r³ + c·Q·r² (r = n / n_rated), both affine-consistent."""

    name: str
    valve: Valve
    params: PumpParams = field(default_factory=PumpParams)
    state: PumpState | None = None

    def operating_point(self, speed_rpm: float, suction_pressure_bar: float, product_temp_c: float) -> PumpState:
        p = self.params
        r = max(speed_rpm, 0.0) / p.rated_rpm
        b = (p.shutoff_head_m - p.bep_head_m) / p.bep_flow_m3h**2
        k_sys = p.pipe_k_m_per_m3h2 + self.valve.k_m_per_m3h2()
        npsha = (suction_pressure_bar * 1e5 - vapour_pressure_pa(product_temp_c)) / (RHO_KG_M3 * G_M_S2)
        cav = 0.0
        flow = head = 0.0
        npshr = p.npshr_bep_m * r**2
        # A few fixed-point passes: NPSH required depends on flow, and cavitation cuts the head that sets flow.
        for _ in range(4):
            head0 = p.shutoff_head_m * r**2 * (1.0 - p.cavitation_head_loss * cav)
            flow = math.sqrt(max(0.0, head0 - p.static_head_m) / (b + k_sys)) if math.isfinite(k_sys) else 0.0
            head = head0 - b * flow**2
            q_rel = flow / (p.bep_flow_m3h * r) if r > 0 else 0.0
            npshr = p.npshr_bep_m * r**2 * (0.4 + 0.6 * q_rel**2)
            # Cavitation starts a little above NPSHr (NPSHr itself is the 3 %-head-drop point).
            cav = min(1.0, max(0.0, (1.15 * npshr - npsha) / max(npshr, 1e-6))) if r > 0 else 0.0
        c = (p.bep_power_kw - p.shutoff_power_kw) / p.bep_flow_m3h
        power = p.shutoff_power_kw * r**3 + c * flow * r**2 if r > 0 else 0.0
        hydraulic_kw = RHO_KG_M3 * G_M_S2 * (flow / 3600.0) * head / 1000.0
        return PumpState(
            flow_m3h=flow, head_m=head, shaft_power_kw=power,
            efficiency=hydraulic_kw / power if power > 0 else 0.0,
            suction_pressure_bar=suction_pressure_bar,
            discharge_pressure_bar=suction_pressure_bar + RHO_KG_M3 * G_M_S2 * head / 1e5,
            npsh_available_m=npsha, npsh_required_m=npshr, cavitation=cav,
            vibration_broadband_g=p.cavitation_vibration_g * cav * r**2,
        )

    def step(self, dt_s: float, inputs: dict[str, float]) -> PumpState:
        """Inputs: ``speed_rpm``, ``suction_pressure_bar`` (absolute), ``product_temp_c``."""
        self.valve.step(dt_s)
        self.state = self.operating_point(inputs.get("speed_rpm", 0.0), inputs.get("suction_pressure_bar", 1.3),
                                          inputs.get("product_temp_c", 15.0))
        return self.state


def pump_curve(pump: CentrifugalPump, speed_rpm: float, flows_m3h: np.ndarray) -> np.ndarray:
    """Head (m) of the pump at ``speed_rpm`` for each flow, without cavitation (for plots and checks)."""
    p = pump.params
    r = speed_rpm / p.rated_rpm
    b = (p.shutoff_head_m - p.bep_head_m) / p.bep_flow_m3h**2
    return np.asarray(p.shutoff_head_m * r**2 - b * flows_m3h**2)
