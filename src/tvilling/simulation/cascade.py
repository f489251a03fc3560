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
  (the line stops when its filler or conveyor stops — its pump only starves the filler, after the buffer);
- ``need`` (k of n): redundancy. The affected twin runs on while at least ``need`` of its *sources* through the rule
  run — every twin the rule connects to it (its direction, ``from_models``), running or not, n of them: two pumps
  ``feeds`` one filler with ``need: 1`` — one pump stopping stops nothing; the filler stops (or slows: ``effect``)
  when its (n − k + 1)-th source has stopped, that source's stop time + ``after_min``. Only stops are counted: a
  slowed source still runs (spare capacity is not modelled), and a stop that does not tip the gate passes nothing
  on. ``need`` above n (the graph has fewer sources than the file expects) is read as "needs all n": any one
  stopping tips it, and the effect carries a ``warning`` that says so.

From the failed twins (one or several, all stopped at 0), earliest first (Dijkstra over ``after_min``, then fewer
hops), stops before slow-downs (a twin reached both ways stops), each twin once, with the path that explains it and
when; a k-of-n effect's path is the one through the source that tipped it, ``together`` the sources stopped before
it. Cost per hour: each stopped twin's ``cost_per_hour``, each slowed one's times its ``slow_factor`` (default 0.5).
Pure: no I/O, no clock.

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
>>> spare = [Edge("pump-1", "feeds", "filler"), Edge("pump-2", "feeds", "filler")]
>>> redundant = [Rule("feeds", "forward", after_min=20, need=1)]
>>> cascade(spare, redundant, "pump-1")
[]
>>> [(e.twin, e.after_min, e.path, e.together) for e in cascade(spare, redundant, ["pump-1", "pump-2"])]
[('filler', 20.0, ('pump-2 feeds filler',), ('pump-1',))]
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
    need: int | None = None  # k of n: how many of the affected twin's sources through it must run; None: every one


@dataclass(frozen=True, slots=True)
class Effect:
    twin: str
    effect: EffectKind
    hops: int
    path: tuple[str, ...]  # e.g. ("pump-1 feeds filler-1", "line-1 contains filler-1")
    after_min: float = 0.0  # when it arrives, minutes after the failure
    together: tuple[str, ...] | None = None  # through a ``need`` rule: the other stopped sources; else None
    warning: str = ""  # through a ``need`` rule asking more sources than the twin has


Failed = str | Iterable[str]
# a twin waiting in the walk: minutes, hops, twin, path, through a need rule?, ``together``, warning (a flag, not
# None, marks the gate's arrivals: the heap compares whole tuples, and None does not compare with a tuple)
_Arrival = tuple[float, int, str, tuple[str, ...], bool, tuple[str, ...], str]


def failed_twins(failed: Failed) -> tuple[str, ...]:
    """One failed twin or several, in order, each once."""
    return (failed,) if isinstance(failed, str) else tuple(dict.fromkeys(failed))


def cascade(edges: Iterable[Edge], rules: Sequence[Rule], failed: Failed,
            models: Mapping[str, str] | None = None) -> list[Effect]:
    """Every twin the stop of ``failed`` (one twin or several, all at 0) reaches, stopped ones first, then by time,
    distance and name. ``models``: twin -> model id, for rules with ``only`` or ``from_models``."""
    models = models or {}
    if any(rule.after_min < 0 for rule in rules):  # Dijkstra needs non-negative delays
        raise ValueError("a rule's after_min must be >= 0")
    if any(rule.need is not None and rule.need < 1 for rule in rules):
        raise ValueError("a rule's need must be >= 1")
    start = failed_twins(failed)
    graph = _Graph(edges, rules, models)
    found: dict[str, Effect] = {}
    # Two passes: stops first (they travel only along "stops" rules from stopped twins), then slow-downs from every
    # affected twin — so a twin reachable both ways is recorded as stopped, with the path of its stop.
    for kind in ("stops", "slows"):
        heap: list[_Arrival] = [(0.0, 0, twin, (), False, (), "") for twin in start]
        if kind == "slows":
            heap += [(f.after_min, f.hops, f.twin, f.path, False, (), "") for f in found.values()]
            heapq.heapify(heap)
        done: set[str] = set()
        gates: dict[tuple[str, Rule], tuple[int, list[str]]] = {}  # (twin, need rule) -> n, sources stopped so far
        while heap:
            at, hops, here, path, gated, together, warning = heapq.heappop(heap)
            if here in done:
                continue
            done.add(here)
            if here not in start and here not in found:
                found[here] = Effect(here, kind, hops, path, at, together if gated else None, warning)
            stopped = here in start or found[here].effect == "stops"
            for edge, other, rule in graph.steps(here):
                effect = "stops" if kind == "stops" and rule.effect == "stops" else "slows"
                if effect != kind or other in start or other in found or other in done:
                    continue
                step = (*path, f"{edge.source} {edge.name} {edge.target}")
                if rule.need is None:
                    heapq.heappush(heap, (at + rule.after_min, hops + 1, other, step, False, (), ""))
                    continue
                # a k-of-n gate counts stopped sources only, in the pass of its own effect; they arrive in time
                # order, so the one that tips it is the (n - k + 1)-th earliest and the walk stays monotone
                if not stopped or rule.effect != kind:
                    continue
                n, sources = gates.setdefault((other, rule), (len(graph.sources(other, rule)), []))
                if here in sources:  # two edges between the same pair: one source
                    continue
                sources.append(here)
                if len(sources) == n - min(rule.need, n) + 1:
                    heapq.heappush(heap, (at + rule.after_min, hops + 1, other, step, True, tuple(sources[:-1]),
                                          _short(other, rule, n)))
    return sorted(found.values(), key=lambda f: (f.effect != "stops", f.after_min, f.hops, f.twin))


