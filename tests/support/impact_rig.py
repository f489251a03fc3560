"""The bottling site with its impact.yaml (made tenant acme's) and live RUL estimates, for the impact API, CLI, SDK
and MCP tests (docs/impact.md); with ``need``, a second pump beside pump 1 (k of n redundancy)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from tests.support.explain_history import SITE
from tests.support.platform import ApiRig, api_rig
from tvilling.app.site import SitePackage, load_site
from tvilling.core.context import Context, new_id
from tvilling.core.events import Event

# twin -> P(failure within 72 h): expected cost = P x 2 400/h (line 1 stops) x repair hours
ESTIMATES = {"pump-1-bearing": 0.2, "chiller-1": 0.5, "filler-1-bearing": 0.05, "hall": 0.9}
PUMP = "dtmi:tvilling:bottling:Pump;1"


@contextmanager
def impact_rig(tmp_path: Path, *, estimates: bool = True, need: int | None = None,
               **settings: Any) -> Iterator[ApiRig]:
    """An API rig on SQLite: the bottling site (tenant acme), its impact.yaml made acme's, and the ``ESTIMATES``;
    conveyor 1's bearing had one too, but its episode has been cleared since. ``need``: pump-2 feeds filler-1 beside
    pump-1, and the ``feeds`` rule says how many of the two the filler needs running. ``settings``: more of the
    platform's (e.g. ``planning_file``)."""
    doc = yaml.safe_load((SITE / "impact.yaml").read_text(encoding="utf-8"))
    if need is not None:
        doc["rules"] = [{**r, "need": need} if r["relationship"] == "feeds" else r for r in doc["rules"]]
    (tmp_path / "impact.yaml").write_text(yaml.safe_dump({**doc, "tenant": "acme"}), encoding="utf-8")
    with api_rig(f"sqlite:///{tmp_path / 'impact.db'}", seed_models=False, impact_file=tmp_path / "impact.yaml",
                 **settings) as r:
        load_site(r.platform.services, "acme", SitePackage(SITE), Context.new(actor="test"))
        if need is not None:
            add_pump(r, "pump-2")
        if estimates:
            for twin, p in ESTIMATES.items():
                rul(r, twin, p)
            rul(r, "conveyor-1-bearing", 0.9)
            insight(r, "insight.cleared", "conveyor-1-bearing", {"detector": "isolation_forest"})
        yield r


def add_pump(rig: ApiRig, pump: str, tenant: str = "acme") -> None:
    """A pump feeding filler-1, beside pump-1."""
    r = rig.call("PUT", f"/api/v1/twins/{pump}", tenant=tenant,
                 json={"$metadata": {"$model": PUMP}, "ratedFlow": 20.0, "ratedHead": 32.0})
    assert r.status_code in (200, 201), r.text
    r = rig.call("PUT", f"/api/v1/twins/{pump}/relationships/{pump}-feeds", tenant=tenant,
                 json={"$relationshipName": "feeds", "$targetId": "filler-1"})
    assert r.status_code in (200, 201), r.text


def rul(rig: ApiRig, twin: str, p_failure: float) -> None:
    """A live RUL estimate for ``twin``, as the monitor writes it."""
    at = rig.platform.services.clock.now() - timedelta(hours=1)
    insight(rig, "insight.rul", twin, {"at": at.isoformat(), "p_failure": p_failure, "horizon_hours": 72.0,
                                       "rul_hours": {"mean": 400.0, "lower": 120.0, "upper": 900.0, "level": 0.9}})


def insight(rig: ApiRig, kind: str, twin: str, data: dict[str, object]) -> None:
    services = rig.platform.services
    with services.store.write() as tx:
        tx.events.append([Event(kind=kind, tenant="acme", subject=twin, time=services.clock.now(),
                                context_id=new_id(), actor="monitoring", data={"twin": twin, **data})])
