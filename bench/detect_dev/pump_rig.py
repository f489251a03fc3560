"""``detect_table`` on the README's pump rig (``examples/detect/make_sample.py``) under four settings and three
seeds (development tool, not a benchmark): the share of fault rows flagged, whether the vibration spike is found,
and the false-alarm rate on normal rows after the training rows (400 unless given). Arms as JSON, as in
``synthetic_cases.py``.

    .venv/bin/python bench/detect_dev/pump_rig.py ['{"arm": {kwargs}}'] [TRAIN_ROWS,...]
"""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path

from tvilling.ml.anomaly.offline import detect_table

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples" / "detect"))
from make_sample import sample

RIGS = ((0.02, "valve"), (0.005, "valve"), (0.005, "strainer"), (0.02, "strainer"))
SEEDS = (7, 8, 9)
TRAIN = 400


def main() -> None:
    arms = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {"default": {}}
    trains = [int(t) for t in sys.argv[2].split(",")] if len(sys.argv) > 2 else [TRAIN]
    for arm, kwargs in arms.items():
        for (load_step, fault), seed, train in itertools.product(RIGS, SEEDS, trains):
            df = sample(seed, load_step, fault)
            y = df.pop("anomaly").to_numpy().astype(bool)
            df.pop("datetime")
            f = detect_table(df.to_numpy(float), list(df.columns), train_rows=train, **kwargs).is_anomaly
            print(json.dumps({"arm": arm, "load_step": load_step, "fault": fault, "seed": seed,
                              **({"train_rows": train} if len(trains) > 1 else {}),
                              "fault_rows_flagged": round(float(f[700:1000].mean()), 2),
                              "spike_found": bool(f[1150]),
                              "false_alarm_rate": round(float(f[train:][~y[train:]].mean()), 3),
                              "tp": int((f & y)[train:].sum()), "fp": int((f & ~y)[train:].sum()),
                              "fn": int((~f & y)[train:].sum())}))


if __name__ == "__main__":
    main()
