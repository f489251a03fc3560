"""Two reference detectors on the development rigs, beside ``detect_table``'s default (development tool, not a
benchmark; nothing is chosen with it). Per-row F1 rewards flagging the whole of a long fault, so these put the
default's F1 in context:

* ``flag_all``: every row after the training rows is anomalous (recall 1; its F1 depends only on the share of
  fault rows);
* ``pca_t2_q``: the classical multivariate-SPC baseline SKAB lists ("T-squared + Q (PCA)"): signals standardised
  on the training rows, PCA keeping 85 % of their variance, a row flagged when Hotelling's T^2 or the residual Q
  exceeds the 99th percentile of its training values. The model is fixed after the training rows.

Rigs: ``pump_rig.py``'s 12 runs (400 training rows) and ``holdout_rig.py``'s five kinds x 5 seeds. The second
held-out rig (``holdout_rig2.py``) is not run here: it is reserved for judging a detector round.

    .venv/bin/python bench/detect_dev/classical_baselines.py
"""

from __future__ import annotations

import itertools
import json
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
from sklearn.decomposition import PCA

from tvilling.ml.anomaly.offline import detect_table

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "examples" / "detect"))
sys.path.insert(0, str(HERE))
import holdout_rig  # noqa: E402
from make_sample import sample  # noqa: E402
from pump_rig import RIGS, SEEDS, TRAIN  # noqa: E402

Method = Callable[[np.ndarray, list[str], int], np.ndarray]


def pca_t2_q(X: np.ndarray, train: int, explained: float = 0.85, quantile: float = 0.99) -> np.ndarray:
    mu, sd = X[:train].mean(axis=0), X[:train].std(axis=0) + 1e-12
    Z = (X - mu) / sd
    pca = PCA().fit(Z[:train])
    k = int(np.searchsorted(np.cumsum(pca.explained_variance_ratio_), explained) + 1)
    P, lam = pca.components_[:k], pca.explained_variance_[:k]
    S = Z @ P.T
    t2, q = (S ** 2 / lam).sum(axis=1), ((Z - S @ P) ** 2).sum(axis=1)
    return (t2 > np.quantile(t2[:train], quantile)) | (q > np.quantile(q[:train], quantile))


METHODS: dict[str, Method] = {
    "detect_table default": lambda X, names, train: detect_table(X, names, train_rows=train).is_anomaly,
    "flag_all": lambda X, names, train: np.ones(len(X), bool),
    "pca_t2_q": lambda X, names, train: pca_t2_q(X, train),
}


def line(rig: str, method: str, counts: list[tuple[int, int, int, int]]) -> str:
    tp, fp, fn, normal = (sum(c) for c in zip(*counts, strict=True))
    prec, rec = tp / max(tp + fp, 1), tp / max(tp + fn, 1)
    return json.dumps({"rig": rig, "method": method, "f1": round(2 * prec * rec / max(prec + rec, 1e-12), 3),
                       "recall": round(rec, 3), "false_alarm_rate": round(fp / normal, 4)})


def counts(f: np.ndarray, y: np.ndarray, train: int) -> tuple[int, int, int, int]:
    f, y = f[train:], y[train:]
    return int((f & y).sum()), int((f & ~y).sum()), int((~f & y).sum()), int((~y).sum())


def main() -> None:
    for method, run in METHODS.items():
        pump = []
        for (load_step, fault), seed in itertools.product(RIGS, SEEDS):
            df = sample(seed, load_step, fault)
            y = df.pop("anomaly").to_numpy().astype(bool)
            df.pop("datetime")
            pump.append(counts(run(df.to_numpy(float), list(df.columns), TRAIN), y, TRAIN))
        print(line("pump_rig", method, pump))
        for kind in holdout_rig.KINDS:
            runs = []
            for seed in range(5):
                X, y = holdout_rig.rig(seed, kind)
                runs.append(counts(run(X, holdout_rig.NAMES, holdout_rig.TRAIN), y, holdout_rig.TRAIN))
            print(line(f"holdout_rig/{kind}", method, runs))


if __name__ == "__main__":
    main()
