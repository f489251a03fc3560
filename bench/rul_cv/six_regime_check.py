"""A synthetic six-regime fleet built from ``train_FD003`` (a robustness check, not a benchmark).

FD002/FD004 are not in ``../shared/``; this checks that the RUL pipeline finds operating regimes and loses little
when every cycle runs in one of six flight conditions. Units 1-70 of ``train_FD003`` become a pseudo-training file,
units 71-100 a pseudo-test file cut at a random RUL in [7, 145] (seeded per unit) with its truth file. Two
versions with identical cuts: ``plain`` (the data as is) and ``six`` (each cycle given one of FD002's six
(altitude, Mach, TRA) conditions at random, and every sensor mapped affinely per condition:
``m (1 + offset) + gain (x - m)``, offset in ±25 %, gain in 0.6-1.6, both per condition and sensor). Reads only a
training file; the C-MAPSS test files are not touched.

    .venv/bin/python bench/rul_cv/six_regime_check.py /tmp/regimes
    for tag in plain six; do .venv/bin/tvilling bench rul --train /tmp/regimes/train_$tag.txt \
        --test /tmp/regimes/test_$tag.txt --truth /tmp/regimes/RUL_$tag.txt --json; done
"""
import sys
from pathlib import Path

import numpy as np
import pandas as pd

SENSORS = list(range(5, 26))
# FD002's six (altitude, Mach, TRA) flight conditions
CONDITIONS = np.array([[0, 0, 100], [10, 0.25, 100], [20, 0.7, 100], [25, 0.62, 60], [35, 0.84, 100],
                       [42, 0.84, 100]])


def six_regimes(d: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """``d`` with every cycle in one of the six conditions at random and every sensor mapped affinely per condition
    (offset within ±25 % of the sensor's mean, gain 0.6-1.6, both drawn per condition and sensor)."""
    m = d[SENSORS].mean().to_numpy()
    offs = rng.uniform(-0.25, 0.25, size=(6, len(SENSORS)))
    gains = rng.uniform(0.6, 1.6, size=(6, len(SENSORS)))
    d = d.copy()
    k = rng.integers(0, 6, len(d))
    d[[2, 3, 4]] = CONDITIONS[k] + rng.normal(0, [0.002, 0.0002, 0.0], size=(len(d), 3))
    d[SENSORS] = m * (1 + offs[k]) + gains[k] * (d[SENSORS].to_numpy(float) - m)
    return d


def split(d: pd.DataFrame, tag: str, out: Path) -> None:
    tr = d[d[0] <= 70]
    te, truth = [], []
    for u in range(71, 101):
        g = d[d[0] == u]
        life = len(g)
        rul = int(np.random.default_rng(u).integers(7, min(146, life - 30)))
        te.append(g.iloc[:life - rul])
        truth.append(rul)
    for name, frame in (("train", tr), ("test", pd.concat(te))):
        frame.to_csv(out / f"{name}_{tag}.txt", sep=" ", header=False, index=False, float_format="%.4f")
    np.savetxt(out / f"RUL_{tag}.txt", truth, fmt="%d")


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/regimes")
    out.mkdir(parents=True, exist_ok=True)
    df = pd.read_csv("../shared/datasets/cmapss/train_FD003.txt", sep=r"\s+", header=None).iloc[:, :26]
    split(df, "plain", out)  # the cut points are seeded per unit, so both versions share them
    split(six_regimes(df, np.random.default_rng(0)), "six", out)


if __name__ == "__main__":
    main()
