"""A third rig, written before detect round 15 was implemented or run, to be run **once** after that round's
decision on the development cases: a held-out check of whatever that round adopts (and of the default before it).
Development tool, not a benchmark; nothing is to be chosen on it.

A conveyor drive at 1 Hz, 1 500 rows, the first 500 for training. The belt load switches between two set points
(light / heavy) every 150-250 rows, as batches come and go, with a short ramp between them; the motor's winding
temperature follows the load with a lag (a first-order filter, time constant 120 rows). Seven signals: motor
current, motor speed (slips a little under load), winding temperature, gearbox oil temperature (follows the
winding temperature more slowly), drive-end and non-drive-end vibration RMS, and belt tension. One event per file
at rows 800-1099 (300 rows), six kinds, or none:

* ``offset``: the current sensor reads 2.5 sd of its noise high (a calibration slip);
* ``stuck``: the belt tension reading freezes at its row-800 value;
* ``noise``: drive-end vibration's noise doubles (an early bearing fault), mean unchanged;
* ``drift``: the oil temperature sensor drifts 0 -> 5 sd of its noise over the 300 rows;
* ``misalignment``: both vibrations +2 sd and current +1 sd, together;
* ``none``: no event (every row after training is normal).

Prints, per arm (``detect_table`` keyword arguments as JSON) and kind, over the seeds: the share of event rows
flagged, events found, false alarms on normal rows after training, and row-wise F1.

    .venv/bin/python bench/detect_dev/holdout_rig2.py [SEEDS] ['{"arm": {kwargs}}']
"""

from __future__ import annotations

import numpy as np
from rig_scoring import score_kinds

ROWS, TRAIN, EVENT = 1500, 500, slice(800, 1100)
NAMES = ["current_a", "speed_rpm", "winding_temp_c", "oil_temp_c", "vib_de_rms", "vib_nde_rms", "tension_kn"]
NOISE = np.array([0.15, 1.0, 0.1, 0.05, 0.02, 0.02, 0.05])
KINDS = ("offset", "stuck", "noise", "drift", "misalignment", "none")


def _load(rng: np.random.Generator) -> np.ndarray:
    load, t, level = np.empty(ROWS), 0, 0.0
    while t < ROWS:
        target = 1.0 - level if t else float(rng.integers(2))
        span = int(rng.integers(150, 251))
        ramp = np.linspace(level, target, 20)
        seg = np.concatenate([ramp, np.full(span - 20, target)])[: ROWS - t]
        load[t:t + len(seg)] = seg
        t, level = t + len(seg), target
    return 0.3 + 0.5 * load + np.cumsum(rng.normal(0, 0.002, ROWS))


def _lag(x: np.ndarray, tau: float) -> np.ndarray:
    out = np.empty_like(x)
    out[0] = x[0]
    for t in range(1, len(x)):
        out[t] = out[t - 1] + (x[t] - out[t - 1]) / tau
    return out


def rig(seed: int, kind: str) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    load = _load(rng)
    winding = 40 + 30 * _lag(load, 120.0)
    X = np.column_stack([
        8 + 14 * load,
        1480 - 25 * load,
        winding,
        35 + 0.5 * (_lag(winding, 300.0) - 40),
        0.8 + 0.3 * load,
        0.6 + 0.2 * load,
        4 + 3 * load,
    ]) + rng.normal(size=(ROWS, len(NAMES))) * NOISE
    n = EVENT.stop - EVENT.start
    if kind == "offset":
        X[EVENT, 0] += 2.5 * NOISE[0]
    elif kind == "stuck":
        X[EVENT, 6] = X[EVENT.start, 6]
    elif kind == "noise":
        X[EVENT, 4] += NOISE[4] * np.sqrt(3) * rng.normal(size=n)
    elif kind == "drift":
        X[EVENT, 3] += 5 * NOISE[3] * np.linspace(0, 1, n)
    elif kind == "misalignment":
        X[EVENT, 4] += 2 * NOISE[4]
        X[EVENT, 5] += 2 * NOISE[5]
        X[EVENT, 0] += NOISE[0]
    y = np.zeros(ROWS, bool)
    if kind != "none":
        y[EVENT] = True
    return X, y


def main() -> None:
    score_kinds(rig, NAMES, TRAIN, KINDS, rows_key="event_rows_flagged", found_key="events_found")


if __name__ == "__main__":
    main()
