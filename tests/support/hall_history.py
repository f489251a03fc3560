"""The virtual plant's hall as the history a setpoint loop is fitted on: quarter-hour means of its physics."""

from __future__ import annotations

import numpy as np

from tvilling.adapters.sql.timeseries import SampleRow
from tvilling.virtual_plant import Plant

PROPS = ("airTemperature", "outdoorTemperature", "hvacPower", "occupancy", "heatingSetpoint", "coolingSetpoint")
KEYS = ("hall.air_c", "hall.outdoor_c", "hall.hvac_electrical_kw", "hall.occupants")


def hall_rows(tenant: str, plant: Plant, t0: float, days: float) -> list[SampleRow]:
    """Run ``plant`` for ``days`` at 60 s steps; rows stamped from epoch ``t0`` at each quarter-hour's middle."""
    rows: list[SampleRow] = []
    acc: list[list[float]] = []
    for i in range(int(days * 1440)):
        plant.step(60.0)
        state = plant.true_state()
        acc.append([state[k] for k in KEYS] + [plant.hall.heating_setpoint_c, plant.hall.cooling_setpoint_c])
        if len(acc) == 15:
            t_us = int((t0 + (i + 1) * 60.0 - 450.0) * 1e6)
            rows += [SampleRow(tenant, "hall", name, t_us, float(v), None, "good", "", None)
                     for name, v in zip(PROPS, np.mean(acc, axis=0), strict=True)]
            acc = []
    return rows
