"""``detect_table`` on the README's pump rig (``examples/detect/make_sample.py``) under four settings and three
seeds (development tool, not a benchmark): the share of fault rows flagged, whether the vibration spike is found,
and the false-alarm rate on normal rows after the 400 training rows. Arms as JSON, as in ``synthetic_cases.py``.

    .venv/bin/python bench/detect_dev/pump_rig.py ['{"arm": {kwargs}}']
"""

from __future__ import annotations

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
    for arm, kwargs in arms.items():
        for load_step, fault in RIGS:
            for seed in SEEDS:
                df = sample(seed, load_step, fault)
                y = df.pop("anomaly").to_numpy().astype(bool)
                df.pop("datetime")
                f = detect_table(df.to_numpy(float), list(df.columns), train_rows=TRAIN, **kwargs).is_anomaly
                print(json.dumps({"arm": arm, "load_step": load_step, "fault": fault, "seed": seed,
                                  "fault_rows_flagged": round(float(f[700:1000].mean()), 2),
                                  "spike_found": bool(f[1150]),
                                  "false_alarm_rate": round(float(f[TRAIN:][~y[TRAIN:]].mean()), 3),
                                  "tp": int((f & y)[TRAIN:].sum()), "fp": int((f & ~y)[TRAIN:].sum()),
                                  "fn": int((~f & y)[TRAIN:].sum())}))


if __name__ == "__main__":
    main()
