"""Round 4, information only (run after the rule was fixed; no choice can come from it): on the dumps of
``bench/tune_rul.py --split-seeds 0,1,2 --dump-oof DIR`` for ``round2`` and ``a_mean_median``, the score of
averaging each model's predictions over caps (130/140/150 and 130/140) instead of taking the best cap, per
split, under the round-3 scoring rule (cut points RUL <= 150, each unit weighing 1, uncapped RUL).

    .venv/bin/python bench/rul_cv/round4_probes.py --dumps /tmp/oof4 > bench/rul_cv/round4_probes.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from tvilling.ml.rul.lgbm import cut_weights


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dumps", type=Path, required=True)
    args = ap.parse_args()
    out: dict[str, dict[str, dict[str, list[float] | float]]] = {}
    for name in ("round2", "a_mean_median"):
        for train in ("train_FD001", "train_FD003"):
            rows: dict[str, list[float]] = {"best cap": [], "mean of caps 130/140/150": [], "mean of caps 130/140": []}
            for split in (0, 1, 2):
                d = np.load(args.dumps / f"{name}_split{split}_{train}.npz")
                w = cut_weights(d["rul"], d["unit"], 150.0, "unit")
                oof = {float(c): o for c, o in zip(d["caps"], d["oof"], strict=True)}

                def score(p: np.ndarray, d: dict[str, np.ndarray] = d, w: np.ndarray = w) -> float:
                    return round(float(np.sqrt(np.average((p - d["rul"]) ** 2, weights=w))), 3)

                rows["best cap"].append(min(score(o) for o in oof.values()))
                rows["mean of caps 130/140/150"].append(score(np.mean([oof[c] for c in (130.0, 140.0, 150.0)], 0)))
                rows["mean of caps 130/140"].append(score(np.mean([oof[c] for c in (130.0, 140.0)], 0)))
            out.setdefault(name, {})[train] = dict(rows)
            out[name][train].update({f"{r} (mean over splits)": round(float(np.mean(v)), 3) for r, v in rows.items()})
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
