"""Two choices around ARTime made on the synthetic development corpora only (never on NAB).

1. ``margin``: the causal (live) ARTime learns its range over the probationary period; ``range_margin`` widens
   it by a share of its span on each side. Candidates {0, 0.1, 0.25, 0.5, 1.0}; 0 is the published behaviour.
2. ``ensemble``: ARTime and CAD OSE, both with published defaults and NAB's setup (file min/max), combined as
   ``max(artime, w * cad_ose)``. Candidates w in {0, 0.25, 0.5, 0.75, 1.0}; w = 0 is ARTime alone.

Rule, fixed before the first run: pick the candidate with the best standard score on the selection corpus
(seed 10, 120 files); adopt it only if it also beats the baseline candidate (margin 0 / w = 0) on the held-out
corpus (seed 11, 120 files). Each detector is run once per stream (scores cached under ``--cache``); every
candidate is then scored with Tvilling's NAB v1.1 scorer, one threshold per profile over the corpus.
Prints one JSON object with every candidate's scores.

    nice -n 19 .venv/bin/python -m bench.nab_dev.artime_select --cache /tmp/artime_dev > artime_select.json
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from bench.nab_dev.corpus import DevFile, make_corpus

from tvilling.ml.anomaly.artime import ARTimeDetector, nab_artime_scores, nab_probation
from tvilling.ml.anomaly.context_ose import nab_context_ose_scores
from tvilling.ml.nab import PROFILES, FileData, score_corpus

MARGINS = (0.0, 0.1, 0.25, 0.5, 1.0)
WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)
SEEDS = {"selection": 10, "held_out": 11}


def _causal(margin: float) -> Callable[[np.ndarray], np.ndarray]:
    def run(v: np.ndarray) -> np.ndarray:
        return ARTimeDetector(probation=nab_probation(len(v)), range_margin=margin).score_learn_many(v)
    return run


def _scores(cache: Path, tag: str, corpus: list[DevFile], fn: Callable[[np.ndarray], np.ndarray],
            cpu: dict[str, float]) -> list[np.ndarray]:
    """Each stream's scores under ``tag``, computed once and cached (a fresh detector per stream)."""
    path = cache / f"{tag}.npz"
    if path.is_file():
        with np.load(path) as z:
            return [z[f.name] for f in corpus]
    t0 = time.process_time()
    out = [np.clip(fn(f.values), 0.0, 1.0) for f in corpus]
    cpu[tag] = round(time.process_time() - t0, 1)
    np.savez(path, **{f.name: s for f, s in zip(corpus, out, strict=True)})
    return out


def _score(corpus: list[DevFile], scores: list[np.ndarray]) -> dict[str, float]:
    files = [FileData(f.name, len(f.values), f.windows, s) for f, s in zip(corpus, scores, strict=True)]
    return {p: round(score_corpus(files, prof).score, 3) for p, prof in PROFILES.items()}


def _choose(results: dict[str, dict[str, dict[str, float]]], baseline: str) -> dict[str, Any]:
    best = max(results, key=lambda c: results[c]["selection"]["standard"])
    held = results[best]["held_out"]["standard"] > results[baseline]["held_out"]["standard"]
    adopt = best != baseline and held
    return {"best_on_selection": best, "beats_baseline_on_held_out": held, "adopted": best if adopt else baseline}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cache", type=Path, required=True, help="folder for the per-stream scores")
    ap.add_argument("--files", type=int, default=120)
    args = ap.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    cpu: dict[str, float] = {}
    margin: dict[str, dict[str, dict[str, float]]] = {}
    ensemble: dict[str, dict[str, dict[str, float]]] = {}
    for split, seed in SEEDS.items():
        corpus = make_corpus(seed, args.files)
        for m in MARGINS:
            s = _scores(args.cache, f"s{seed}_causal_m{m}", corpus, _causal(m), cpu)
            margin.setdefault(f"margin={m}", {})[split] = _score(corpus, s)
        art = _scores(args.cache, f"s{seed}_artime", corpus, nab_artime_scores, cpu)
        cad = _scores(args.cache, f"s{seed}_context_ose", corpus, nab_context_ose_scores, cpu)
        for w in WEIGHTS:
            comb = [np.maximum(a, w * c) for a, c in zip(art, cad, strict=True)]
            ensemble.setdefault(f"w={w}", {})[split] = _score(corpus, comb)
        ensemble.setdefault("context_ose_alone", {})[split] = _score(corpus, cad)
    print(json.dumps({
        "files_per_corpus": args.files, "seeds": SEEDS, "cpu_seconds": cpu,
        "margin": {"candidates": margin, "choice": _choose(margin, "margin=0.0")},
        "ensemble": {"candidates": ensemble,
                     "choice": _choose({k: v for k, v in ensemble.items() if k.startswith("w=")}, "w=0.0")},
    }))


if __name__ == "__main__":
    main()
