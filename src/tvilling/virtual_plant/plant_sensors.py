"""The plant's measurement points as a table: device, point name, true-state key, unit, rate, imperfections.

Units are pint-parsable strings; the DTDL models in ``examples/bottling-plant/models`` carry the same quantities
in DTDL unit names, and ``examples/bottling-plant/mappings.yaml`` maps each point to a twin property.
"""

from __future__ import annotations

from tvilling.virtual_plant.sensors import SensorSpec


def _drive_points(device: str, prefix: str) -> list[SensorSpec]:
    """Motor + bearing points common to every drive train."""
    return [
        SensorSpec(device, "motor_speed", f"{prefix}-motor.speed_rpm", "rpm", 60.0, 1.5, 1.0),
        SensorSpec(device, "motor_current", f"{prefix}-motor.current_a", "A", 60.0, 0.05, 0.01),
        SensorSpec(device, "motor_power", f"{prefix}-motor.electrical_kw", "kW", 60.0, 0.02, 0.01),
        SensorSpec(device, "motor_winding_temp", f"{prefix}-motor.winding_c", "degC", 300.0, 0.3, 0.1,
                   drift_sd_per_day=0.02),
        SensorSpec(device, "bearing_temp", f"{prefix}-bearing.temperature_c", "degC", 300.0, 0.2, 0.1,
                   drift_sd_per_day=0.02),
        # Vibration transmitters: relative noise because a window's RMS estimate scatters with its level.
        SensorSpec(device, "bearing_vib_rms", f"{prefix}-bearing.rms_ms2", "m/s^2", 60.0, 0.03, 0.001,
                   relative_noise=True),
        SensorSpec(device, "bearing_vib_kurtosis", f"{prefix}-bearing.kurtosis", "dimensionless", 60.0, 0.05,
                   0.01, relative_noise=True),
        SensorSpec(device, "bearing_env_bpfo", f"{prefix}-bearing.env_bpfo_ms2", "m/s^2", 60.0, 0.08, 0.0001,
                   relative_noise=True),
        SensorSpec(device, "bearing_env_bpfi", f"{prefix}-bearing.env_bpfi_ms2", "m/s^2", 60.0, 0.08, 0.0001,
                   relative_noise=True),
        SensorSpec(device, "bearing_env_bsf", f"{prefix}-bearing.env_bsf_ms2", "m/s^2", 60.0, 0.08, 0.0001,
                   relative_noise=True),
    ]


def default_sensors() -> list[SensorSpec]:
    return [
        SensorSpec("pump-1", "flow", "pump-1.flow_m3h", "m^3/h", 60.0, 0.01, 0.01, relative_noise=True),
        SensorSpec("pump-1", "suction_pressure", "pump-1.suction_pressure_bar", "bar", 60.0, 0.005, 0.001),
        SensorSpec("pump-1", "discharge_pressure", "pump-1.discharge_pressure_bar", "bar", 60.0, 0.01, 0.001),
        SensorSpec("pump-1", "valve_position", "pump-1-valve.position_pct", "percent", 60.0, 0.2, 0.1),
        # The level controller's output as the PLC reports it: exact, no transmitter in between.
        SensorSpec("pump-1", "valve_command", "pump-1-valve.command_pct", "percent", 60.0, resolution=0.01,
                   dropout_prob=0.0, nan_prob=0.0, spike_prob=0.0),
        *_drive_points("pump-1", "pump-1"),
        SensorSpec("filler-1", "buffer_level", "filler-1.buffer_level_pct", "percent", 60.0, 0.3, 0.1),
        *_drive_points("filler-1", "filler-1"),
        *_drive_points("conveyor-1", "conveyor-1"),
        SensorSpec("line-1", "throughput", "line-1.throughput_bpm", "1/min", 60.0, 2.0, 1.0),
        SensorSpec("line-1", "running", "line-1.running", "dimensionless", 60.0, dropout_prob=0.0, nan_prob=0.0,
                   spike_prob=0.0),
        SensorSpec("line-1", "jammed", "line-1.jammed", "dimensionless", 60.0, dropout_prob=0.0, nan_prob=0.0,
                   spike_prob=0.0),
        SensorSpec("line-1", "product_temp", "chiller-1.product_out_c", "degC", 60.0, 0.1, 0.05),
        SensorSpec("chiller-1", "chw_supply_temp", "chiller-1.chw_supply_c", "degC", 60.0, 0.1, 0.05),
        SensorSpec("chiller-1", "condensing_temp", "chiller-1.condensing_c", "degC", 60.0, 0.2, 0.1),
        SensorSpec("chiller-1", "cooling_power", "chiller-1.cooling_kw", "kW", 60.0, 1.0, 0.1),
        SensorSpec("chiller-1", "electrical_power", "chiller-1.electrical_kw", "kW", 60.0, 0.2, 0.1),
        SensorSpec("chiller-1", "setpoint", "chiller-1.setpoint_c", "degC", 300.0, dropout_prob=0.0,
                   nan_prob=0.0, spike_prob=0.0),
        SensorSpec("hall", "air_temperature", "hall.air_c", "degC", 120.0, 0.1, 0.1, drift_sd_per_day=0.01),
        SensorSpec("hall", "outdoor_temperature", "hall.outdoor_c", "degC", 600.0, 0.2, 0.1),
        SensorSpec("hall", "hvac_power", "hall.hvac_electrical_kw", "kW", 120.0, 0.1, 0.1),
        SensorSpec("hall", "occupancy", "hall.occupants", "dimensionless", 600.0, dropout_prob=0.0, nan_prob=0.0,
                   spike_prob=0.0),
        SensorSpec("hall", "cooling_setpoint", "hall.cooling_setpoint_c", "degC", 600.0, dropout_prob=0.0,
                   nan_prob=0.0, spike_prob=0.0),
        SensorSpec("hall", "heating_setpoint", "hall.heating_setpoint_c", "degC", 600.0, dropout_prob=0.0,
                   nan_prob=0.0, spike_prob=0.0),
    ]
