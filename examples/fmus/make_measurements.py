"""Write days of 5-minute measurements of a thermal zone, for trying `tvilling fmu calibrate` and
`tvilling fmu residuals`.

The "plant" is the native Python model of the same zone (tvilling.physics.thermal_zone) with UA = 420 W/K,
C = 6 MJ/K and T_start = 19 degC, driven by a daily outdoor swing and an HVAC that heats 3 kW for the first 8 hours
of each day and cools 1.5 kW after; 0.1 K of Gaussian noise on the measured temperature (seed 1). With
``--fault-at H --fault-ua X`` the envelope conductance becomes X W/K from hour H on (a door left open, lost
insulation): a fault the healthy model does not contain.

    .venv/bin/python examples/fmus/make_measurements.py /tmp/zone.csv                       # three healthy days
    .venv/bin/python examples/fmus/make_measurements.py /tmp/week.csv --days 6 --fault-at 96 --fault-ua 600
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import pandas as pd

from tvilling.physics.thermal_zone import ThermalZone

HEALTHY_UA = 420.0


def main(out: str, days: int = 3, fault_at_h: float | None = None, fault_ua: float = HEALTHY_UA) -> None:
    rng = np.random.default_rng(1)
    n = days * 24 * 12
    t = np.arange(n) * 300.0
    outdoor = 8.0 + 6.0 * np.sin(2 * np.pi * t / 86400.0)
    hvac = np.where(t % 86400.0 < 8 * 3600.0, 3000.0, -1500.0)
    zone = ThermalZone()
    values = {"UA": HEALTHY_UA, "C": 6.0e6, "T_start": 19.0}
    zone.initialize({**values, "T_out": outdoor[0], "Q_hvac": hvac[0]})
    temp = [zone.outputs()["T"]]
    for k in range(1, n):
        if fault_at_h is not None and t[k - 1] == fault_at_h * 3600.0:
            # UA is a fixed parameter of the model: the fault restarts it from its current temperature
            zone.initialize({**values, "UA": fault_ua, "T_start": temp[-1], "T_out": outdoor[k - 1],
                             "Q_hvac": hvac[k - 1]}, start_time=t[k - 1])
        temp.append(zone.step(300.0, {"Q_hvac": hvac[k - 1], "T_out": outdoor[k - 1]})["T"])
    stamps = pd.Timestamp("2026-11-20T00:00:00Z") + pd.to_timedelta(t, unit="s")
    pd.DataFrame({"timestamp": stamps.strftime("%Y-%m-%dT%H:%M:%SZ"), "outdoor": outdoor, "hvac_w": hvac,
                  "zone_temp": np.array(temp) + rng.normal(0.0, 0.1, n)}).to_csv(out, index=False)
    fault = f"; UA {fault_ua:g} W/K from hour {fault_at_h:g}" if fault_at_h is not None else ""
    sys.stdout.write(f"{out}: {n} rows{fault}\n")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", default="zone.csv")
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--fault-at", type=float, default=None, help="hour at which the envelope changes")
    parser.add_argument("--fault-ua", type=float, default=HEALTHY_UA, help="W/K from then on")
    args = parser.parse_args()
    main(args.out, days=args.days, fault_at_h=args.fault_at, fault_ua=args.fault_ua)
