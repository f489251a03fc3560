"""Cascade impact: "if pump-1 fails, what stops, and what does an hour of it cost?" — and which asset's likely
failure would cost most in the next days.

``impact.yaml`` beside the site's ``mappings.yaml`` (or ``settings.impact_file``)::

    version: 1
    tenant: default
    rules:                                  # how a stop travels along each relationship (docs/impact.md)
      - {relationship: hasPart, direction: backward}           # a part stops -> its whole stops
      - {relationship: drives, direction: forward}             # a motor stops -> what it drives stops
      - {relationship: feeds, direction: forward, after_min: 20}   # ... once the buffer between them is empty
      - {relationship: cools, direction: forward, effect: slows}
      - {relationship: contains, direction: backward}          # a machine stops -> the line stops
    cost_per_hour: {line-1: 2400}           # what a stopped twin costs per hour (lost production)
    slow_factor: {line-1: 0.3}              # share of that cost while it only runs slower (default 0.5)
    repair_hours: {default: 8, pump-1-bearing: 36}

``impact(tenant, twin)`` walks the graph from the twin (:mod:`tvilling.simulation.cascade`); ``risks(tenant)`` ranks
every twin with a live RUL estimate by P(failure within its horizon) × the cost per hour of its cascade × its repair
hours. Read-only.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tvilling.app.documents import read_yaml, validate_document
from tvilling.app.maintenance_planning import latest_rul
from tvilling.app.site import site_file
from tvilling.core.errors import NotFoundError, UnavailableError, ValidationError
from tvilling.ports.documents import iso
from tvilling.simulation.cascade import Edge, Rule, cascade, cost_per_hour

MAX_TWINS = 5_000  # walked from one failed twin


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class RuleSpec(_Strict):
    relationship: str = Field(min_length=1, max_length=200)
    direction: Literal["forward", "backward"]
    effect: Literal["stops", "slows"] = "stops"
    after_min: float = Field(default=0.0, ge=0, le=10_080)  # how long the effect takes along this relationship
    only: list[str] = Field(default_factory=list)  # DTDL model ids the affected twin must have


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
    return ImpactConfig(d.tenant, tuple(Rule(r.relationship, r.direction, r.effect, r.after_min, tuple(r.only))
                                        for r in d.rules),
                        dict(d.cost_per_hour), dict(d.slow_factor), dict(d.repair_hours))


def load_config(path: str | Path) -> ImpactConfig:
    return parse_config(read_yaml(path, "the impact document"))


@dataclass
class ImpactService:
    services: Any  # tvilling.app.services.Services
    config: ImpactConfig | None

    def impact(self, tenant: str, twin_id: str) -> dict[str, Any]:
        """What stops and what slows if ``twin_id`` stops, with the paths, and the cost per hour of it all."""
        config = self._config(tenant)
        edges, models = self._edges(tenant, twin_id, config)
        effects = cascade(edges, config.rules, twin_id, models)
        per_hour = cost_per_hour(effects, twin_id, config.costs, config.slow_factor)
        return {"twinId": twin_id, "costPerHour": per_hour, "repairHours": config.repair(twin_id),
                "affected": [{"twinId": e.twin, "effect": e.effect, "afterMin": e.after_min, "hops": e.hops,
                              "path": list(e.path),
                              "costPerHour": config.costs.get(e.twin, 0.0) * (
                                  1.0 if e.effect == "stops" else config.slow_factor.get(e.twin, 0.5))}
                             for e in effects]}

    def risks(self, tenant: str, limit: int = 50) -> dict[str, Any]:
        """Twins with a live RUL estimate, by expected cost: P(failure within the estimate's horizon) × the cost
        per hour of their cascade × their repair hours."""
        config = self._config(tenant)
        with self.services.store.read() as tx:
            twins = [t.id for t in tx.twins.list(tenant, limit=MAX_TWINS)]
        rows = []
        for twin in twins:
            latest = latest_rul(self.services.store.engine, tenant, twin)
            if latest is None:
                continue
            at, rul = latest
            p = rul.get("p_failure")
            if not isinstance(p, int | float):
                continue
            edges, models = self._edges(tenant, twin, config)
            effects = cascade(edges, config.rules, twin, models)
            per_hour = cost_per_hour(effects, twin, config.costs, config.slow_factor)
            rows.append({"twinId": twin, "pFailure": float(p), "horizonHours": rul.get("horizon_hours"),
                         "rulHours": rul.get("rul_hours"), "estimatedAt": iso(at), "costPerHour": per_hour,
                         "repairHours": config.repair(twin),
                         "expectedCost": float(p) * per_hour * config.repair(twin),
                         "stops": [e.twin for e in effects if e.effect == "stops"]})
        rows.sort(key=lambda r: (-r["expectedCost"], r["twinId"]))
        return {"value": rows[:limit], "count": len(rows)}

    def _config(self, tenant: str) -> ImpactConfig:
        if self.config is None:
            raise UnavailableError("no impact.yaml: cascade impact needs rules for how a stop travels",
                                   hint="add impact.yaml beside the site's mappings.yaml (docs/impact.md)")
        if tenant != self.config.tenant:
            raise UnavailableError(f"impact.yaml is for tenant {self.config.tenant!r}, not yours",
                                   hint="docs/impact.md")
        return self.config

    def _edges(self, tenant: str, twin_id: str, config: ImpactConfig) -> tuple[list[Edge], dict[str, str]]:
        """The relationships a stop may travel along, read breadth-first from ``twin_id`` (both directions), and
        the model of every twin they reach."""
        names = {r.relationship for r in config.rules}
        with self.services.store.read() as tx:
            root = tx.twins.get(tenant, twin_id)
            if root is None:
                raise NotFoundError(f"twin {twin_id} does not exist", where=twin_id)
            seen, queue, edges = {twin_id}, deque([twin_id]), set()
            models = {twin_id: root.model_id}
            while queue:
                here = queue.popleft()
                rels = [*tx.relationships.outgoing(tenant, here, limit=MAX_TWINS),
                        *tx.relationships.incoming(tenant, here, limit=MAX_TWINS)]
                for r in rels:
                    if r.name not in names:
                        continue
                    edges.add(Edge(r.source_id, r.name, r.target_id))
                    for other in (r.source_id, r.target_id):
                        if other not in seen:
                            if len(seen) >= MAX_TWINS:
                                raise ValidationError(f"more than {MAX_TWINS} twins connected to {twin_id}",
                                                      where=twin_id)
                            seen.add(other)
                            queue.append(other)
                            record = tx.twins.get(tenant, other)
                            models[other] = record.model_id if record is not None else ""
        return sorted(edges, key=lambda e: (e.source, e.name, e.target)), models


def build_impact_service(services: Any, settings: Any) -> ImpactService:
    """Called by bootstrap: a broken impact.yaml stops the start (every problem named)."""
    path = site_file(settings, "impact_file", "impact.yaml")
    return ImpactService(services, load_config(path) if path else None)
