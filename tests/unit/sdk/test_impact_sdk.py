"""The SDK's ``impact`` and ``impact_risks``, sync against a live server and async over ASGI: what pump 1's bearing
takes with it and at what cost per hour, the likely failures ranked by expected cost, ``limit`` passed through, and
typed errors (an unknown twin, another tenant's impact.yaml, a limit out of range)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.impact_rig import impact_rig
from tests.support.platform import ApiRig, live_server
from tvilling.core.errors import AuthenticationError, NotFoundError, ValidationError
from tvilling.core.roles import Role
from tvilling.sdk import AsyncClient, Client


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[ApiRig]:
    with impact_rig(tmp_path) as r:
        yield r


def test_sync_impact(rig: ApiRig) -> None:
    with live_server(rig.platform.app) as url, Client(url, rig.tokens[("acme", Role.VIEWER)]) as tv:
        body = tv.impact("pump-1-bearing")
        assert (body["costPerHour"], body["repairHours"]) == (2400.0, 36.0)
        assert [(a["twinId"], a["effect"], a["afterMin"]) for a in body["affected"]] == [
            ("pump-1", "stops", 0.0), ("filler-1", "stops", 20.0), ("line-1", "stops", 20.0)]
        assert body["affected"][2]["path"] == ["pump-1 hasPart pump-1-bearing", "pump-1 feeds filler-1",
                                               "line-1 contains filler-1"]

        risks = tv.impact_risks()
        assert risks["count"] == 4
        assert [r["twinId"] for r in risks["value"]] == ["pump-1-bearing", "chiller-1", "filler-1-bearing", "hall"]
        top = risks["value"][0]
        assert (top["pFailure"], top["horizonHours"], top["costPerHour"], top["repairHours"]) == (0.2, 72.0, 2400.0,
                                                                                                  36.0)
        assert top["expectedCost"] == pytest.approx(17280.0) and top["stops"] == ["pump-1", "filler-1", "line-1"]
        assert [r["twinId"] for r in tv.impact_risks(limit=1)["value"]] == ["pump-1-bearing"]

        with pytest.raises(NotFoundError):
            tv.impact("nowhere")
        with pytest.raises(ValidationError) as bad:
            tv.impact_risks(limit=0)
        assert bad.value.where == "query.limit"
    with live_server(rig.platform.app) as url, Client(url, rig.tokens[("globex", Role.VIEWER)]) as tv:
        with pytest.raises(NotFoundError) as unconfigured:
            tv.impact("pump-1-bearing")
        assert "no impact.yaml for this tenant" in str(unconfigured.value)
    with live_server(rig.platform.app) as url, Client(url, "tvl_nope") as tv, pytest.raises(AuthenticationError):
        tv.impact_risks()


async def test_async_impact(rig: ApiRig) -> None:
    transport = httpx.ASGITransport(app=rig.platform.app)
    async with AsyncClient("http://test", rig.tokens[("acme", Role.VIEWER)], transport=transport) as tv:
        body = await tv.impact("chiller-1")
        assert (body["costPerHour"], body["repairHours"]) == (2400.0, 4.0)
        assert [(a["twinId"], a["afterMin"]) for a in body["affected"]] == [("filler-1", 90.0), ("line-1", 90.0)]
        risks = await tv.impact_risks(limit=2)
        assert risks["count"] == 4 and [r["twinId"] for r in risks["value"]] == ["pump-1-bearing", "chiller-1"]
        with pytest.raises(NotFoundError):
            await tv.impact("nowhere")
