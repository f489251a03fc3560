"""A deterministic twin graph over the CIM energy-grid DTDL ontology, and ADT semantics re-implemented in plain
Python as the test oracle (independent of the compiler: no SQL, no tvilling.query imports)."""

from __future__ import annotations

import datetime as dt
import json
import random
from collections import defaultdict, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ONTOLOGY = Path(__file__).resolve().parents[3].parent / "shared" / "ontologies" / "energygrid"
NUMERIC = {"float", "double", "integer", "long"}


def _as_list(value: Any) -> list[Any]:
    return [] if value is None else [value] if isinstance(value, str | dict) else list(value)


@dataclass
class Ontology:
    interfaces: dict[str, dict[str, Any]]
    parents: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def load(cls, root: Path = ONTOLOGY) -> Ontology:
        interfaces: dict[str, dict[str, Any]] = {}
        for path in sorted(root.rglob("*.json")):
            for doc in _as_list(json.loads(path.read_text())):
                interfaces[doc["@id"]] = doc
        onto = cls(interfaces)
        onto.parents = {i: [p for p in _as_list(d.get("extends")) if isinstance(p, str)]
                        for i, d in interfaces.items()}
        return onto

    def ancestors(self, dtmi: str) -> set[str]:
        """The model itself and everything it extends, walking raw ``extends`` upwards."""
        seen, todo = {dtmi}, deque([dtmi])
        while todo:
            for parent in self.parents.get(todo.popleft(), []):
                if parent not in seen:
                    seen.add(parent)
                    todo.append(parent)
        return seen

    def descendants(self, dtmi: str) -> set[str]:
        """The callback handed to execute_query: a different (downward) walk from the oracle's upward one."""
        children: dict[str, list[str]] = defaultdict(list)
        for child, parents in self.parents.items():
            for parent in parents:
                children[parent].append(child)
        seen, todo = {dtmi}, deque([dtmi])
        while todo:
            for child in children.get(todo.popleft(), []):
                if child not in seen:
                    seen.add(child)
                    todo.append(child)
        return seen

    def contents(self, dtmi: str, kind: str) -> list[dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for model in sorted(self.ancestors(dtmi)):
            for item in self.interfaces.get(model, {}).get("contents", []):
                if kind in _as_list(item.get("@type")):
                    out.setdefault(item["name"], item)
        return list(out.values())


@dataclass
class Graph:
    twins: dict[str, dict[str, Any]]  # id -> ADT twin document
    rels: list[dict[str, Any]]  # ADT relationship documents
    model_of: dict[str, str]


WORDS = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel")


def _value(rng: random.Random, schema: Any) -> Any:
    if isinstance(schema, dict) and schema.get("@type") == "Enum":
        return rng.choice([v["enumValue"] for v in schema["enumValues"]])
    if schema in NUMERIC:
        return rng.randint(-50, 500) if schema in ("integer", "long") else round(rng.uniform(-10, 1000), 3)
    if schema == "boolean":
        return rng.random() < 0.5
    if schema == "dateTime":
        return (dt.datetime(2024, 1, 1) + dt.timedelta(minutes=rng.randint(0, 10**6))).isoformat() + "Z"
    return f"{rng.choice(WORDS)}-{rng.randint(0, 999):03d}"


def _undeclared_twin_props(rng: random.Random, doc: dict[str, Any]) -> None:
    # Values that exercise typing rules: an object (component-like), and a property of mixed JSON types.
    if rng.random() < 0.5:
        doc["geo"] = {"lat": round(rng.uniform(50, 70), 4), "lon": round(rng.uniform(-5, 30), 4),
                      "site": {"code": rng.choice(WORDS)}}
    roll = rng.random()
    if roll < 0.3:
        doc["rating"] = rng.randint(0, 10)
    elif roll < 0.5:
        doc["rating"] = str(rng.randint(0, 10))
    elif roll < 0.6:
        doc["rating"] = None


def _undeclared_rel_props(rng: random.Random, doc: dict[str, Any]) -> None:
    if rng.random() < 0.8:
        doc["weight"] = round(rng.random(), 4)
    if rng.random() < 0.5:
        doc["label"] = rng.choice(WORDS)
    if rng.random() < 0.3:
        doc["info"] = {"k": rng.randint(0, 9)}


def build(onto: Ontology, *, seed: int = 7, n_twins: int = 10_000, n_rels: int = 30_000,
          conform: bool = False) -> Graph:
    """``conform``: only properties the ontology declares (what the API accepts); the default also adds undeclared
    twin and relationship properties of mixed JSON types, written straight into the store by the store-level test."""
    rng = random.Random(seed)
    models = sorted(onto.interfaces)
    twins: dict[str, dict[str, Any]] = {}
    model_of: dict[str, str] = {}
    props_cache = {m: onto.contents(m, "Property") for m in models}
    for i in range(n_twins):
        model = rng.choice(models)
        tid = f"{model.split(':')[-1].split(';')[0]}-{i:05d}"
        doc: dict[str, Any] = {"$dtId": tid, "$etag": f'W/"{i}"', "$metadata": {"$model": model}}
        for prop in props_cache[model]:
            if rng.random() < 0.7:
                doc[prop["name"]] = _value(rng, prop["schema"])
        if not conform:
            _undeclared_twin_props(rng, doc)
        twins[tid] = doc
        model_of[tid] = model
    by_model: dict[str, list[str]] = defaultdict(list)
    for tid, model in model_of.items():
        for anc in onto.ancestors(model):
            by_model[anc].append(tid)
    rel_cache = {m: onto.contents(m, "Relationship") for m in models}
    if conform:  # a relationship whose target model no twin has (20 CIM targets are not defined) has no valid target
        rel_cache = {m: [r for r in rs if "target" not in r or by_model.get(r["target"])]
                     for m, rs in rel_cache.items()}
    sources = [t for t in twins if rel_cache[model_of[t]]]
    all_ids = list(twins)
    rels: list[dict[str, Any]] = []
    for i in range(n_rels):
        src = rng.choice(sources)
        rel = rng.choice(rel_cache[model_of[src]])
        candidates = by_model.get(rel.get("target", ""), []) or all_ids
        tgt = rng.choice(candidates)
        doc = {"$relationshipId": f"rel-{i:05d}", "$sourceId": src, "$targetId": tgt,
               "$relationshipName": rel["name"], "$etag": f'W/"r{i}"'}
        if not conform:
            _undeclared_rel_props(rng, doc)
        rels.append(doc)
    return Graph(twins, rels, model_of)


# -- oracle helpers: ADT typing (different JSON types never compare; missing is undefined) ----------------------
MISSING = object()


def get(doc: dict[str, Any], *path: str) -> Any:
    cur: Any = doc
    for part in path:
        if not isinstance(cur, dict) or part not in cur:
            return MISSING
        cur = cur[part]
    return cur


def is_num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def trails(graph: Graph, start: str, names: set[str] | None, lo: int, hi: int, direction: str) -> set[str]:
    """End twins of every path of lo..hi relationships from ``start`` in which no relationship repeats."""
    out_edges: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for idx, r in enumerate(graph.rels):
        if names is not None and r["$relationshipName"] not in names:
            continue
        if direction in ("out", "any"):
            out_edges[r["$sourceId"]].append((idx, r["$targetId"]))
        if direction in ("in", "any"):
            out_edges[r["$targetId"]].append((idx, r["$sourceId"]))
    ends: set[str] = set()

    def walk(node: str, used: frozenset[int], depth: int) -> None:
        if lo <= depth:
            ends.add(node)
        if depth == hi:
            return
        for idx, nxt in out_edges.get(node, []):
            if idx not in used:
                walk(nxt, used | {idx}, depth + 1)

    for idx, nxt in out_edges.get(start, []):
        walk(nxt, frozenset({idx}), 1)
    return ends


def to_rows(graph: Graph) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Rows for schema.twins / schema.relationships (the store's split of the ADT documents)."""
    now = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    twin_rows = []
    for doc in graph.twins.values():
        contents = {k: v for k, v in doc.items() if not k.startswith("$")}
        meta = {k: v for k, v in doc["$metadata"].items() if k != "$model"}
        twin_rows.append({"id": doc["$dtId"], "model_id": doc["$metadata"]["$model"], "contents": contents,
                          "meta": meta, "etag": doc["$etag"], "version": 1, "last_update_time": now})
    rel_rows = [{"source_id": r["$sourceId"], "id": r["$relationshipId"], "name": r["$relationshipName"],
                 "target_id": r["$targetId"], "etag": r["$etag"],
                 "properties": {k: v for k, v in r.items() if not k.startswith("$")}} for r in graph.rels]
    return twin_rows, rel_rows
