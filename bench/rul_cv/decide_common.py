"""Steps shared by the per-round decision scripts (``roundN_decide.py``): read a round's rule and its CV outputs
(``roundN_<name>.json`` from bench/tune_rul.py), summarise them, and judge a candidate against the reference under
the rule (bench/tune_rul.py ``compare_splits`` / ``adoptable``). Reads no test file."""

from __future__ import annotations

import datetime
import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))

from bench.tune_rul import adoptable, compare_splits  # noqa: E402

SUMMARY_KEYS = ("rmse", "rmse_per_split", "cap_per_split", "cv_coverage", "cv_coverage_per_split")


def load_rule(tag: str) -> dict[str, Any]:
    return dict(json.loads((HERE / f"{tag}_rule.json").read_text()))


def open_round(tag: str) -> tuple[dict[str, Any], dict[str, Any], str, dict[str, Any], dict[str, Any]]:
    """A round's rule, its parameters, the reference's name, per-file CV results and overrides."""
    rule = load_rule(tag)
    par = rule["rule_parameters"]
    ref_name = rule["reference"]["name"]
    ref, ref_over = files_of(tag, ref_name, par["split_seeds"])
    return rule, par, ref_name, ref, ref_over


def header(tag: str, rule: dict[str, Any], rule_time: bool) -> dict[str, Any]:
    """The decision file's first keys: when it was written (before any test evaluation) and which rule it applies."""
    out: dict[str, Any] = {
        "written_at_utc": datetime.datetime.now(datetime.UTC).replace(microsecond=0).isoformat(),
        f"written_before_any_test_evaluation_of_{tag}": True,
        "rule_file": f"{tag}_rule.json",
    }
    if rule_time:
        out["rule_written_at_utc"] = rule["written_at_utc"]
    out["rule"] = rule["rule"]
    return out


def files_of(tag: str, name: str, split_seeds: list[int]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A variant's per-file CV results and its overrides, from ``<tag>_<name>.json``."""
    run = json.loads((HERE / f"{tag}_{name}.json").read_text())
    assert run["split_seeds"] == split_seeds, name
    return run["table"][name]["files"], run["table"][name]["overrides"]


def summary(files: dict[str, Any]) -> dict[str, Any]:
    return {f: {k: r[k] for k in SUMMARY_KEYS} for f, r in files.items()}


def mean_rmse(files: dict[str, Any]) -> float:
    return round(sum(r["rmse"] for r in files.values()) / len(files), 3)


def reference_block(tag: str, ref_name: str, ref: dict[str, Any], ref_over: dict[str, Any],
                    split_seeds: list[int]) -> dict[str, Any]:
    """The reference's summary, plus (for information) its score at the cap its own cut_rule ("life") picks."""
    seeds = [str(s) for s in split_seeds]
    own = {f: [r["splits"][s]["scores"][str(r["splits"][s]["round2_rule"]["cap"])] for s in seeds]
           for f, r in ref.items()}
    return {"name": ref_name, "source": f"{tag}_{ref_name}.json", "overrides": ref_over, "cv": summary(ref),
            "mean_rmse": mean_rmse(ref),
            "at_the_cap_cut_rule_life_chooses": {f: {"rmse_per_split": v, "rmse": round(sum(v) / len(v), 3)}
                                                 for f, v in own.items()}}


def judge(files: dict[str, Any], ref: dict[str, Any], par: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """The candidate against the reference (gains, splits won) and whether the rule adopts it."""
    cmp = compare_splits(files, ref)
    ok = adoptable(cmp, files, par["min_gain_each_file"], par["min_splits_won_on_both_files"],
                   tuple(par["cv_coverage_range"]))
    return cmp, ok


def decide(out: dict[str, Any], eligible: list[tuple[float, str]], evaluation: int) -> None:
    """The choice (lowest mean among the adoptable) and what happens to the test files."""
    chosen = min(eligible)[1] if eligible else None
    out["chosen"] = chosen
    out["adopted"] = chosen is not None
    out["test_evaluation"] = (
        f"run once with the two `tvilling bench rul --json` commands (test_once.jsonl, evaluation {evaluation})"
        if chosen else "not run (rule: if no candidate qualifies, the test files are not read)")
