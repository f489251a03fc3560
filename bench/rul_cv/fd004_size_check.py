"""Fit time and memory of the RUL model at FD002/FD004 size (a cost check; its accuracy figures mean nothing).

``train_FD001`` + ``train_FD003`` + a jittered copy of ``train_FD001`` (240 units, 53 310 rows), every cycle in one of
FD002's six flight conditions (sensors mapped affinely per condition, as in ``six_regime_check.py``); every fifth unit
is held out as a pseudo-test file cut at a random RUL (seeded per unit). Reads only training files.

    .venv/bin/python bench/rul_cv/fd004_size_check.py /tmp/regimes
    /usr/bin/time -f "%e s wall %U s user %M KB" env OMP_NUM_THREADS=1 .venv/bin/tvilling bench rul \
        --train /tmp/regimes/train_big.txt --test /tmp/regimes/test_big.txt --truth /tmp/regimes/RUL_big.txt --json
"""
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from six_regime_check import SENSORS, six_regimes  # the script's folder is on sys.path

OUT = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/regimes")
OUT.mkdir(parents=True, exist_ok=True)
rng = np.random.default_rng(1)
CMAPSS = "../shared/datasets/cmapss"
a = pd.read_csv(f"{CMAPSS}/train_FD001.txt", sep=r"\s+", header=None).iloc[:, :26]
b = pd.read_csv(f"{CMAPSS}/train_FD003.txt", sep=r"\s+", header=None).iloc[:, :26]
b[0] += 100
c = a.copy()
c[0] += 200  # a third copy of FD001's units, jittered, to reach FD004's size
c[SENSORS] = c[SENSORS] * (1 + rng.normal(0, 0.0005, size=c[SENSORS].shape))
d = pd.concat([a, b, c], ignore_index=True)
d = six_regimes(d, rng)
train = d[d[0] % 5 != 0]
test, truth = [], []
for u in sorted(d[d[0] % 5 == 0][0].unique()):
    g = d[d[0] == u]
    rul = int(np.random.default_rng(u).integers(7, min(146, len(g) - 30)))
    test.append(g.iloc[: len(g) - rul])
    truth.append(rul)
fmt = {"sep": " ", "header": False, "index": False, "float_format": "%.4f"}
train.to_csv(OUT / "train_big.txt", **fmt)
pd.concat(test).to_csv(OUT / "test_big.txt", **fmt)
np.savetxt(OUT / "RUL_big.txt", truth, fmt="%d")
print(len(train), train[0].nunique(), len(truth))
