"""GET /api/v1/twins/{id}/impact with k-of-n redundancy and several failures: the bottling site with a second pump
feeding filler-1 and ``need: 1`` on the ``feeds`` rule — one pump stopping stops nothing, both (``also``) stop the
filler and the line after the buffer; ``with`` names the other stopped pump; a ``need`` above the pumps there are
is a warning in the answer; ``also`` errors as problem+json; risks and the planner's lines stay single-failure."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from tests.support.explain_history import SITE
from tests.support.impact_rig import add_pump, impact_rig, rul
from tests.support.platform import ApiRig
from tvilling.app.impact import ImpactService, parse_config
from tvilling.app.site import SitePackage, load_site
from tvilling.core.context import Context
from tvilling.core.errors import NotFoundError, ValidationError
from tvilling.core.roles import Role
from tvilling.sdk import AsyncClient


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[ApiRig]:
    with impact_rig(tmp_path, estimates=False, need=1) as r:
        yield r


def _impact(rig: ApiRig, twin: str, *also: str) -> httpx.Response:
    r: httpx.Response = rig.call("GET", f"/api/v1/twins/{twin}/impact", role=Role.VIEWER, params={"also": list(also)})
    return r


def test_one_of_two_pumps_stopping_stops_nothing_both_stop_the_filler_and_the_line(rig: ApiRig) -> None:
    one = _impact(rig, "pump-1").json()
    assert (one["affected"], one["costPerHour"], one["also"], one["warnings"]) == ([], 0, [], [])

    r = _impact(rig, "pump-1", "pump-2")
    assert r.status_code == 200, r.text
    both = r.json()
    assert (both["twinId"], both["also"], both["costPerHour"], both["repairHours"]) == ("pump-1", ["pump-2"], 2400, 8)
    filler, line = both["affected"]
    assert filler == {"twinId": "filler-1", "effect": "stops", "afterMin": 20, "hops": 1,
                      "path": ["pump-2 feeds filler-1"], "costPerHour": 0, "with": ["pump-1"]}
    assert (line["twinId"], line["afterMin"], line["path"][-1]) == ("line-1", 20, "line-1 contains filler-1")
    assert "with" not in line  # reached along a rule without need: the answer it always was

    # a seized bearing stops pump-1 (one hop later than pump-2's own failure): pump-1's stop tips the filler
    bearing = _impact(rig, "pump-1-bearing", "pump-2").json()
    filler = bearing["affected"][1]
    assert (filler["twinId"], filler["hops"], filler["with"]) == ("filler-1", 2, ["pump-2"])
    assert filler["path"] == ["pump-1 hasPart pump-1-bearing", "pump-1 feeds filler-1"]
    assert bearing["repairHours"] == 36  # the longest of the repairs


def test_risks_and_the_planners_lines_stay_one_failure_at_a_time(rig: ApiRig) -> None:
    rul(rig, "pump-1-bearing", 0.5)
    (risk,) = rig.call("GET", "/api/v1/impact/risks", role=Role.VIEWER).json()["value"]
    assert (risk["stops"], risk["expectedCost"]) == (["pump-1"], 0)  # pump-2 still feeds the filler
    service: ImpactService = rig.platform.app.state.impact
    assert service.stops_of("acme", ["pump-1", "filler-1"]) == {"pump-1": [], "filler-1": [("line-1", 0.0)]}


def test_need_above_the_sources_there_are_is_a_warning(rig: ApiRig) -> None:
    doc = yaml.safe_load((SITE / "impact.yaml").read_text(encoding="utf-8"))
    doc["rules"] = [{**r, "need": 3} if r["relationship"] == "feeds" else r for r in doc["rules"]]
    service = ImpactService(rig.platform.services, parse_config({**doc, "tenant": "acme"}))
    body = service.impact("acme", "pump-1")
    assert body["warnings"] == ["filler-1 needs 3 feeds sources but has 2: it stops when any one of them stops"]
    assert [(a["twinId"], a["afterMin"], a["with"]) for a in body["affected"][:1]] == [("filler-1", 20.0, [])]


def test_also_errors(rig: ApiRig) -> None:
    r = _impact(rig, "pump-1", "pump-2", "nowhere")
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
    assert "twin nowhere does not exist" in r.json()["detail"]
    load_site(rig.platform.services, "globex", SitePackage(SITE), Context.new(actor="test"))
    add_pump(rig, "pump-9", tenant="globex")  # another tenant's twin is none of acme's
    assert "twin pump-9 does not exist" in _impact(rig, "pump-1", "pump-9").json()["detail"]
    r = _impact(rig, "pump-1", *[f"pump-{i}" for i in range(21)])
    assert r.status_code == 422 and "also" in r.text
    assert _impact(rig, "pump-1", "a/b").status_code == 422
    assert _impact(rig, "pump-1", *["pump-2"] * 20).status_code == 200  # 20 is the limit; the same twin counts once
    with pytest.raises(ValidationError, match="at most 20"):
        rig.platform.app.state.impact.impact("acme", "pump-1", [f"pump-{i}" for i in range(21)])


async def test_the_async_sdk_passes_also(rig: ApiRig) -> None:
    transport = httpx.ASGITransport(app=rig.platform.app)
    async with AsyncClient("http://test", rig.tokens[("acme", Role.VIEWER)], transport=transport) as tv:
        assert (await tv.impact("pump-1"))["affected"] == []
        body = await tv.impact("pump-1", also=["pump-2"])
        assert [a["twinId"] for a in body["affected"]] == ["filler-1", "line-1"]
        with pytest.raises(NotFoundError, match="twin nowhere does not exist"):
            await tv.impact("pump-1", also=["nowhere"])
