"""The SDK against a real server (sync) and over ASGI (async): operations, paging and typed errors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.dtdl_samples import FLOOR, ROOM, models, room
from tests.support.platform import ApiRig, api_rig, live_server
from tvilling.core.errors import (
    AuthenticationError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    PreconditionFailedError,
    QuerySyntaxError,
    UnavailableError,
    ValidationError,
)
from tvilling.core.roles import Role
from tvilling.sdk import AsyncClient, Client


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[ApiRig]:
    with api_rig(f"sqlite:///{tmp_path / 'sdk.db'}", seed_models=False) as r:
        yield r


def test_sync_client_round_trip(rig: ApiRig) -> None:
    with live_server(rig.platform.app) as url, Client(url, rig.tokens[("acme", Role.ENGINEER)]) as tv:
        assert tv.health()["status"] == "ok"
        assert len(tv.upload_models(models())) == 5
        with pytest.raises(ConflictError):
            tv.upload_models(models()[:1])
        created = tv.create_twin("r1", room())
        assert created["$dtId"] == "r1"
        with pytest.raises(PreconditionFailedError):
            tv.create_twin("r1", room())  # create = If-None-Match: *
        patched = tv.patch_twin("r1", [{"op": "replace", "path": "/temperature", "value": 30.0}],
                                etag=created["$etag"])
        assert patched["temperature"] == 30.0
        with pytest.raises(PreconditionFailedError):
            tv.patch_twin("r1", [{"op": "replace", "path": "/temperature", "value": 1.0}], etag=created["$etag"])
        with pytest.raises(ValidationError) as bad:
            tv.patch_twin("r1", [{"op": "add", "path": "/nope", "value": 1}])
        assert bad.value.where == "/nope" and bad.value.problems
        tv.create_twin("f1", {"$metadata": {"$model": FLOOR}})
        tv.create_relationship("f1", "c1", "r1", "contains", {"since": "now"})
        assert tv.get_relationship("f1", "c1")["since"] == "now"
        assert tv.list_incoming_page("r1")["value"][0]["$sourceId"] == "f1"
        for i in range(5):
            tv.create_twin(f"room-{i}", room())
        assert len(list(tv.iter_twins(model=ROOM))) == 6
        tv.delete_relationship("f1", "c1")
        tv.delete_twin("f1")
        with pytest.raises(NotFoundError):
            tv.get_twin("f1")
        with pytest.raises(QuerySyntaxError) as syntax:
            tv.query("SELECT nonsense")
        assert syntax.value.extra["status"] == 400
        rows = tv.query(f"SELECT * FROM DIGITALTWINS WHERE IS_OF_MODEL('{ROOM}')")
        assert sorted(r["$dtId"] for r in rows) == sorted(["r1", *(f"room-{i}" for i in range(5))])


def test_sync_client_errors(rig: ApiRig) -> None:
    with live_server(rig.platform.app) as url:
        with Client(url, "tvl_" + "0" * 16 + "_" + "0" * 48) as tv, pytest.raises(AuthenticationError):
            tv.get_twin("x")
        with Client(url, rig.tokens[("acme", Role.VIEWER)]) as tv, pytest.raises(PermissionDeniedError):
            tv.create_twin("x", room())
    with Client("http://127.0.0.1:9", "t") as tv, pytest.raises(UnavailableError):
        tv.health()


def test_work_orders(rig: ApiRig) -> None:
    with live_server(rig.platform.app) as url, Client(url, rig.tokens[("acme", Role.OPERATOR)]) as tv:
        with Client(url, rig.tokens[("acme", Role.ADMIN)]) as admin:
            admin.upload_models(models())
            admin.create_twin("r1", room())
        made = tv.create_work_order("r1", "Check the damper", priority="low", description="noisy",
                                    due_by="2026-12-01T08:00:00Z")
        assert (made["state"], made["priority"], made["description"], made["dueBy"]) == \
            ("open", "low", "noisy", "2026-12-01T08:00:00Z")
        plain = tv.create_work_order("r1", "Inspect the fan")  # due_by None: left out of the body
        assert (plain["priority"], plain["dueBy"]) == ("medium", None)
        assert {o["id"] for o in tv.list_work_orders(state="live", twin="r1")["value"]} == {made["id"], plain["id"]}
        assert len(tv.list_work_orders(limit=1)["value"]) == 1
        with pytest.raises(ConflictError) as wrong:
            tv.act_on_work_order(made["id"], "approve")
        assert "is open" in str(wrong.value) and "complete" in wrong.value.hint
        done = tv.act_on_work_order(made["id"], "complete", "bearing replaced")
        assert (done["state"], done["comment"]) == ("done", "bearing replaced")
        assert tv.act_on_work_order(plain["id"], "cancel")["state"] == "cancelled"
        assert [o["id"] for o in tv.list_work_orders(state=["done", "rejected"])["value"]] == [made["id"]]
        detail = tv.get_work_order(made["id"])
        assert [(t["kind"], t["state"], t["comment"]) for t in detail["transitions"]] == \
            [("created", "open", None), ("completed", "done", "bearing replaced")]
        policy = tv.get_work_order_policy()
        assert (policy["mode"], policy["rules"], policy["autoReleasedLast24h"]) == ("auto", [], 0)
        assert (policy["fileMode"], policy["tenantMode"], policy["modeChangedBy"]) == ("auto", None, None)
        off = tv.set_work_order_mode("off", "valves being replaced")
        assert (off["mode"], off["fileMode"], off["tenantMode"], off["modeComment"]) == \
            ("off", "auto", "off", "valves being replaced")
        assert off["modeChangedBy"] and off["modeChangedAt"]
        assert tv.get_work_order_policy()["mode"] == "off"
        with pytest.raises(PermissionDeniedError) as raising:
            tv.set_work_order_mode("auto")  # an operator lowers automation, never raises it
        assert "engineer" in str(raising.value)
        with pytest.raises(ValidationError):
            tv.set_work_order_mode("sometimes")
        with Client(url, rig.tokens[("acme", Role.ENGINEER)]) as engineer:
            back = engineer.set_work_order_mode("auto")  # comment None: sent as null
        assert (back["mode"], back["tenantMode"], back["modeComment"]) == ("auto", "auto", None)
        with pytest.raises(NotFoundError):
            tv.get_work_order("nope")
        with pytest.raises(ValidationError):
            tv.list_work_orders(state="finished")
        with pytest.raises(ValidationError):
            tv.create_work_order("r1", "x", due_by="2026-12-01T08:00:00")  # no zone
        with Client(url, rig.tokens[("acme", Role.VIEWER)]) as viewer, pytest.raises(PermissionDeniedError):
            viewer.create_work_order("r1", "x")


async def test_async_client_over_asgi(rig: ApiRig) -> None:
    transport = httpx.ASGITransport(app=rig.platform.app)
    async with AsyncClient("http://test", rig.tokens[("acme", Role.ADMIN)], transport=transport) as tv:
        await tv.upload_models(models())
        await tv.create_twin("r1", room())
        got = await tv.get_twin("r1")
        assert got["temperature"] == 20.0
        assert [t["$dtId"] async for t in tv.iter_twins()] == ["r1"]
        issued = await tv.create_token("viewer", "nb")
        assert issued["token"].startswith("tvl_") and issued["role"] == "viewer"
        with pytest.raises(NotFoundError):
            await tv.get_twin("missing")


def test_url_and_token_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TVILLING_URL", "http://127.0.0.1:1234/")
    monkeypatch.setenv("TVILLING_TOKEN", "tvl_abc")
    with Client() as tv:
        assert str(tv._http.base_url) == "http://127.0.0.1:1234"
        assert tv._http.headers["authorization"] == "Bearer tvl_abc"
