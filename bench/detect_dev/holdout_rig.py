"""A second rig, written *after* rounds 12 and 14 were chosen and never used to choose anything: does what they
gained on the development cases (``synthetic_cases.py``, ``pump_rig.py``) hold on a rig they were not fitted to?
(Development tool, not a benchmark.)

A cooling loop at 1 Hz, 1 400 rows, the first 400 for training: ambient temperature swings slowly (a sine over
the file plus a random walk), the load wanders as a random walk; nine signals follow them (inlet and outlet
temperature, coolant flow, compressor power, suction and discharge pressure, vibration RMS, fan speed in 50 rpm
steps, and a noisy humidity reading that follows nothing). One fault per file at rows 700-999, five kinds:

* ``sensor_drift``: the outlet temperature sensor drifts, 0 -> 4 sd of its noise over the 300 rows;
* ``stuck``: the flow reading freezes at its row-700 value;
* ``leak``: discharge pressure -2 sd, suction pressure -1.5 sd, power +1.5 sd (a refrigerant leak);
* ``bearing``: the vibration's noise grows threefold (its mean unchanged);
* ``fouling``: the outlet temperature climbs 0 -> 3 sd and power 0 -> 2 sd over the 300 rows, then both stay
  until row 999 (a fouled condenser, cleaned at row 1 000).

Prints, per arm (``detect_table`` keyword arguments as JSON) and kind, over the seeds: the share of fault rows
flagged, episodes found, false alarms on normal rows after training, and row-wise F1.

    .venv/bin/python bench/detect_dev/holdout_rig.py [SEEDS] ['{"arm": {kwargs}}']
"""

from __future__ import annotations

import numpy as np
from rig_scoring import score_kinds

ROWS, TRAIN, FAULT = 1400, 400, slice(700, 1000)
NAMES = ["inlet_temp_c", "outlet_temp_c", "flow_lpm", "power_kw", "suction_bar", "discharge_bar", "vibration_rms",
         "fan_rpm", "humidity_pct"]
NOISE = np.array([0.05, 0.08, 0.3, 0.04, 0.02, 0.05, 0.01, 0.0, 1.5])
KINDS = ("sensor_drift", "stuck", "leak", "bearing", "fouling")


def rig(seed: int, kind: str) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = np.arange(ROWS)
    ambient = 20 + 1.5 * np.sin(2 * np.pi * t / 2400 + rng.uniform(0, 2 * np.pi)) + np.cumsum(rng.normal(0, 0.01, ROWS))
    load = np.cumsum(rng.normal(0, 0.01, ROWS))
    X = np.column_stack([
        ambient,
        ambient + 6 + 2.0 * load,
        40 + 3.0 * load,
        5 + 0.8 * load + 0.05 * (ambient - 20),
        2.5 - 0.1 * load + 0.04 * (ambient - 20),
        9 + 0.6 * load + 0.25 * (ambient - 20),
        0.12 + 0.01 * load,
        np.round((900 + 60 * (ambient - 20) + 20 * load) / 50) * 50,
        55 + 0.0 * t,
    ]) + rng.normal(size=(ROWS, len(NAMES))) * NOISE
    ramp = np.linspace(0, 1, FAULT.stop - FAULT.start)
    if kind == "sensor_drift":
        X[FAULT, 1] += 4 * NOISE[1] * ramp
    elif kind == "stuck":
        X[FAULT, 2] = X[FAULT.start, 2]
    elif kind == "leak":
        X[FAULT, 5] -= 2 * NOISE[5]
        X[FAULT, 4] -= 1.5 * NOISE[4]
        X[FAULT, 3] += 1.5 * NOISE[3]
    elif kind == "bearing":
        X[FAULT, 6] += 2 * NOISE[6] * rng.normal(size=FAULT.stop - FAULT.start) * np.sqrt(2)
    elif kind == "fouling":
        X[FAULT, 1] += 3 * NOISE[1] * ramp
        X[FAULT, 3] += 2 * NOISE[3] * ramp
    y = np.zeros(ROWS, bool)
    y[FAULT] = True
    return X, y


def main() -> None:
    score_kinds(rig, NAMES, TRAIN, KINDS, rows_key="fault_rows_flagged", found_key="episodes_found")


if __name__ == "__main__":
    main()
