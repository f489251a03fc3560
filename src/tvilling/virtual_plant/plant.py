"""The bottling plant: pump + valve + motor + bearing feeding a filler and conveyor, a chiller and the hall.

``Plant.step()`` advances the physics by ``dt_s`` (coarse, e.g. 60 s, for accelerated runs), applies fault
onsets, and ``Plant.readings()`` returns whatever sensors are due, grouped by device. Commands come in through
``Plant.apply_command`` (see ``commands.py``). Everything random draws from child generators of one seed, so
a run is reproducible bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from tvilling.virtual_plant.bearing import Bearing, BearingGeometry, BearingParams
from tvilling.virtual_plant.chiller import Chiller
from tvilling.virtual_plant.commands import apply_command
from tvilling.virtual_plant.errors import ConfigError
from tvilling.virtual_plant.faults import FaultRecord, FaultSpec, GroundTruth, random_scenario
from tvilling.virtual_plant.line import DriveTrain, Line
from tvilling.virtual_plant.motor import InductionMotor, MotorParams
from tvilling.virtual_plant.plant_sensors import default_sensors
from tvilling.virtual_plant.pump import CentrifugalPump, PumpParams, Valve
from tvilling.virtual_plant.sensors import Sensor, SensorReading, SensorSpec
from tvilling.virtual_plant.tank import BufferTank, LevelController
from tvilling.virtual_plant.zone import ThermalZone, Weather

G_MS2 = 9.80665
NORMAL_SUCTION_BAR = 1.3  # absolute, from the buffer tank's head


@dataclass
class PlantConfig:
    seed: int = 0
    dt_s: float = 60.0
    start: datetime = field(default_factory=lambda: datetime(2026, 5, 4, tzinfo=UTC))  # a Monday
    horizon_s: float = 90 * 86400.0  # where random faults are placed
    faults: list[FaultSpec] | None = None  # None: a seeded random scenario over the horizon; []: no faults
    sensors: list[SensorSpec] | None = None
    period_scale: float = 1.0  # multiplies every sensor's period: fewer messages for fast accelerated demos
    repair_after_s: float | None = 8 * 3600.0  # a breakdown is repaired by the crew this long after; None: never


class Plant:
    def __init__(self, config: PlantConfig | None = None) -> None:
        self.config = cfg = config or PlantConfig()
        if cfg.dt_s <= 0:
            raise ConfigError(f"dt_s must be > 0, got {cfg.dt_s}")
        children = np.random.SeedSequence(cfg.seed).spawn(6)
        self.rng_physics, self.rng_line, self.rng_zone, self.rng_sensors, self.rng_faults, rng_scen = (
            np.random.default_rng(c) for c in children)
        self.t_s = 0.0
        pump_geom = BearingGeometry(n_balls=9, ball_diameter_mm=7.94, pitch_diameter_mm=39.04)
        # Bearing reference speed/load = each machine's usual operating point (500 bottles/min, level loop in
        # auto), so a fault's growth_per_day means what it says at normal production.
        self.pump_train = DriveTrain(
            InductionMotor("pump-1-motor", MotorParams(rated_kw=4.0, rated_current_a=8.0)),
            Bearing("pump-1-bearing", pump_geom, BearingParams(rated_shaft_hz=24.7, ref_load=0.45)))
        self.pump = CentrifugalPump("pump-1", Valve("pump-1-valve", k_full_m_per_m3h2=7.0 / 400.0),
                                    PumpParams(bep_flow_m3h=20.0, shutoff_power_kw=1.1, bep_power_kw=2.5,
                                               pipe_k_m_per_m3h2=15.0 / 400.0))
        filler = DriveTrain(
            InductionMotor("filler-1-motor", MotorParams(rated_kw=5.5, rated_current_a=11.0)),
            Bearing("filler-1-bearing", BearingGeometry(8, 9.53, 46.0), BearingParams(rated_shaft_hz=20.5)))
        conveyor = DriveTrain(
            InductionMotor("conveyor-1-motor", MotorParams(rated_kw=3.0, rated_current_a=6.3)),
            Bearing("conveyor-1-bearing", BearingGeometry(7, 6.35, 28.5), BearingParams(rated_shaft_hz=19.3)))
        self.line = Line("line-1", filler, conveyor)
        self.line.set_speed(self.line.speed_command_bpm)
        self.tank = BufferTank("filler-1-buffer")
        self.level_ctl = LevelController()
        self.chiller = Chiller("chiller-1")
        st = cfg.start
        since_midnight_s = st.hour * 3600.0 + st.minute * 60.0 + st.second
        self.hall = ThermalZone("hall", weather=Weather(start_day_of_year=float(st.timetuple().tm_yday),
                                                        start_hour=since_midnight_s / 3600.0),
                                week_offset_s=st.weekday() * 86400.0 + since_midnight_s)
        self.suction_bar = NORMAL_SUCTION_BAR
        if cfg.period_scale <= 0:
            raise ConfigError(f"period_scale must be > 0, got {cfg.period_scale}")
        specs = cfg.sensors or default_sensors()
        self.sensors = [Sensor(replace(s, period_s=s.period_s * cfg.period_scale), self.rng_sensors) for s in specs]
        self.truth = GroundTruth(cfg.start)
        faults = random_scenario(rng_scen, cfg.horizon_s) if cfg.faults is None else list(cfg.faults)
        for f in faults:
            self._validate(f)
        self.pending: list[FaultSpec] = sorted(faults, key=lambda f: f.onset_s)
        self.active: dict[str, FaultRecord] = {}
        self.cavitation_until_s: float | None = None
        self._cavitation_record: FaultRecord | None = None
        self._state: dict[str, float] = {}
        self.step(0.0)  # settle derived state so the first readings are consistent

    # ---- structure -------------------------------------------------------------------------------------------
    @property
    def drives(self) -> dict[str, DriveTrain]:
        return {"pump-1": self.pump_train, "filler-1": self.line.filler, "conveyor-1": self.line.conveyor}

    def bearing(self, name: str) -> Bearing:
        for d in self.drives.values():
            if d.bearing.name == name:
                return d.bearing
        raise ConfigError(f"no bearing named {name!r}")

    def sensor(self, device: str, point: str) -> Sensor:
        for s in self.sensors:
            if s.spec.device == device and s.spec.name == point:
                return s
        raise ConfigError(f"no sensor {device}/{point}")

    # ---- faults ----------------------------------------------------------------------------------------------
    def _validate(self, spec: FaultSpec) -> None:
        """Reject a fault aimed at something this plant does not have, before the run starts."""
        if spec.kind == "bearing_wear":
            self.bearing(spec.asset)
            if spec.params.get("defect", "outer") not in ("outer", "inner", "ball"):
                raise ConfigError(f"bearing defect must be outer, inner or ball, got {spec.params['defect']!r}")
        elif spec.kind == "sensor_drift":
            device, _, point = spec.asset.partition("/")
            self.sensor(device, point)
        else:
            expected = {"valve_sticking": self.pump.valve.name, "chiller_fouling": self.chiller.name,
                        "cavitation": self.pump.name}[spec.kind]
            if spec.asset != expected:
                raise ConfigError(f"{spec.kind} applies to {expected!r}, not {spec.asset!r}")

    def _inject(self, spec: FaultSpec) -> None:
        p = spec.params
        rec = self.truth.add(spec)
        rec.onset_s = self.t_s  # the step at which it actually took effect
        if spec.kind == "bearing_wear":
            b = self.bearing(spec.asset)
            if "growth_per_day" in p:
                b.params.growth_per_day = float(p["growth_per_day"])
            b.start_defect(p.get("defect", "outer"), self.rng_faults)
            rec.details = {**p, "rate_factor": b.rate_factor}
        elif spec.kind == "valve_sticking":
            self.pump.valve.stiction_pct = float(p.get("stiction_pct", 15.0))
        elif spec.kind == "sensor_drift":
            device, _, point = spec.asset.partition("/")
            self.sensor(device, point).start_drift(float(p.get("drift_per_day", 0.1)), self.t_s)
        elif spec.kind == "chiller_fouling":
            self.chiller.fouling_rate_k_per_day = float(p.get("rate_k_per_day", 0.2))
        elif spec.kind == "cavitation":
            self.cavitation_until_s = self.t_s + float(p.get("duration_s", 3600.0))
            self.suction_bar = float(p.get("suction_bar", 0.3))
            self._cavitation_record = rec
        self.active[f"{spec.asset}:{spec.kind}"] = rec

    def _faults_step(self) -> None:
        while self.pending and self.pending[0].onset_s <= self.t_s:
            self._inject(self.pending.pop(0))
        if self.cavitation_until_s is not None and self.t_s >= self.cavitation_until_s:
            self.suction_bar = NORMAL_SUCTION_BAR
            self.cavitation_until_s = None
            if self._cavitation_record is not None:
                self._cavitation_record.end_s = self.t_s
        for key, rec in list(self.active.items()):
            if rec.kind == "bearing_wear":
                b = self.bearing(rec.asset)
                if rec.failure_at_s is None and b.failed and b.failure_at_s is not None:
                    rec.failure_at_s = b.failure_at_s
                repair = self.config.repair_after_s
                if rec.failure_at_s is not None and repair is not None and self.t_s >= rec.failure_at_s + repair:
                    # Corrective maintenance after a breakdown: new bearing, drive reset, record closed.
                    for d in self.drives.values():
                        if d.bearing is b:
                            d.motor.tripped = False
                    b.replace()
                    rec.end_s = self.t_s
                    del self.active[key]
            elif rec.kind == "chiller_fouling" and rec.failure_at_s is None and self.chiller.tripped:
                rec.failure_at_s = self.t_s

    # ---- physics ---------------------------------------------------------------------------------------------
    def step(self, dt_s: float | None = None) -> None:
        """Advance the whole plant by ``dt_s`` simulated seconds (default: the configured step)."""
        dt = self.config.dt_s if dt_s is None else dt_s
        self._faults_step()
        hall_c = self.hall.state.air_c
        product_c = self.chiller.state.product_out_c
        # Pump train: motor speed where motor torque meets pump torque at this valve position.
        pt = self.pump_train

        def pump_kw(speed_rpm: float) -> float:
            return self.pump.operating_point(speed_rpm, self.suction_bar, product_c).shaft_power_kw

        if self.level_ctl.auto:
            self.pump.valve.command_pct = self.level_ctl.output(dt, self.tank.level_frac)
        speed = pt.solve_speed(pump_kw)
        ps = self.pump.step(dt, {"speed_rpm": speed, "suction_pressure_bar": self.suction_bar,
                                 "product_temp_c": product_c})
        pt.step(dt, speed, ps.shaft_power_kw, hall_c, self.rng_physics)
        supply = self.tank.available_outflow_m3h(dt, ps.flow_m3h)
        ls = self.line.step(dt, {"product_flow_m3h": supply, "product_temp_c": product_c, "ambient_c": hall_c},
                            self.rng_line)
        fill_m3h = ls.throughput_bpm * self.line.params.bottle_l * 60.0 / 1000.0
        self.tank.step(dt, {"inflow_m3h": ps.flow_m3h, "outflow_m3h": fill_m3h})
        cs = self.chiller.step(dt, {"product_flow_m3h": fill_m3h, "outdoor_c": self.hall.state.outdoor_c})
        motor_losses_w = sum(1000.0 * (d.motor.state.electrical_power_kw - d.motor.state.shaft_power_kw)
                             for d in self.drives.values())
        # Filler and conveyor shaft work ends up as heat in the hall; the pump's goes into the product.
        line_work_w = 1000.0 * (self.line.filler.motor.state.shaft_power_kw
                                + self.line.conveyor.motor.state.shaft_power_kw)
        zs = self.hall.step(dt, {"equipment_w": motor_losses_w + line_work_w}, self.rng_zone)
        self.t_s += dt
        self.truth.sim_seconds = self.t_s
        st: dict[str, float] = {
            "pump-1.flow_m3h": ps.flow_m3h, "pump-1.head_m": ps.head_m,
            "pump-1.suction_pressure_bar": ps.suction_pressure_bar,
            "pump-1.discharge_pressure_bar": ps.discharge_pressure_bar, "pump-1.cavitation": ps.cavitation,
            "pump-1.shaft_power_kw": ps.shaft_power_kw, "pump-1-valve.position_pct": self.pump.valve.position_pct,
            "pump-1-valve.command_pct": self.pump.valve.command_pct,
            "filler-1.buffer_level_pct": 100.0 * self.tank.level_frac,
            "line-1.throughput_bpm": ls.throughput_bpm, "line-1.running": float(self.line.running),
            "line-1.jammed": float(ls.jammed),
            "chiller-1.chw_supply_c": cs.chw_supply_c, "chiller-1.product_out_c": cs.product_out_c,
            "chiller-1.condensing_c": cs.condensing_c, "chiller-1.cooling_kw": cs.cooling_kw,
            "chiller-1.electrical_kw": cs.electrical_kw, "chiller-1.cop": cs.cop,
            "chiller-1.setpoint_c": self.chiller.setpoint_c, "chiller-1.fouling_k": self.chiller.fouling_k,
            "hall.air_c": zs.air_c, "hall.wall_c": zs.wall_c, "hall.outdoor_c": zs.outdoor_c,
            "hall.hvac_electrical_kw": zs.hvac_electrical_w / 1000.0, "hall.occupants": float(zs.occupants),
            "hall.cooling_setpoint_c": self.hall.cooling_setpoint_c,
            "hall.heating_setpoint_c": self.hall.heating_setpoint_c,
        }
        for dev, d in self.drives.items():
            m, b = d.motor, d.bearing
            st[f"{dev}-motor.speed_rpm"] = m.state.speed_rpm
            st[f"{dev}-motor.current_a"] = m.state.current_a
            st[f"{dev}-motor.electrical_kw"] = m.state.electrical_power_kw
            st[f"{dev}-motor.winding_c"] = m.winding_c
            st[f"{dev}-bearing.temperature_c"] = b.temperature_c
            st[f"{dev}-bearing.defect_mm"] = b.defect_mm
            extra = ps.vibration_broadband_g if dev == "pump-1" else 0.0
            f = b.features(m.state.speed_rpm / 60.0, extra)
            st[f"{dev}-bearing.rms_ms2"] = f.rms_g * G_MS2
            st[f"{dev}-bearing.kurtosis"] = f.kurtosis
            st[f"{dev}-bearing.env_bpfo_ms2"] = f.env_bpfo_g * G_MS2
            st[f"{dev}-bearing.env_bpfi_ms2"] = f.env_bpfi_g * G_MS2
            st[f"{dev}-bearing.env_bsf_ms2"] = f.env_bsf_g * G_MS2
        self._state = st

    def true_state(self) -> dict[str, float]:
        """The simulator's hidden truth (for tests and ground truth; never published as such)."""
        return dict(self._state)

    def readings(self) -> dict[str, list[SensorReading]]:
        """Readings of every sensor due now, grouped by device; dropouts are simply absent."""
        due = [s for s in self.sensors if s.due(self.t_s)]
        out: dict[str, list[SensorReading]] = {}
        if not due:
            return out
        when = self.now()
        u = self.rng_sensors.random(len(due)).tolist()
        z = self.rng_sensors.standard_normal((len(due), 3)).tolist()
        for k, s in enumerate(due):
            r = s.sample_with(self.t_s, self._state[s.spec.key], when, (u[k], z[k][0], z[k][1], z[k][2]))
            if r is not None:
                out.setdefault(s.spec.device, []).append(r)
        return out

    def devices(self) -> list[str]:
        return sorted({s.spec.device for s in self.sensors})

    def apply_command(self, device: str, command: str, value: float | None = None) -> dict[str, Any]:
        """Apply one command; raises ``CommandError`` for unknown devices/commands or bad values."""
        return apply_command(self, device, command, value)

    def now(self) -> datetime:
        return self.config.start + timedelta(seconds=self.t_s)
