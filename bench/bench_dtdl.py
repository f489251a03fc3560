"""DTDL parsing speed: the two reference ontologies, the full official v3 suite, and one large synthetic interface.
Baseline in the same run: decoding the same JSON text with ``json.loads`` (the floor any parser pays).
Prints one JSON object.

    .venv/bin/python bench/bench_dtdl.py [--shared ../shared] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tvilling.dtdl import ModelError, parse_models
from tvilling.dtdl.loader import metamodel


def _best_of(fn: Callable[[], Any], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _ontology(root: Path, repeats: int) -> dict[str, Any]:
    texts = [f.read_text(encoding="utf-8-sig") for f in sorted(root.rglob("*.json"))]
    docs = [json.loads(t) for t in texts]
    n = len(parse_models(docs).interfaces)
    parse_s = _best_of(lambda: parse_models(docs), repeats)
    json_s = _best_of(lambda: [json.loads(t) for t in texts], repeats)
    return {"files": len(texts), "interfaces": n, "parse_s": round(parse_s, 4),
            "interfaces_per_s": round(n / parse_s), "json_loads_s": round(json_s, 5),
            "ratio_vs_json_loads": round(parse_s / json_s, 1)}


def _suite(folder: Path, repeats: int) -> dict[str, Any]:
    cases = [c for f in sorted(folder.glob("*.json")) for c in json.loads(f.read_text(encoding="utf-8-sig"))]

    def run() -> int:
        ok = 0
        for c in cases:
            try:
                parse_models(c["input"], allow_undefined_extensions="AllowUndefinedExtensions" in c["options"])
                ok += c["valid"]
            except ModelError:
                ok += not c["valid"]
        return ok

    passed = run()
    secs = _best_of(run, repeats)
    return {"cases": len(cases), "passed": passed, "seconds": round(secs, 3),
            "cases_per_s": round(len(cases) / secs), "us_per_case": round(secs / len(cases) * 1e6, 1)}


def _large(n_props: int, repeats: int) -> dict[str, Any]:
    doc = {"@context": "dtmi:dtdl:context;3", "@id": "dtmi:bench:Large;1", "@type": "Interface",
           "contents": [{"@type": "Property", "name": f"p{i}", "schema": {
               "@type": "Object", "fields": [{"name": "a", "schema": "double"}, {"name": "b", "schema": "string"}]}}
               for i in range(n_props)]}
    elements = 1 + n_props * 4  # property, object, two fields
    secs = _best_of(lambda: parse_models([doc]), repeats)
    return {"elements": elements, "seconds": round(secs, 3), "elements_per_s": round(elements / secs)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--large", type=int, default=5000, help="properties in the synthetic interface")
    args = ap.parse_args()
    t0 = time.perf_counter()
    metamodel.cache_clear()
    metamodel()
    out: dict[str, Any] = {"metamodel_load_s": round(time.perf_counter() - t0, 4)}
    for name in ("energygrid", "isa95"):
        out[name] = _ontology(args.shared / "ontologies" / name, args.repeats)
    out["spec_v3"] = _suite(args.shared / "dtdl" / "spec-tests" / "v3", max(1, args.repeats // 2))
    out["large_interface"] = _large(args.large, max(1, args.repeats // 2))
    out["python"] = platform.python_version()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
