"""Air-cooled chiller on a chilled-water loop that cools the product ahead of the filler.

COP follows a fixed fraction of the Carnot COP between evaporating and condensing temperatures; the condenser
runs a fixed approach above outdoor air, plus whatever fouling adds — so fouling (a growing fault) and hot weather
both lower COP, raise electrical power and finally trip the chiller on high head pressure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

CP_WATER_KJ_KGK = 4.18
RHO_PRODUCT_KG_M3 = 998.0


@dataclass(frozen=True)
class ChillerParams:
    nominal_capacity_kw: float = 260.0  # at 35 °C condensing
    capacity_loss_per_k: float = 0.015  # capacity fraction lost per K of condensing temperature above 35 °C
    carnot_fraction: float = 0.5
    condenser_approach_k: float = 8.0  # condensing minus outdoor air, clean coil at full load
    evaporator_approach_k: float = 5.0  # chilled water minus evaporating temperature
    loop_capacitance_kj_k: float = 21000.0  # ~5 m³ of chilled water
    product_inlet_c: float = 18.0  # product temperature before the heat exchanger
    hx_approach_k: float = 2.0  # product leaves this far above the chilled-water temperature
    control_tau_s: float = 180.0  # capacity control pulls the loop back to setpoint with this time constant
    standing_load_kw: float = 8.0  # pipe gains, pumps
    trip_condensing_c: float = 58.0  # high-pressure cut-out


@dataclass
class ChillerState:
    chw_supply_c: float = 4.0
    product_out_c: float = 6.0
    load_kw: float = 0.0
    cooling_kw: float = 0.0
    electrical_kw: float = 0.0
    cop: float = 0.0
    condensing_c: float = 35.0


@dataclass
class Chiller:
    name: str
    params: ChillerParams = field(default_factory=ChillerParams)
    setpoint_c: float = 4.0
    running: bool = True
    tripped: bool = False
    fouling_k: float = 0.0  # extra condenser approach from a fouled coil (the fault's state)
    fouling_rate_k_per_day: float = 0.0
    state: ChillerState = field(default_factory=ChillerState)

    def capacity_kw(self, condensing_c: float) -> float:
        p = self.params
        return max(0.0, p.nominal_capacity_kw * (1.0 - p.capacity_loss_per_k * (condensing_c - 35.0)))

    def cop(self, chw_c: float, condensing_c: float) -> float:
        p = self.params
        t_evap_k = chw_c - p.evaporator_approach_k + 273.15
        t_cond_k = condensing_c + 273.15
        return p.carnot_fraction * t_evap_k / max(t_cond_k - t_evap_k, 5.0)

    def step(self, dt_s: float, inputs: dict[str, float]) -> ChillerState:
        """Inputs: ``product_flow_m3h`` through the heat exchanger, ``outdoor_c``."""
        p = self.params
        self.fouling_k += self.fouling_rate_k_per_day * dt_s / 86400.0
        flow_kg_s = inputs.get("product_flow_m3h", 0.0) * RHO_PRODUCT_KG_M3 / 3600.0
        chw = self.state.chw_supply_c
        product_out = chw + p.hx_approach_k
        load_kw = flow_kg_s * CP_WATER_KJ_KGK * max(0.0, p.product_inlet_c - product_out) + p.standing_load_kw
        on = self.running and not self.tripped
        # Proportional control with gain C/max(dt, tau): at coarse steps it becomes dead-beat, never unstable.
        gain_kw_k = p.loop_capacitance_kj_k / max(dt_s, p.control_tau_s)
        demand = max(0.0, load_kw + gain_kw_k * (chw - self.setpoint_c)) if on else 0.0
        # Condensing temperature rises with the share of the coil's duty in use and with fouling.
        outdoor_c = inputs.get("outdoor_c", 20.0)
        part = min(1.0, demand / p.nominal_capacity_kw)
        condensing = outdoor_c + p.condenser_approach_k * (0.3 + 0.7 * part) + self.fouling_k
        cooling = min(demand, self.capacity_kw(condensing))
        if on and condensing >= p.trip_condensing_c:
            self.tripped = True
            cooling = 0.0
        # Loop energy balance, exact for constant load and cooling over the step (linear in chw via the load).
        k = flow_kg_s * CP_WATER_KJ_KGK  # kW/K: load falls as the loop warms toward the product inlet
        rhs = k * (p.product_inlet_c - p.hx_approach_k) + p.standing_load_kw - cooling
        if k > 0:
            eq = rhs / k
            chw_new = eq + (chw - eq) * math.exp(-k * dt_s / p.loop_capacitance_kj_k)
        else:
            chw_new = chw + rhs * dt_s / p.loop_capacitance_kj_k
        cop = self.cop(chw, condensing) if cooling > 0 else 0.0
        self.state = ChillerState(
            chw_supply_c=chw_new, product_out_c=chw_new + p.hx_approach_k, load_kw=load_kw, cooling_kw=cooling,
            electrical_kw=cooling / cop if cop > 0 else 0.0, cop=cop, condensing_c=condensing,
        )
        return self.state
