"""The SDK's ``explain``, sync against a live server and async over ASGI: why line 1 slowed down (the lowered speed
setpoint first, the command meanwhile), the parameters passed through, and typed errors that name the parameter."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.explain_history import JAM, LOWERED, at, explain_rig
from tests.support.platform import ApiRig, live_server
from tvilling.core.errors import AuthenticationError, NotFoundError, ValidationError
from tvilling.core.roles import Role
from tvilling.sdk import AsyncClient, Client


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[ApiRig]:
    with explain_rig(tmp_path / "sdk.db") as r:
        yield r


def test_sync_explain(rig: ApiRig) -> None:
    with live_server(rig.platform.app) as url, Client(url, rig.tokens[("acme", Role.VIEWER)]) as tv:
        body = tv.explain("line-1", "throughput", start=at(LOWERED - 20), end=at(LOWERED + 40), direction="down")
        assert body["changed"] and body["hops"] == 2 and body["bucketS"] == 60
        top = body["contributors"][0]
        assert (top["twin"], top["name"], top["kind"]) == ("line-1", "speedSetpoint", "setting")
        assert [(e["kind"], e["actor"]) for e in body["events"]] == [("command.acked", "token:operator-anna")]

        narrow = tv.explain("line-1", "throughput", start=at(LOWERED - 20), end=at(LOWERED + 40), hops=0, top=2,
                            bucket=300, reference_start=at(LOWERED - 140), reference_end=at(LOWERED - 20))
        assert narrow["twins"] == 1 and narrow["bucketS"] == 300 and len(narrow["contributors"]) <= 2
        assert (narrow["referenceStart"], narrow["referenceEnd"]) == (
            at(LOWERED - 140).replace("+00:00", "Z"), at(LOWERED - 20).replace("+00:00", "Z"))
        assert tv.explain("line-1", "throughput", start=at(100), end=at(160))["changed"] is False

        with pytest.raises(ValidationError) as bad:
            tv.explain("line-1", "throughput", start=at(LOWERED), end=at(LOWERED - 60))
        assert bad.value.where == "end"
        with pytest.raises(ValidationError) as bad:
            tv.explain("line-1", "throughput", reference_start=at(0))
        assert bad.value.where == "referenceStart"
        with pytest.raises(ValidationError) as bad:
            tv.explain("line-1", "speed", start=at(LOWERED - 20), end=at(LOWERED + 40))
        assert "has no history of 'speed'" in str(bad.value) and "throughput" in bad.value.hint
        with pytest.raises(NotFoundError):
            tv.explain("nowhere", "throughput", start=at(LOWERED - 20), end=at(LOWERED + 40))
    with live_server(rig.platform.app) as url, Client(url, "tvl_nope") as tv, pytest.raises(AuthenticationError):
        tv.explain("line-1", "throughput")


async def test_async_explain(rig: ApiRig) -> None:
    transport = httpx.ASGITransport(app=rig.platform.app)
    async with AsyncClient("http://test", rig.tokens[("acme", Role.VIEWER)], transport=transport) as tv:
        body = await tv.explain("line-1", "throughput", start=at(JAM - 20), end=at(JAM + 20), direction="down")
        assert (body["contributors"][0]["name"], body["contributors"][0]["kind"]) == ("jammed", "state")
        with pytest.raises(ValidationError) as bad:
            await tv.explain("line-1", "throughput", start=at(JAM - 20), end=at(JAM + 20), bucket=7)
        assert bad.value.where == "bucket"
