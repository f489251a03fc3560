"""The production hall as a two-capacitance thermal zone (air + walls) with weather, occupancy and HVAC.

Network (resistances as conductances UA, W/K)::

    outdoor ──UA_ao── air (C_air) ──UA_aw── wall (C_wall) ──UA_wo── outdoor

Integrated with backward Euler (unconditionally stable at the coarse 60 s step of accelerated runs); heat flows are
evaluated at the end-of-step temperatures, so energy in = stored + out holds to round-off over any period.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Weather:
    """Outdoor air: seasonal mean + daily sinusoid (peak mid-afternoon) + AR(1) noise; solar on a clear-sky arc."""

    mean_c: float = 14.0
    seasonal_amp_c: float = 6.0
    daily_amp_c: float = 5.0
    noise_sd_c: float = 1.2
    noise_tau_s: float = 6 * 3600.0
    start_day_of_year: float = 121.0  # 1 May
    start_hour: float = 0.0  # local solar hour at t = 0
    solar_peak_w: float = 25000.0  # gain into the hall at solar noon
    noise_c: float = 0.0

    def step(self, dt_s: float, rng: np.random.Generator) -> None:
        a = math.exp(-dt_s / self.noise_tau_s)
        self.noise_c = a * self.noise_c + self.noise_sd_c * math.sqrt(1.0 - a * a) * float(rng.normal())

    def outdoor_c(self, t_s: float) -> float:
        day = self.start_day_of_year + t_s / 86400.0
        hour = (self.start_hour + t_s / 3600.0) % 24.0
        seasonal = self.seasonal_amp_c * math.sin(2 * math.pi * (day - 110.0) / 365.0)
        daily = self.daily_amp_c * math.sin(2 * math.pi * (hour - 9.0) / 24.0)
        return self.mean_c + seasonal + daily + self.noise_c

    def solar_w(self, t_s: float) -> float:
        hour = (self.start_hour + t_s / 3600.0) % 24.0
        return self.solar_peak_w * max(0.0, math.sin(math.pi * (hour - 6.0) / 12.0))


def occupancy(t_s: float) -> int:
    """People in the hall: two shifts 06–22 on weekdays, a skeleton crew otherwise; ``t_s`` counts from a
    Monday 00:00 (the zone adds its ``week_offset_s``)."""
    day = int(t_s // 86400) % 7
    hour = (t_s / 3600.0) % 24.0
    if day < 5 and 6.0 <= hour < 22.0:
        return 12
    return 2


@dataclass(frozen=True)
class ZoneParams:
    c_air_j_k: float = 12e6  # air plus light contents of a ~3000 m³ hall
    c_wall_j_k: float = 150e6
    ua_air_wall_w_k: float = 3000.0
    ua_wall_out_w_k: float = 800.0
    ua_air_out_w_k: float = 600.0  # ventilation and infiltration
    person_w: float = 100.0
    lighting_w: float = 5000.0  # when occupied by a shift
    solar_to_air: float = 0.5  # the rest lands on the walls
    heating_capacity_w: float = 60000.0
    cooling_capacity_w: float = 80000.0
    gain_w_k: float = 20000.0  # proportional HVAC controller
    heating_cop: float = 3.0
    cooling_cop: float = 3.5


@dataclass
class ZoneState:
    air_c: float = 20.0
    wall_c: float = 18.0
    outdoor_c: float = 15.0
    hvac_heat_w: float = 0.0  # delivered to the air: + heating, − cooling
    hvac_electrical_w: float = 0.0
    gains_air_w: float = 0.0  # internal + solar gains into the air (excludes HVAC)
    gains_wall_w: float = 0.0
    occupants: int = 0


@dataclass
class ThermalZone:
    name: str
    params: ZoneParams = field(default_factory=ZoneParams)
    weather: Weather = field(default_factory=Weather)
    heating_setpoint_c: float = 19.0
    cooling_setpoint_c: float = 24.0
    hvac_on: bool = True
    t_s: float = 0.0
    week_offset_s: float = 0.0  # seconds from the Monday 00:00 before t = 0 (calendar alignment)
    state: ZoneState = field(default_factory=ZoneState)

    def step(self, dt_s: float, inputs: dict[str, float], rng: np.random.Generator) -> ZoneState:
        """Inputs: ``equipment_w`` (machine losses released into the hall)."""
        p = self.params
        self.weather.step(dt_s, rng)
        t_end = self.t_s + dt_s
        t_out = self.weather.outdoor_c(t_end)
        people = occupancy(self.week_offset_s + self.t_s)
        solar = self.weather.solar_w(t_end)
        lights = p.lighting_w if people > 2 else 0.1 * p.lighting_w
        gains_air = people * p.person_w + lights + inputs.get("equipment_w", 0.0) + p.solar_to_air * solar
        gains_wall = (1.0 - p.solar_to_air) * solar
        ta, tw = self.state.air_c, self.state.wall_c
        if dt_s <= 0.0:  # a zero step only refreshes the boundary conditions
            self.state = ZoneState(air_c=ta, wall_c=tw, outdoor_c=t_out, gains_air_w=gains_air,
                                   gains_wall_w=gains_wall, occupants=people)
            return self.state
        hvac = 0.0
        if self.hvac_on:
            heat = min(p.heating_capacity_w, max(0.0, p.gain_w_k * (self.heating_setpoint_c - ta)))
            cool = min(p.cooling_capacity_w, max(0.0, p.gain_w_k * (ta - self.cooling_setpoint_c)))
            hvac = heat - cool
        q_air = gains_air + hvac
        # Backward Euler: [[Ca/dt + Uaw + Uao, -Uaw], [-Uaw, Cw/dt + Uaw + Uwo]] @ [ta', tw'] = rhs
        ca, cw = p.c_air_j_k / dt_s, p.c_wall_j_k / dt_s
        a11 = ca + p.ua_air_wall_w_k + p.ua_air_out_w_k
        a22 = cw + p.ua_air_wall_w_k + p.ua_wall_out_w_k
        a12 = -p.ua_air_wall_w_k
        b1 = ca * ta + q_air + p.ua_air_out_w_k * t_out
        b2 = cw * tw + gains_wall + p.ua_wall_out_w_k * t_out
        det = a11 * a22 - a12 * a12
        ta_new = (b1 * a22 - a12 * b2) / det
        tw_new = (a11 * b2 - a12 * b1) / det
        elec = hvac / p.heating_cop if hvac > 0 else -hvac / p.cooling_cop
        self.t_s = t_end
        self.state = ZoneState(air_c=ta_new, wall_c=tw_new, outdoor_c=t_out, hvac_heat_w=hvac,
                               hvac_electrical_w=elec, gains_air_w=gains_air, gains_wall_w=gains_wall,
                               occupants=people)
        return self.state

    def heat_loss_w(self) -> float:
        """Heat leaving to outdoors at the current state (the 'out' term of the energy balance)."""
        s, p = self.state, self.params
        return p.ua_air_out_w_k * (s.air_c - s.outdoor_c) + p.ua_wall_out_w_k * (s.wall_c - s.outdoor_c)
