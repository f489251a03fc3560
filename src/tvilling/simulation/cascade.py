"""Cascade impact through the twin graph: if this twin stops, what else stops or slows, and what does it cost?

The graph says how things are connected; *rules* say how a stop travels along each kind of relationship:

- ``forward``: a stopped *source* affects the *target* (a motor ``drives`` a pump; a pump ``feeds`` a filler);
- ``backward``: a stopped *target* affects the *source* (a pump ``hasPart`` a bearing: the bearing seizes, the pump
  stops; a line ``contains`` its machines: one stops, the line stops);
- ``effect``: ``stops`` (the affected twin stops too, and passes the stop on) or ``slows`` (it runs on at reduced
  output and passes on only a slow-down, never a stop);
- ``after_min``: how long the effect takes to arrive along that relationship (a buffer tank between a pump and the
  filler it feeds: the filler runs on until the tank is empty);
- ``only``: DTDL model ids the affected twin must have (a *line* that contains a stopped machine stops; the *site*
  that contains the line does not); ``from_models``: model ids the *stopped* twin must have for the rule to apply
  (the line stops when its filler or conveyor stops — its pump only starves the filler, after the buffer).

From the failed twin, earliest first (Dijkstra over ``after_min``, then fewer hops), stops before slow-downs (a
twin reached both ways stops), each twin once, with the path that explains it and when. Cost per hour: each stopped
twin's ``cost_per_hour``, each slowed one's times its ``slow_factor`` (default 0.5). Pure: no I/O, no clock.

>>> edges = [Edge("motor", "drives", "pump"), Edge("pump", "feeds", "filler"), Edge("line", "contains", "filler"),
...          Edge("chiller", "cools", "filler")]
>>> rules = [Rule("drives", "forward"), Rule("feeds", "forward"), Rule("contains", "backward"),
...          Rule("cools", "forward", "slows")]
>>> [(e.twin, e.effect) for e in cascade(edges, rules, "motor")]
[('pump', 'stops'), ('filler', 'stops'), ('line', 'stops')]
>>> buffered = [Rule("drives", "forward"), Rule("feeds", "forward", after_min=20), Rule("contains", "backward")]
>>> [(e.twin, e.after_min) for e in cascade(edges, buffered, "motor")]
[('pump', 0.0), ('filler', 20.0), ('line', 20.0)]
>>> [(e.twin, e.effect) for e in cascade(edges, rules, "chiller")]
[('filler', 'slows'), ('line', 'slows')]
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

Direction = Literal["forward", "backward"]
EffectKind = Literal["stops", "slows"]


@dataclass(frozen=True, slots=True)
class Edge:
    source: str
    name: str
    target: str


@dataclass(frozen=True, slots=True)
class Rule:
    relationship: str
    direction: Direction
    effect: EffectKind = "stops"
    after_min: float = 0.0
    only: tuple[str, ...] = ()  # model ids of the twins it may affect; empty: any
    from_models: tuple[str, ...] = ()  # model ids of the twins it travels from; empty: any


@dataclass(frozen=True, slots=True)
class Effect:
    twin: str
    effect: EffectKind
    hops: int
    path: tuple[str, ...]  # e.g. ("pump-1 feeds filler-1", "line-1 contains filler-1")
    after_min: float = 0.0  # when it arrives, minutes after the failure


def cascade(edges: Iterable[Edge], rules: Sequence[Rule], failed: str,
            models: Mapping[str, str] | None = None) -> list[Effect]:
    """Every twin the stop of ``failed`` reaches, stopped ones first, then by time, distance and name. ``models``:
    twin -> model id, for rules with ``only``."""
    models = models or {}
    if any(rule.after_min < 0 for rule in rules):  # Dijkstra needs non-negative delays
        raise ValueError("a rule's after_min must be >= 0")
    by_rel: dict[str, list[Rule]] = {}
    for rule in rules:
        by_rel.setdefault(rule.relationship, []).append(rule)
    out_of: dict[str, list[Edge]] = {}
    into: dict[str, list[Edge]] = {}
    for e in edges:
        if e.name in by_rel:
            out_of.setdefault(e.source, []).append(e)
            into.setdefault(e.target, []).append(e)
    found: dict[str, Effect] = {}
    # Two passes: stops first (they travel only along "stops" rules from stopped twins), then slow-downs from every
    # affected twin — so a twin reachable both ways is recorded as stopped, with the path of its stop.
    for kind in ("stops", "slows"):
        heap: list[tuple[float, int, str, tuple[str, ...]]] = [(0.0, 0, failed, ())]
        if kind == "slows":
            heap += [(f.after_min, f.hops, f.twin, f.path) for f in found.values()]
            heapq.heapify(heap)
        done: set[str] = set()
        while heap:
            at, hops, here, path = heapq.heappop(heap)
            if here in done:
                continue
            done.add(here)
            if here != failed and here not in found:
                found[here] = Effect(here, kind, hops, path, at)
            for edge, other in _neighbours(here, out_of, into):
                for rule in by_rel[edge.name]:
                    if (rule.direction == "forward") != (edge.source == here):
                        continue
                    if (rule.only and models.get(other) not in rule.only) or (
                            rule.from_models and models.get(here) not in rule.from_models):
                        continue
                    effect = "stops" if kind == "stops" and rule.effect == "stops" else "slows"
                    if effect != kind or other == failed or other in found or other in done:
                        continue
                    step = f"{edge.source} {edge.name} {edge.target}"
                    heapq.heappush(heap, (at + rule.after_min, hops + 1, other, (*path, step)))
    return sorted(found.values(), key=lambda f: (f.effect != "stops", f.after_min, f.hops, f.twin))


def _neighbours(here: str, out_of: Mapping[str, list[Edge]],
               into: Mapping[str, list[Edge]]) -> Iterable[tuple[Edge, str]]:
    for e in out_of.get(here, ()):
        yield e, e.target
    for e in into.get(here, ()):
        yield e, e.source


DEFAULT_SLOW_FACTOR = 0.5


def effect_cost(effect: Effect, costs: Mapping[str, float], slow_factor: Mapping[str, float]) -> float:
    """One affected twin's lost value per hour: its cost if it stops, times its slow factor if it slows."""
    c = costs.get(effect.twin, 0.0)
    return c if effect.effect == "stops" else c * slow_factor.get(effect.twin, DEFAULT_SLOW_FACTOR)


def cost_per_hour(effects: Iterable[Effect], failed: str, costs: Mapping[str, float],
                  slow_factor: Mapping[str, float]) -> float:
    """Lost value per hour while ``failed`` is down: the failed twin's own cost and every affected twin's. A twin
    that slows before it stops is priced as stopped (its slow phase is not added)."""
    return costs.get(failed, 0.0) + sum(effect_cost(e, costs, slow_factor) for e in effects)
