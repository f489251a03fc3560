"""Write three days of 5-minute measurements of a thermal zone, for trying `tvilling fmu calibrate`.

The "plant" is the native Python model of the same zone (tvilling.physics.thermal_zone) with UA = 420 W/K,
C = 6 MJ/K and T_start = 19 degC, driven by a daily outdoor swing and an HVAC that heats 3 kW for the first 8 hours
of each day and cools 1.5 kW after; 0.1 K of Gaussian noise on the measured temperature (seed 1).

    .venv/bin/python examples/fmus/make_measurements.py /tmp/zone.csv
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd

from tvilling.physics.thermal_zone import ThermalZone


def main(out: str) -> None:
    rng = np.random.default_rng(1)
    n = 3 * 24 * 12
    t = np.arange(n) * 300.0
    outdoor = 8.0 + 6.0 * np.sin(2 * np.pi * t / 86400.0)
    hvac = np.where(t % 86400.0 < 8 * 3600.0, 3000.0, -1500.0)
    zone = ThermalZone()
    zone.initialize({"UA": 420.0, "C": 6.0e6, "T_start": 19.0, "T_out": outdoor[0], "Q_hvac": hvac[0]})
    temp = [zone.outputs()["T"]]
    for k in range(1, n):
        temp.append(zone.step(300.0, {"Q_hvac": hvac[k - 1], "T_out": outdoor[k - 1]})["T"])
    stamps = pd.Timestamp("2026-11-20T00:00:00Z") + pd.to_timedelta(t, unit="s")
    pd.DataFrame({"timestamp": stamps.strftime("%Y-%m-%dT%H:%M:%SZ"), "outdoor": outdoor, "hvac_w": hvac,
                  "zone_temp": np.array(temp) + rng.normal(0.0, 0.1, n)}).to_csv(out, index=False)
    sys.stdout.write(f"{out}: {n} rows\n")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "zone.csv")
