"""Round 5 (NAB, issue #6): check that development corpus v2 ranks detectors as NAB's scoreboard does, then
evaluate the pre-registered candidates. Never reads NAB. Rule, candidates and adoption: ``round5_rule.json``
(written before any v2 score was seen).

    # ranking check of a corpus revision on the selection (20) and held-out (21) seeds; appends to the log
    nice -n 19 .venv/bin/python -m bench.nab_dev.round5 rank --revision 1 --cache /tmp/round5
    # candidates (only for a revision that passed on both seeds); writes round5_select.json
    nice -n 19 .venv/bin/python -m bench.nab_dev.round5 select --revision 1 --cache /tmp/round5

Each detector runs as ``tvilling bench nab`` runs it (a fresh detector per file, the file's min/max and length
as NAB's runner gives every detector) and is scored with Tvilling's NAB v1.1 scorer, one threshold per profile
over the corpus. Per-file scores are cached under ``--cache``. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import bisect
import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from bench.nab_dev.artime_select import _scores  # per-stream scores, cached per tag
from bench.nab_dev.corpus import DevFile
from bench.nab_dev.corpus_v2 import REVISIONS, make_corpus
from bench.nab_dev.windowed_gaussian import windowed_gaussian_scores

from tvilling.cli.bench_nab import DETECTORS
from tvilling.ml.nab import PROFILES, FileData, score_corpus

HERE = Path(__file__).resolve().parent
LOG = HERE / "round5_corpus_log.json"
SEEDS = {"selection": 20, "held_out": 21}
COPIES = 2
RANKED: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "artime": DETECTORS["artime"], "context_ose": DETECTORS["context_ose"], "tvilling": DETECTORS["tvilling"],
    "zscore": DETECTORS["zscore"], "windowed_gaussian": windowed_gaussian_scores,
}
WEIGHTS = (0.25, 0.5, 0.75, 1.0)
MARGIN = 1.0  # standard points over `artime` alone on the held-out seed


def _score(corpus: list[DevFile], scores: list[np.ndarray]) -> dict[str, Any]:
    files = [FileData(f.name, len(f.values), f.windows, s) for f, s in zip(corpus, scores, strict=True)]
    out: dict[str, Any] = {}
    for p, prof in PROFILES.items():
        cs = score_corpus(files, prof)
        out[p] = round(cs.score, 3)
        if p == "standard":
            out["detected"], out["false_positives"] = cs.detected, cs.false_positives
    return out


def faithful(std: dict[str, float]) -> bool:
    """The scoreboard's order: artime > context_ose > every one of tvilling, zscore, windowed_gaussian."""
    rest = max(std["tvilling"], std["zscore"], std["windowed_gaussian"])
    return std["artime"] > std["context_ose"] > rest


def running_cdf(s: np.ndarray) -> np.ndarray:
    """Each score mapped to the share of the file's earlier scores strictly below it (0 stays 0): causal, no
    labels; a global threshold then reads "in the top q of this stream so far"."""
    seen: list[float] = []
    out = np.zeros(len(s))
    for i, x in enumerate(s.tolist()):
        if x > 0.0 and seen:
            out[i] = bisect.bisect_left(seen, x) / len(seen)
        bisect.insort(seen, x)
    return out


def candidates(art: list[np.ndarray], cad: list[np.ndarray]) -> dict[str, list[np.ndarray]]:
    out = {f"max(artime, {w} * context_ose)": [np.maximum(a, w * c) for a, c in zip(art, cad, strict=True)]
           for w in WEIGHTS}
    out["max(cdf(artime), cdf(context_ose))"] = [np.maximum(running_cdf(a), running_cdf(c))
                                                 for a, c in zip(art, cad, strict=True)]
    return out


def _log() -> list[dict[str, Any]]:
    return json.loads(LOG.read_text()) if LOG.is_file() else []


def rank(revision: int, cache: Path) -> dict[str, Any]:
    cpu: dict[str, float] = {}
    entry: dict[str, Any] = {"revision": revision, "change": REVISIONS[revision],
                             "utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "seeds": SEEDS,
                             "copies": COPIES, "results": {}, "cpu_seconds": cpu}
    passed = {}
    for split, seed in SEEDS.items():
        corpus = make_corpus(seed, COPIES, revision)
        res = {d: _score(corpus, _scores(cache, f"r{revision}_s{seed}_{d}", corpus, fn, cpu))
               for d, fn in RANKED.items()}
        entry["results"][split] = {"files": len(corpus), "points": sum(len(f.values) for f in corpus),
                                   "windows": sum(len(f.windows) for f in corpus), "detectors": res}
        passed[split] = faithful({d: r["standard"] for d, r in res.items()})
    entry["faithful"] = passed
    entry["passes"] = all(passed.values())
    log = [e for e in _log() if e["revision"] != revision] + [entry]
    LOG.write_text(json.dumps(log, indent=1) + "\n")
    return entry


def select(revision: int, cache: Path) -> dict[str, Any]:
    entry = next((e for e in _log() if e["revision"] == revision), None)
    if entry is None or not entry["passes"]:
        raise SystemExit(f"revision {revision} has not passed the faithfulness criterion; nothing is selected")
    cpu: dict[str, float] = {}
    res: dict[str, dict[str, Any]] = {}
    for split, seed in SEEDS.items():
        corpus = make_corpus(seed, COPIES, revision)
        art = _scores(cache, f"r{revision}_s{seed}_artime", corpus, RANKED["artime"], cpu)
        cad = _scores(cache, f"r{revision}_s{seed}_context_ose", corpus, RANKED["context_ose"], cpu)
        res.setdefault("artime (baseline)", {})[split] = _score(corpus, art)
        for name, sc in candidates(art, cad).items():
            res.setdefault(name, {})[split] = _score(corpus, sc)
    names = [n for n in res if n != "artime (baseline)"]
    best = max(names, key=lambda n: res[n]["selection"]["standard"])
    base = res["artime (baseline)"]
    sel_ok = res[best]["selection"]["standard"] > base["selection"]["standard"]
    held_ok = res[best]["held_out"]["standard"] >= base["held_out"]["standard"] + MARGIN
    out = {"revision": revision, "utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "seeds": SEEDS,
           "candidates": res, "best_on_selection": best, "beats_artime_on_selection": sel_ok,
           "beats_artime_on_held_out_by_margin": held_ok, "margin": MARGIN,
           "adopted": best if sel_ok and held_ok else None}
    (HERE / "round5_select.json").write_text(json.dumps(out, indent=1) + "\n")
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("step", choices=["rank", "select"])
    ap.add_argument("--revision", type=int, required=True)
    ap.add_argument("--cache", type=Path, required=True)
    args = ap.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    print(json.dumps(rank(args.revision, args.cache) if args.step == "rank" else select(args.revision, args.cache)))


if __name__ == "__main__":
    main()
