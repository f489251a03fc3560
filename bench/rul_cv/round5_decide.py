"""Round 5 decision: apply the rule fixed in round5_rule.json to the CV outputs round5_<name>.json.

    .venv/bin/python bench/rul_cv/round5_decide.py > bench/rul_cv/round5_decision.json

Reads no test file. Candidates with ``average_caps`` are scored on their averaged out-of-fold predictions (no
cap chosen); the reference at the best cap of {120, 130, 140, 150}, per split (bench/tune_rul.py).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from decide_common import HERE, decide, files_of, header, judge, mean_rmse, open_round, reference_block, summary


def main() -> None:
    rule, par, ref_name, ref, ref_over = open_round("round5")
    seeds = [str(s) for s in par["split_seeds"]]

    def cpu(files: dict[str, Any]) -> dict[str, list[float]]:
        return {f: [r["splits"][s]["cpu_seconds"] for s in seeds] for f, r in files.items()}

    out: dict[str, Any] = {
        **header("round5", rule, rule_time=True),
        "reference": reference_block("round5", ref_name, ref, ref_over, par["split_seeds"]),
        "candidates": {},
    }
    cpu_seconds = {ref_name: cpu(ref)}
    eligible = []
    for name, cand in rule["candidates"].items():
        path = HERE / f"round5_{name}.json"
        if not path.exists():
            out["candidates"][name] = {"overrides": cand["overrides"], "run": False}
            continue
        files, over = files_of("round5", name, par["split_seeds"])
        cmp, ok = judge(files, ref, par)
        out["candidates"][name] = {
            "overrides": over, "source": path.name, "cv": summary(files),
            "per_cap_scores_per_split": {f: {s: r["splits"][s]["scores"] for s in seeds} for f, r in files.items()},
            "mean_rmse": mean_rmse(files), "vs_reference": cmp, "adoptable": ok}
        cpu_seconds[name] = cpu(files)
        if ok:
            eligible.append((mean_rmse(files), name))
    decide(out, eligible, 3)
    out["cpu_seconds_per_split"] = cpu_seconds
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
