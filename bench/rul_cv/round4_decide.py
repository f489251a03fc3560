"""Round 4 decision: apply the rule fixed in round4_rule.json to the CV outputs round4_<name>.json.

    .venv/bin/python bench/rul_cv/round4_decide.py > bench/rul_cv/round4_decision.json

Reads no test file. Candidate c (cut_rule="unit") is scored from the reference run: cut_rule changes only how
fit() chooses its cap and calibrates, not the out-of-fold predictions, and the rule's "best cap of its grid"
under unit weights is the cap cut_rule="unit" chooses — so its figures are the reference's (gain 0).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from decide_common import HERE, decide, files_of, header, judge, mean_rmse, open_round, reference_block, summary


def main() -> None:
    rule, par, ref_name, ref, ref_over = open_round("round4")
    out: dict[str, Any] = {
        **header("round4", rule, rule_time=False),
        "reference": reference_block("round4", ref_name, ref, ref_over, par["split_seeds"]),
        "candidates": {},
    }
    eligible = []
    for name in [n for n, c in rule["candidates"].items() if isinstance(c, dict)]:
        path = HERE / f"round4_{name}.json"
        if name == "c_cut_unit":
            files, over, source = ref, rule["candidates"][name]["overrides"], f"round4_{ref_name}.json (identical fits)"
        elif path.exists():
            files, over = files_of("round4", name, par["split_seeds"])
            source = path.name
        else:
            out["candidates"][name] = {"overrides": rule["candidates"][name]["overrides"], "run": False}
            continue
        cmp, ok = judge(files, ref, par)
        out["candidates"][name] = {"overrides": over, "source": source, "cv": summary(files),
                                   "mean_rmse": mean_rmse(files), "vs_reference": cmp, "adoptable": ok}
        if ok:
            eligible.append((mean_rmse(files), name))
    decide(out, eligible, 3)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
