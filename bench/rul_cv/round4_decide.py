"""Round 4 decision: apply the rule fixed in round4_rule.json to the CV outputs round4_<name>.json.

    .venv/bin/python bench/rul_cv/round4_decide.py > bench/rul_cv/round4_decision.json

Reads no test file. Candidate c (cut_rule="unit") is scored from the reference run: cut_rule changes only how
fit() chooses its cap and calibrates, not the out-of-fold predictions, and the rule's "best cap of its grid"
under unit weights is the cap cut_rule="unit" chooses — so its figures are the reference's (gain 0).
"""

from __future__ import annotations

import datetime
import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))

from bench.tune_rul import adoptable, compare_splits  # noqa: E402


def main() -> None:
    rule = json.loads((HERE / "round4_rule.json").read_text())
    par = rule["rule_parameters"]
    ref_name = rule["reference"]["name"]

    def files_of(name: str) -> tuple[dict[str, Any], dict[str, Any]]:
        run = json.loads((HERE / f"round4_{name}.json").read_text())
        assert run["split_seeds"] == par["split_seeds"], name
        return run["table"][name]["files"], run["table"][name]["overrides"]

    ref, ref_over = files_of(ref_name)

    def summary(files: dict[str, Any]) -> dict[str, Any]:
        return {
            f: {k: r[k] for k in ("rmse", "rmse_per_split", "cap_per_split", "cv_coverage", "cv_coverage_per_split")}
            for f, r in files.items()
        }

    # For information: the reference scored at the cap its own cut_rule ("life") would choose, per split.
    own = {
        f: [r["splits"][str(s)]["scores"][str(r["splits"][str(s)]["round2_rule"]["cap"])] for s in par["split_seeds"]]
        for f, r in ref.items()
    }
    out: dict[str, Any] = {
        "written_at_utc": datetime.datetime.now(datetime.UTC).replace(microsecond=0).isoformat(),
        "written_before_any_test_evaluation_of_round4": True,
        "rule_file": "round4_rule.json",
        "rule": rule["rule"],
        "reference": {
            "name": ref_name,
            "source": f"round4_{ref_name}.json",
            "overrides": ref_over,
            "cv": summary(ref),
            "mean_rmse": round(sum(r["rmse"] for r in ref.values()) / len(ref), 3),
            "at_the_cap_cut_rule_life_chooses": {
                f: {"rmse_per_split": v, "rmse": round(sum(v) / len(v), 3)} for f, v in own.items()
            },
        },
        "candidates": {},
    }
    names = [n for n, c in rule["candidates"].items() if isinstance(c, dict)]
    eligible = []
    for name in names:
        path = HERE / f"round4_{name}.json"
        if name == "c_cut_unit":
            files, over, source = ref, rule["candidates"][name]["overrides"], f"round4_{ref_name}.json (identical fits)"
        elif path.exists():
            files, over = files_of(name)
            source = path.name
        else:
            out["candidates"][name] = {"overrides": rule["candidates"][name]["overrides"], "run": False}
            continue
        cmp = compare_splits(files, ref)
        ok = adoptable(
            cmp, files, par["min_gain_each_file"], par["min_splits_won_on_both_files"], tuple(par["cv_coverage_range"])
        )
        mean = round(sum(r["rmse"] for r in files.values()) / len(files), 3)
        out["candidates"][name] = {
            "overrides": over,
            "source": source,
            "cv": summary(files),
            "mean_rmse": mean,
            "vs_reference": cmp,
            "adoptable": ok,
        }
        if ok:
            eligible.append((mean, name))
    chosen = min(eligible)[1] if eligible else None
    out["chosen"] = chosen
    out["adopted"] = chosen is not None
    out["test_evaluation"] = (
        "run once with the two `tvilling bench rul --json` commands (test_once.jsonl, evaluation 3)"
        if chosen
        else "not run (rule: if no candidate qualifies, the test files are not read)"
    )
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
