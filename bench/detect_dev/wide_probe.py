"""``detect_table`` on a wide, long plant whose common factors wander (development probe, not a benchmark).

38 signals driven by 5 common factors that move as random walks (step 0.05 per row) plus unit noise, 5 000 rows, the
first 1 000 for training, no anomaly at all: prints the share of rows after training that are flagged, and why, for
each arm (``detect_table`` keyword arguments as JSON), over the given seeds.

    .venv/bin/python bench/detect_dev/wide_probe.py [SEEDS] ['{"arm": {kwargs}}']
"""

from __future__ import annotations

import json
import sys
from collections import Counter

import numpy as np

from tvilling.ml.anomaly.offline import detect_table

N, D, FACTORS, TRAIN = 5000, 38, 5, 1000


def main() -> None:
    seeds = range(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
    arms = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {"default": {}}
    for arm, kwargs in arms.items():
        rates, why = [], Counter[str]()
        for seed in seeds:
            rng = np.random.default_rng(seed)
            X = (rng.normal(size=(N, FACTORS)).cumsum(axis=0) * 0.05) @ rng.normal(size=(FACTORS, D))
            X += rng.normal(size=(N, D))
            r = detect_table(X, [f"s{j}" for j in range(D)], train_rows=TRAIN, **kwargs)
            rates.append(float(r.is_anomaly[TRAIN:].mean()))
            why.update(r.reason[t] for t in range(TRAIN, N) if r.is_anomaly[t])
        print(json.dumps({"arm": arm, "false_alarm_rate": round(float(np.mean(rates)), 4),
                          "per_seed": [round(x, 4) for x in rates], "reasons": dict(why.most_common())}))


if __name__ == "__main__":
    main()
