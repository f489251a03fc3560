"""The scoring loop the held-out rigs share (``holdout_rig.py``, ``holdout_rig2.py``): per arm and kind, over the
seeds, row-wise counts after the training rows, printed as one JSON line each."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence

import numpy as np

from tvilling.ml.anomaly.offline import detect_table

Rig = Callable[[int, str], tuple[np.ndarray, np.ndarray]]


def score_kinds(rig: Rig, names: Sequence[str], train: int, kinds: Sequence[str], *, rows_key: str,
                found_key: str) -> None:
    """Command line: ``[SEEDS] ['{"arm": {detect_table kwargs}}']``. Prints the share of anomalous rows flagged
    (``rows_key``), how many seeds' events had a flag (``found_key``; None for a kind without events), the false-alarm
    rate on normal rows and the row-wise F1."""
    seeds = range(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
    arms = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {"default": {}}
    for arm, kwargs in arms.items():
        for kind in kinds:
            tp = fp = fn = normal = found = 0
            for seed in seeds:
                X, y = rig(seed, kind)
                f = detect_table(X, list(names), train_rows=train, **kwargs).is_anomaly[train:]
                t = y[train:]
                tp, fp, fn = tp + int((f & t).sum()), fp + int((f & ~t).sum()), fn + int((~f & t).sum())
                normal += int((~t).sum())
                found += bool(f[t].any())
            prec = tp / (tp + fp) if tp + fp else 0.0
            rec = tp / (tp + fn) if tp + fn else 0.0
            print(json.dumps({"arm": arm, "kind": kind, rows_key: round(rec, 3),
                              found_key: f"{found}/{len(seeds)}" if tp + fn else None,
                              "false_alarm_rate": round(fp / normal, 4),
                              "f1": round(2 * prec * rec / (prec + rec), 3) if prec + rec else 0.0}))
