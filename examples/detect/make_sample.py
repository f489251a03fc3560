"""Write a small labelled CSV for trying ``tvilling detect``: a pump rig at 1 Hz, SKAB-style (``;``-separated,
``datetime`` column, an ``anomaly`` label column for ``--label-col``).

Seven signals: flow, pressure, motor current and voltage, two vibration RMS values and the water temperature, which
warms slowly all along (normal). Flow, pressure and current follow the pump's load, which wanders a little (as
demand moves the pump along its curve: more flow, less head, more current). Two faults, ``anomaly`` = 1 on their
rows:

* rows 700-1000, ``--fault strainer`` (default): a clogging suction strainer: flow drops by 1.5 sd of its noise and
  pressure by 2 sd while the current stays, which no load change does; each value stays in its normal range.
  ``--fault valve``: a half-closed discharge valve: flow -1.5 sd, pressure +2 sd, current -1 sd, which is what a
  drop in demand also does, so only its size tells it apart;
* row 1150: one vibration sensor spikes.

``--load-step`` (default 0.005) is the load's random-walk step per row; at 0.02 the plant leaves the operating range
of its first 400 rows for good within the file, which `tvilling detect` flags as well (docs/predictive.md, round 6).

    .venv/bin/python examples/detect/make_sample.py /tmp/pump.csv
    .venv/bin/tvilling detect --input /tmp/pump.csv --sep ";" --time-col datetime --label-col anomaly \\
        --train-rows 400 --out /tmp/pump-scores.csv --json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROWS = 1400
NOISE = {"flow_m3h": 0.2, "pressure_bar": 0.01, "current_a": 0.08}
FAULTS = {"strainer": {"flow_m3h": -1.5, "pressure_bar": -2.0},
          "valve": {"flow_m3h": -1.5, "pressure_bar": 2.0, "current_a": -1.0}}


def sample(seed: int = 7, load_step: float = 0.005, fault: str = "strainer") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    load = np.cumsum(rng.normal(0, load_step, ROWS))
    noise = rng.normal(size=(ROWS, 7))
    df = pd.DataFrame({
        "datetime": pd.date_range("2026-03-09 10:14:33", periods=ROWS, freq="1s").strftime("%Y-%m-%d %H:%M:%S"),
        "flow_m3h": 32.0 + 0.8 * load + NOISE["flow_m3h"] * noise[:, 0],
        "pressure_bar": 2.10 - 0.05 * load + NOISE["pressure_bar"] * noise[:, 1],
        "current_a": 11.0 + 0.3 * load + NOISE["current_a"] * noise[:, 2],
        "voltage_v": 230.0 + 0.6 * noise[:, 3],
        "vibration_1_rms": 0.020 + 0.002 * noise[:, 4],
        "vibration_2_rms": 0.030 + 0.003 * noise[:, 5],
        "temperature_c": 19.0 + 3.0 * np.arange(ROWS) / ROWS + 0.05 * noise[:, 6],
        "anomaly": 0,
    })
    rows = slice(700, 1000)  # .loc: rows 700 to 1000, both included
    for column, sds in FAULTS[fault].items():
        df.loc[rows, column] += sds * NOISE[column]
    df.loc[rows, "anomaly"] = 1
    df.loc[1150, "vibration_1_rms"] += 0.02
    df.loc[1150, "anomaly"] = 1
    return df


def main() -> None:
    ap = argparse.ArgumentParser(description="write a labelled pump-rig CSV for tvilling detect")
    ap.add_argument("out", type=Path)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--load-step", type=float, default=0.005)
    ap.add_argument("--fault", choices=sorted(FAULTS), default="strainer")
    args = ap.parse_args()
    sample(args.seed, args.load_step, args.fault).to_csv(args.out, sep=";", index=False)
    sys.stdout.write(f"wrote {args.out} ({ROWS} rows; {args.fault} fault at rows 700-1000, "
                     "a vibration spike at row 1150)\n")


if __name__ == "__main__":
    main()
