"""Guarded commands over HTTP (SQLite and PostgreSQL): refusals are problem+json that say what, where and how to
fix; the two-person rule is a 403; a wrong digest a 409; the audit trail pages and verifies."""

from __future__ import annotations

from typing import Any

from tests.integration.api.test_access_matrix import _commands_for, _pending
from tests.support.platform import ApiRig
from tvilling.core.roles import Role


def test_guard_refusals_are_problem_json(rig: ApiRig) -> None:
    _commands_for(rig, "acme", "dev-g", guard={"rate_per_min": 1})
    assert rig.call("POST", "/api/v1/twins/dev-g/commands/ping", json="a").status_code == 202
    r = rig.call("POST", "/api/v1/twins/dev-g/commands/ping", json="b")
    body: dict[str, Any] = r.json()
    assert r.status_code == 409 and r.headers["content-type"].startswith("application/problem+json")
    assert body["problems"] == [{"message": "1 commands of this kind in the last 60 s; the limit is 1 per minute",
                                 "where": "rate", "hint": "wait and send it again"}]
    engaged = rig.call("POST", "/api/v1/killswitch", role=Role.OPERATOR, json={"reason": "drill"})
    assert engaged.status_code == 200 and engaged.json()["scope"] == "*"
    r = rig.call("POST", "/api/v1/twins/dev-g/commands/ping", json="c")
    assert r.status_code == 409 and "kill switch for the whole tenant is engaged" in r.json()["detail"]
    assert r.json()["problems"][0]["hint"].startswith("an engineer releases it")
    assert rig.call("DELETE", "/api/v1/killswitch", role=Role.OPERATOR).status_code == 403
    assert rig.call("DELETE", "/api/v1/killswitch", role=Role.ENGINEER).json()["released"] is True
    assert rig.call("DELETE", "/api/v1/killswitch").status_code == 404


def test_approval_over_http(rig: ApiRig) -> None:
    cmd = _pending(rig, "h")
    assert [c["commandId"] for c in rig.call("GET", "/api/v1/approvals").json()["value"]] == [cmd["commandId"]]
    path = f"/api/v1/commands/{cmd['commandId']}"
    wrong = rig.call("POST", f"{path}/approve", role=Role.ENGINEER, json={"digest": "0" * 64})
    assert wrong.status_code == 409 and wrong.json()["problems"][0]["where"] == "digest"
    assert rig.call("POST", f"{path}/approve", role=Role.ENGINEER, json={"digest": "xyz"}).status_code == 422
    ok = rig.call("POST", f"{path}/approve", role=Role.ENGINEER, json={"digest": cmd["digest"]})
    assert ok.status_code == 200 and ok.json()["state"] in ("requested", "sent", "acked")
    assert ok.json()["approvals"][0]["actor"].startswith("token:")
    own = _pending(rig, "own")  # requested by the operator token; an operator cannot approve at all
    _commands_for(rig, "acme", "dev-self", guard={"approvals": 1})
    mine = rig.call("POST", "/api/v1/twins/dev-self/commands/ping", role=Role.ENGINEER, json="x").json()
    r = rig.call("POST", f"/api/v1/commands/{mine['commandId']}/approve", role=Role.ENGINEER,
                 json={"digest": mine["digest"]})
    assert r.status_code == 403 and "two-person rule" in r.json()["detail"]
    assert rig.call("POST", f"/api/v1/commands/{own['commandId']}/approve", role=Role.OPERATOR,
                    json={"digest": own["digest"]}).status_code == 403
    audit = rig.call("GET", "/api/v1/audit", role=Role.ENGINEER, params={"limit": 3})
    assert audit.status_code == 200 and len(audit.json()["value"]) == 3 and audit.json()["nextBefore"] is not None
    older = rig.call("GET", "/api/v1/audit", params={"before": audit.json()["nextBefore"], "limit": 1000}).json()
    assert older["value"][0]["n"] == audit.json()["value"][-1]["n"] - 1 and older["nextBefore"] is None
    denied = rig.call("GET", "/api/v1/audit", params={"category": "approval"}).json()["value"]
    assert {d["action"] for d in denied} == {"approval.denied", "approval.given"}
    verified = rig.call("GET", "/api/v1/audit/verify", role=Role.ENGINEER).json()
    assert verified["ok"] and verified["records"] == verified["headN"] >= 8
