"""The SDK's guarded-command operations, sync against a live server and async over ASGI: approvals bound to the
digest (and the two-person rule as a typed error), rejections, the kill switch, the audit trail and its check."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.api.test_access_matrix import _pending
from tests.support.platform import ApiRig, api_rig, live_server
from tvilling.core.errors import ConflictError, NotFoundError, PermissionDeniedError
from tvilling.core.roles import Role
from tvilling.sdk import AsyncClient, Client


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[ApiRig]:
    with api_rig(f"sqlite:///{tmp_path / 'sdk.db'}", seed_models=False) as r:
        yield r


def test_sync_guarded_operations(rig: ApiRig) -> None:
    first, second = _pending(rig, "a"), _pending(rig, "b")
    with live_server(rig.platform.app) as url, Client(url, rig.tokens[("acme", Role.ENGINEER)]) as eng, \
            Client(url, rig.tokens[("acme", Role.OPERATOR)]) as op:
        assert [c["commandId"] for c in op.pending_approvals()["value"]] == ["p-a", "p-b"]
        assert [c["commandId"] for c in op.pending_approvals(limit=1)["value"]] == ["p-a"]
        with pytest.raises(PermissionDeniedError):
            op.approve_command("p-a", first["digest"])  # an operator cannot approve at all
        with pytest.raises(ConflictError) as wrong:
            eng.approve_command("p-a", second["digest"])  # the digest of another request
        assert wrong.value.where == "digest"
        assert eng.approve_command("p-a", first["digest"])["state"] in ("requested", "sent", "acked")
        rejected = eng.reject_command("p-b", "not now")
        assert rejected["state"] == "rejected" and "not now" in rejected["reason"]
        with pytest.raises(ConflictError):
            eng.reject_command("p-b")

        assert op.kill_switches()["value"] == []
        engaged = op.engage_kill_switch(reason="drill")
        assert (engaged["scope"], engaged["reason"], engaged["canceled"]) == ("*", "drill", 0)
        assert op.engage_kill_switch("dev-a")["scope"] == "dev-a"
        assert sorted(k["scope"] for k in op.kill_switches()["value"]) == ["*", "dev-a"]
        with pytest.raises(PermissionDeniedError):
            op.release_kill_switch()
        assert eng.release_kill_switch(reason="over")["released"] is True
        assert eng.release_kill_switch("dev-a")["scope"] == "dev-a"
        with pytest.raises(NotFoundError):
            eng.release_kill_switch()

        page = eng.audit(limit=2)
        assert len(page["value"]) == 2 and page["nextBefore"] == page["value"][-1]["n"]
        older = eng.audit(before=page["nextBefore"], limit=1000)
        assert older["value"][0]["n"] == page["nextBefore"] - 1 and older["nextBefore"] is None
        switches = eng.audit(category="killswitch")["value"]
        assert [r["action"] for r in switches] == ["killswitch.released"] * 2 + ["killswitch.engaged"] * 2
        assert {r["subject"] for r in eng.audit(subject="p-b")["value"]} == {"p-b"}
        verified = eng.verify_audit()
        assert verified["ok"] and verified["records"] == verified["headN"] == page["value"][0]["n"]
        with pytest.raises(PermissionDeniedError):
            op.audit()


async def test_async_guarded_operations(rig: ApiRig) -> None:
    cmd = _pending(rig, "c")
    transport = httpx.ASGITransport(app=rig.platform.app)
    async with AsyncClient("http://test", rig.tokens[("acme", Role.ENGINEER)], transport=transport) as tv:
        assert [c["commandId"] for c in (await tv.pending_approvals())["value"]] == ["p-c"]
        assert (await tv.reject_command("p-c", "no"))["state"] == "rejected"
        with pytest.raises(ConflictError):
            await tv.approve_command("p-c", cmd["digest"])
        assert (await tv.engage_kill_switch(reason="drill"))["scope"] == "*"
        assert [k["scope"] for k in (await tv.kill_switches())["value"]] == ["*"]
        assert (await tv.release_kill_switch())["released"] is True
        assert (await tv.audit(limit=1))["value"][0]["action"] == "killswitch.released"
        assert (await tv.verify_audit())["ok"] is True