def path_origin(failed: Sequence[str], path: Sequence[str]) -> str:
    """Which of the failed twins an answer's ``path`` (steps "source relationship target") starts from: the one its
    first step names; the first failed twin for an empty path."""
    first = path[0].split(" ")[::2] if path else []
    return next((twin for twin in failed if twin in first), failed[0])


def _short(twin: str, rule: Rule, n: int) -> str:
    """The warning of a gate asking more sources than the graph gives the twin ("" when it has enough)."""
    if rule.need is None or rule.need <= n:
        return ""
    return (f"{twin} needs {rule.need} {rule.relationship} sources but has {n}: it {rule.effect} when any one of "
            "them stops")


class _Graph:
    """The edges a rule names, both ways, and which rules step along them from a twin."""

    def __init__(self, edges: Iterable[Edge], rules: Sequence[Rule], models: Mapping[str, str]) -> None:
        self.models = models
        self.by_rel: dict[str, list[Rule]] = {}
        for rule in rules:
            self.by_rel.setdefault(rule.relationship, []).append(rule)
        self.out_of: dict[str, list[Edge]] = {}
        self.into: dict[str, list[Edge]] = {}
        for e in edges:
            if e.name in self.by_rel:
                self.out_of.setdefault(e.source, []).append(e)
                self.into.setdefault(e.target, []).append(e)

    def steps(self, here: str) -> Iterable[tuple[Edge, str, Rule]]:
        """Each (edge, twin it reaches, rule) along which a stop of ``here`` travels."""
        for edge, other in self._neighbours(here):
            for rule in self.by_rel[edge.name]:
                if self._applies(rule, edge, here, other):
                    yield edge, other, rule

    def sources(self, twin: str, rule: Rule) -> set[str]:
        """The twins whose stop ``rule`` carries to ``twin`` (n of a k-of-n gate), running or not; not itself."""
        return {other for edge, other in self._neighbours(twin)
                if edge.name == rule.relationship and other != twin and self._applies(rule, edge, other, twin)}

    def _applies(self, rule: Rule, edge: Edge, stopped: str, affected: str) -> bool:
        if (rule.direction == "forward") != (edge.source == stopped):
            return False
        return not ((rule.only and self.models.get(affected) not in rule.only) or (
            rule.from_models and self.models.get(stopped) not in rule.from_models))

    def _neighbours(self, here: str) -> Iterable[tuple[Edge, str]]:
        for e in self.out_of.get(here, ()):
            yield e, e.target
        for e in self.into.get(here, ()):
            yield e, e.source


DEFAULT_SLOW_FACTOR = 0.5


def effect_cost(effect: Effect, costs: Mapping[str, float], slow_factor: Mapping[str, float]) -> float:
    """One affected twin's lost value per hour: its cost if it stops, times its slow factor if it slows."""
    c = costs.get(effect.twin, 0.0)
    return c if effect.effect == "stops" else c * slow_factor.get(effect.twin, DEFAULT_SLOW_FACTOR)


def cost_per_hour(effects: Iterable[Effect], failed: Failed, costs: Mapping[str, float],
                  slow_factor: Mapping[str, float]) -> float:
    """Lost value per hour while ``failed`` (one twin or several) is down: each failed twin's own cost and every
    affected twin's. A twin that slows before it stops is priced as stopped (its slow phase is not added)."""
    own = sum(costs.get(twin, 0.0) for twin in failed_twins(failed))
    return own + sum(effect_cost(e, costs, slow_factor) for e in effects)
