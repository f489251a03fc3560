"""Cascade impact: "if pump-1 fails, what stops, and what does an hour of it cost?" — and which asset's likely
failure would cost most in the next days.

``impact.yaml`` beside the site's ``mappings.yaml`` (or ``settings.impact_file``)::

    version: 1
    tenant: default
    rules:                                  # how a stop travels along each relationship (docs/impact.md)
      - {relationship: hasPart, direction: backward}           # a part stops -> its whole stops
      - {relationship: drives, direction: forward}             # a motor stops -> what it drives stops
      - {relationship: feeds, direction: forward, after_min: 20}   # ... once the buffer between them is empty
      - {relationship: supplies, direction: forward, need: 1}  # k of n: of two pumps either suffices
      - {relationship: cools, direction: forward, effect: slows}
      - {relationship: contains, direction: backward}          # a machine stops -> the line stops
    cost_per_hour: {line-1: 2400}           # what a stopped twin costs per hour (lost production)
    slow_factor: {line-1: 0.3}              # share of that cost while it only runs slower (default 0.5)
    repair_hours: {default: 8, pump-1-bearing: 36}

``impact(tenant, twin, also)`` walks the graph from the twin, and from the ``also`` twins failing with it
(:mod:`tvilling.simulation.cascade`); ``risks(tenant)`` ranks every twin with a live RUL estimate by P(failure
within its horizon) × the cost per hour of its cascade × its repair hours. Read-only.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from tvilling.adapters.sql.graph import named_relationships, twin_models
from tvilling.app.documents import read_yaml, validate_document
from tvilling.app.rul_estimates import latest_rul
from tvilling.app.site import site_file
from tvilling.app.slots import Slots
from tvilling.core.errors import NotFoundError, UnavailableError, ValidationError
from tvilling.ports.documents import iso
from tvilling.simulation.cascade import Edge, Effect, Rule, cascade, cost_per_hour, effect_cost

MAX_TWINS = 20_000  # a tenant's twins read for one answer
MAX_EDGES = 100_000  # and the relationships a rule names
MAX_ALSO = 20  # twins failing together with the one asked about
_SLOTS = Slots(2, 20.0, "cascade-impact answers")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class RuleSpec(_Strict):
    relationship: str = Field(min_length=1, max_length=200)
    direction: Literal["forward", "backward"]
    effect: Literal["stops", "slows"] = "stops"
    after_min: float = Field(default=0.0, ge=0, le=10_080)  # how long the effect takes along this relationship
    only: list[str] = Field(default_factory=list)  # DTDL model ids the affected twin must have
    from_models: list[str] = Field(default_factory=list, alias="from")  # ... and the stopped twin must have
    # k of n: how many of the affected twin's sources through this rule must run (n comes from the graph, so a need
    # above it is the answer's warning, not the file's error); strict: "2", 2.0 or true are typos, not counts
    need: StrictInt | None = Field(default=None, ge=1)


class _Document(_Strict):
    version: Literal[1] = 1
    tenant: str = Field(default="default", min_length=1, max_length=64)
    rules: list[RuleSpec] = Field(min_length=1)
    cost_per_hour: dict[str, float] = Field(default_factory=dict)
    slow_factor: dict[str, float] = Field(default_factory=dict)
    repair_hours: dict[str, float] = Field(default_factory=lambda: {"default": 8.0})


@dataclass(frozen=True)
class ImpactConfig:
    tenant: str = "default"
    rules: tuple[Rule, ...] = ()
    costs: dict[str, float] = field(default_factory=dict)
    slow_factor: dict[str, float] = field(default_factory=dict)
    repair_hours: dict[str, float] = field(default_factory=lambda: {"default": 8.0})

    def repair(self, twin: str) -> float:
        return self.repair_hours.get(twin, self.repair_hours.get("default", 8.0))


def parse_config(doc: Any) -> ImpactConfig:
    d = validate_document(_Document, doc, "impact", "docs/impact.md")
    bad = [f"{name}: {k}={v}" for name, table, low, high in (
        ("cost_per_hour", d.cost_per_hour, 0.0, float("inf")), ("slow_factor", d.slow_factor, 0.0, 1.0),
        ("repair_hours", d.repair_hours, 0.0, float("inf"))) for k, v in table.items() if not low <= v <= high]
    if bad:
        raise ValidationError(f"out of range in the impact document: {', '.join(bad)}", where="impact",
                              hint="costs and repair hours are ≥ 0; a slow factor is within 0..1")
    return ImpactConfig(d.tenant, tuple(Rule(r.relationship, r.direction, r.effect, r.after_min, tuple(r.only),
                                             tuple(r.from_models), r.need) for r in d.rules),
                        dict(d.cost_per_hour), dict(d.slow_factor), dict(d.repair_hours))


def load_config(path: str | Path) -> ImpactConfig:
    return parse_config(read_yaml(path, "the impact document"))


@dataclass
class ImpactService:
    services: Any  # tvilling.app.services.Services
    config: ImpactConfig | None

    def impact(self, tenant: str, twin_id: str, also: Sequence[str] = ()) -> dict[str, Any]:
        """What stops and what slows if ``twin_id`` stops — together with the ``also`` twins, all at once — with the
        paths, and the cost per hour of it all (every failed twin's own cost included)."""
        if len(also) > MAX_ALSO:
            raise ValidationError(f"at most {MAX_ALSO} twins may fail together with {twin_id} ({len(also)} given)",
                                  where="also")
        failed = list(dict.fromkeys([twin_id, *also]))
        config, edges, models = self._read(tenant)
        for twin in failed:
            if twin not in models:
                raise NotFoundError(f"twin {twin} does not exist", where=twin)
        effects = cascade(edges, config.rules, failed, models)
        return {"twinId": twin_id, "also": failed[1:],
                "costPerHour": cost_per_hour(effects, failed, config.costs, config.slow_factor),
                # the failures are repaired side by side: the cascade lasts until the longest repair is done
                "repairHours": max(config.repair(twin) for twin in failed),
                "affected": [_affected(e, config) for e in effects],
                "warnings": [e.warning for e in effects if e.warning]}

    def stops_of(self, tenant: str, twins: Iterable[str]) -> dict[str, list[tuple[str, float]]]:
        """Per twin: the twins with a ``cost_per_hour`` its stop stands still, each with the minutes until it does
        (the twin itself at 0 if it has a cost) - the lines a maintenance task on it stops (``line: impact`` in
        planning.yaml, docs/maintenance-planning.md). The graph is read once for them all."""
        config, edges, models = self._read(tenant)
        out: dict[str, list[tuple[str, float]]] = {}
        for twin in twins:
            stopped = [(e.twin, e.after_min) for e in cascade(edges, config.rules, twin, models) if e.effect == "stops"]
            out[twin] = [(t, minutes) for t, minutes in [(twin, 0.0), *stopped] if t in config.costs]
        return out

    def risks(self, tenant: str, limit: int = 50) -> dict[str, Any]:
        """Twins with a live RUL estimate, by expected cost: P(failure within the estimate's horizon) × the cost
        per hour of their cascade × their repair hours. The graph is read once; one indexed read per twin finds its
        latest estimate."""
        config = self._config(tenant)
        rows: list[dict[str, Any]] = []
        with _SLOTS.slot():
            edges, models = self._graph(tenant, config)
            for twin in sorted(models):
                latest = latest_rul(self.services.store.engine, tenant, twin)
                p = latest[1].get("p_failure") if latest is not None else None
                # a probability, or nothing: a bool, NaN or a value outside 0..1 is not ranked
                if latest is None or isinstance(p, bool) or not isinstance(p, int | float) or not 0 <= p <= 1:
                    continue
                at, rul = latest
                effects = cascade(edges, config.rules, twin, models)
                per_hour = cost_per_hour(effects, twin, config.costs, config.slow_factor)
                rows.append({"twinId": twin, "pFailure": float(p), "horizonHours": rul.get("horizon_hours"),
                             "rulHours": rul.get("rul_hours"), "estimatedAt": iso(at), "costPerHour": per_hour,
                             "repairHours": config.repair(twin),
                             "expectedCost": float(p) * per_hour * config.repair(twin),
                             "stops": [e.twin for e in effects if e.effect == "stops"]})
        rows.sort(key=lambda r: (-float(r["expectedCost"]), str(r["twinId"])))
        return {"value": rows[:limit], "count": len(rows)}

    def covers(self, tenant: str) -> bool:
        """Whether the tenant has impact rules (impact.yaml names one tenant: another tenant's file is none of
        yours)."""
        return self.config is not None and tenant == self.config.tenant

    def _config(self, tenant: str) -> ImpactConfig:
        if self.config is None or not self.covers(tenant):
            # a 404: the tenant's impact rules do not exist (not a server fault: a 5xx would page someone)
            raise NotFoundError("no impact.yaml for this tenant: cascade impact needs rules for how a stop travels",
                                where="impact.yaml",
                                hint="add impact.yaml beside the site's mappings.yaml (docs/impact.md)")
        return self.config

    def _read(self, tenant: str) -> tuple[ImpactConfig, list[Edge], dict[str, str]]:
        """The tenant's rules and graph, read within one of the answers' slots."""
        config = self._config(tenant)
        with _SLOTS.slot():
            return (config, *self._graph(tenant, config))

    def _graph(self, tenant: str, config: ImpactConfig) -> tuple[list[Edge], dict[str, str]]:
        """The tenant's relationships a rule names and every twin's model, in two reads; a graph beyond the limits
        is a 503 that says so, never a silently partial answer."""
        names = {r.relationship for r in config.rules}
        with self.services.store.read() as tx:
            rels = named_relationships(tx.conn, tenant, names, MAX_EDGES)
            models = twin_models(tx.conn, tenant, MAX_TWINS)
        if len(rels) > MAX_EDGES or len(models) > MAX_TWINS:
            raise UnavailableError(f"the tenant's graph is larger than cascade impact reads ({MAX_TWINS} twins, "
                                   f"{MAX_EDGES} relationships)", hint="docs/impact.md, Limits")
        return [Edge(a, b, c) for a, b, c in rels], models


def _affected(e: Effect, config: ImpactConfig) -> dict[str, Any]:
    """One affected twin in the answer; ``with`` (the other stopped sources) only where a k-of-n rule stopped it,
    so the answer for rules without ``need`` is what it always was."""
    row = {"twinId": e.twin, "effect": e.effect, "afterMin": e.after_min, "hops": e.hops, "path": list(e.path),
           "costPerHour": effect_cost(e, config.costs, config.slow_factor)}
    return row if e.together is None else {**row, "with": list(e.together)}


def build_impact_service(services: Any, settings: Any) -> ImpactService:
    """Called by bootstrap: a broken impact.yaml stops the start (every problem named)."""
    path = site_file(settings, "impact_file", "impact.yaml")
    return ImpactService(services, load_config(path) if path else None)
