"""Round 5 decision: apply the rule fixed in round5_rule.json to the CV outputs round5_<name>.json.

    .venv/bin/python bench/rul_cv/round5_decide.py > bench/rul_cv/round5_decision.json

Reads no test file. Candidates with ``average_caps`` are scored on their averaged out-of-fold predictions (no
cap chosen); the reference at the best cap of {120, 130, 140, 150}, per split (bench/tune_rul.py).
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
    rule = json.loads((HERE / "round5_rule.json").read_text())
    par = rule["rule_parameters"]
    ref_name = rule["reference"]["name"]

    def files_of(name: str) -> tuple[dict[str, Any], dict[str, Any]]:
        run = json.loads((HERE / f"round5_{name}.json").read_text())
        assert run["split_seeds"] == par["split_seeds"], name
        return run["table"][name]["files"], run["table"][name]["overrides"]

    ref, ref_over = files_of(ref_name)
    seeds = [str(s) for s in par["split_seeds"]]

    def summary(files: dict[str, Any]) -> dict[str, Any]:
        return {
            f: {k: r[k] for k in ("rmse", "rmse_per_split", "cap_per_split", "cv_coverage", "cv_coverage_per_split")}
            for f, r in files.items()
        }

    def cpu(files: dict[str, Any]) -> dict[str, list[float]]:
        return {f: [r["splits"][s]["cpu_seconds"] for s in seeds] for f, r in files.items()}

    # For information: the reference scored at the cap its own cut_rule ("life") would choose, per split.
    own = {f: [r["splits"][s]["scores"][str(r["splits"][s]["round2_rule"]["cap"])] for s in seeds]
           for f, r in ref.items()}
    out: dict[str, Any] = {
        "written_at_utc": datetime.datetime.now(datetime.UTC).replace(microsecond=0).isoformat(),
        "written_before_any_test_evaluation_of_round5": True,
        "rule_file": "round5_rule.json",
        "rule_written_at_utc": rule["written_at_utc"],
        "rule": rule["rule"],
        "reference": {
            "name": ref_name,
            "source": f"round5_{ref_name}.json",
            "overrides": ref_over,
            "cv": summary(ref),
            "mean_rmse": round(sum(r["rmse"] for r in ref.values()) / len(ref), 3),
            "at_the_cap_cut_rule_life_chooses": {
                f: {"rmse_per_split": v, "rmse": round(sum(v) / len(v), 3)} for f, v in own.items()
            },
        },
        "candidates": {},
    }
    cpu_seconds = {ref_name: cpu(ref)}
    eligible = []
    for name, cand in rule["candidates"].items():
        path = HERE / f"round5_{name}.json"
        if not path.exists():
            out["candidates"][name] = {"overrides": cand["overrides"], "run": False}
            continue
        files, over = files_of(name)
        cmp = compare_splits(files, ref)
        ok = adoptable(
            cmp, files, par["min_gain_each_file"], par["min_splits_won_on_both_files"], tuple(par["cv_coverage_range"])
        )
        mean = round(sum(r["rmse"] for r in files.values()) / len(files), 3)
        out["candidates"][name] = {
            "overrides": over,
            "source": path.name,
            "cv": summary(files),
            "per_cap_scores_per_split": {f: {s: r["splits"][s]["scores"] for s in seeds} for f, r in files.items()},
            "mean_rmse": mean,
            "vs_reference": cmp,
            "adoptable": ok,
        }
        cpu_seconds[name] = cpu(files)
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
    out["cpu_seconds_per_split"] = cpu_seconds
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
