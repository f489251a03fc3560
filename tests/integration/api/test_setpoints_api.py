"""Setpoint loops over HTTP (SQLite and PostgreSQL): the loops of setpoints.yaml with their autonomy and last
proposal, their proposals newest first in pages, enabling (engineer, auto loops only) and disabling (operator)
autonomy with an audit record and an event each; unknown loops and other tenants' loops are 404."""

from __future__ import annotations

from typing import Any

from tests.integration.api.test_access_matrix import _proposal, _setpoints
from tests.support.platform import ApiRig
from tvilling.core.roles import Role

LOOPS = "/api/v1/setpoint-loops"


def _problem(r: Any, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = r.json()
    return body


def test_list_describe_and_page_proposals(rig: ApiRig) -> None:
    _setpoints(rig)
    listed = rig.call("GET", LOOPS, role=Role.VIEWER)
    assert listed.status_code == 200, listed.text
    loops = listed.json()["value"]
    assert [(lp["name"], lp["twin"], lp["mode"]) for lp in loops] == [("hall", "sp-hall", "auto"),
                                                                       ("office", "sp-office", "recommend")]
    hall, office = loops
    assert hall["band"] == {"low": 21.0, "high": 23.0} and hall["periodS"] == 900 and hall["last"] is None
    assert hall["autonomy"]["enabled"] is False and hall["autonomy"]["suspendedReason"] is None
    assert office["autonomy"] is None and office["margin"] == 0.5  # recommend: no autonomy to show

    # Five proposals; two share their createdAt (the id breaks the tie), one is another loop's.
    made = [_proposal(rig, "office", f"2024-05-01T12:0{i}:00Z", savingKwh=float(i)) for i in range(3)]
    made += [_proposal(rig, "office", "2024-05-01T12:03:00Z") for _ in range(2)]
    other = _proposal(rig, "hall", "2024-05-01T13:00:00Z", decision="unchanged")
    newest_first = sorted(made, key=lambda b: (b["createdAt"], b["id"]), reverse=True)

    first = rig.call("GET", f"{LOOPS}/office/proposals", role=Role.VIEWER, params={"limit": 2})
    assert first.status_code == 200, first.text
    page = first.json()
    assert [b["id"] for b in page["value"]] == [b["id"] for b in newest_first[:2]]
    assert page["nextBefore"] == f"2024-05-01T12:03:00Z|{newest_first[1]['id']}"
    second = rig.call("GET", f"{LOOPS}/office/proposals", params={"limit": 2, "before": page["nextBefore"]}).json()
    assert [b["id"] for b in second["value"]] == [b["id"] for b in newest_first[2:4]]
    rest = rig.call("GET", f"{LOOPS}/office/proposals", params={"limit": 2, "before": second["nextBefore"]}).json()
    assert [b["id"] for b in rest["value"]] == [made[0]["id"]] and rest["nextBefore"] is None
    everything = rig.call("GET", f"{LOOPS}/office/proposals").json()
    assert len(everything["value"]) == 5 and everything["nextBefore"] is None
    assert everything["value"][-1]["savingKwh"] == 0.0  # the body comes back as stored

    described = rig.call("GET", f"{LOOPS}/office", role=Role.VIEWER).json()
    assert described["last"]["id"] == newest_first[0]["id"]
    assert rig.call("GET", f"{LOOPS}/hall").json()["last"] == other

    # A cursor with another offset means the same instant (SQLite compares stored times as UTC text).
    shifted = rig.call("GET", f"{LOOPS}/office/proposals", params={"before": "2024-05-01T14:01:30+02:00|z"}).json()
    assert [b["id"] for b in shifted["value"]] == [made[1]["id"], made[0]["id"]]
    for bad in ("garbage", "2024-05-01T12:00:00Z", "2024-05-01T12:00:00|x", "not-a-time|x", "2024-05-01T12:00:00Z|",
                "9999-12-31T23:59:59-01:00|x", "0001-01-01T00:00:00+14:00|x"):
        problem = _problem(rig.call("GET", f"{LOOPS}/office/proposals", params={"before": bad}), 422)
        assert problem["problems"][0]["where"] == "before" and "nextBefore" in problem["problems"][0]["hint"]
    for limit in (0, 501):
        _problem(rig.call("GET", f"{LOOPS}/office/proposals", params={"limit": limit}), 422)


def test_enable_and_disable_are_audited(rig: ApiRig) -> None:
    _setpoints(rig)
    assert rig.call("POST", f"{LOOPS}/hall/enable", role=Role.OPERATOR).status_code == 403
    enabled = rig.call("POST", f"{LOOPS}/hall/enable", role=Role.ENGINEER)
    assert enabled.status_code == 200, enabled.text
    autonomy = enabled.json()["autonomy"]
    engineer = autonomy["changedBy"]
    assert autonomy["enabled"] is True and autonomy["suspendedReason"] is None and engineer.startswith("token:")
    assert rig.call("GET", f"{LOOPS}/hall", role=Role.VIEWER).json()["autonomy"]["enabled"] is True

    disabled = rig.call("POST", f"{LOOPS}/hall/disable", role=Role.OPERATOR, json={"reason": "odd readings"})
    assert disabled.status_code == 200, disabled.text
    autonomy = disabled.json()["autonomy"]
    operator = autonomy["changedBy"]
    assert autonomy["enabled"] is False and operator != engineer
    assert autonomy["suspendedReason"] == f"disabled by {operator}: odd readings"
    plain = rig.call("POST", f"{LOOPS}/hall/disable", role=Role.OPERATOR)  # no body: no reason
    assert plain.status_code == 200 and plain.json()["autonomy"]["suspendedReason"] == f"disabled by {operator}"
    assert rig.call("POST", f"{LOOPS}/hall/disable", role=Role.VIEWER).status_code == 403
    _problem(rig.call("POST", f"{LOOPS}/hall/disable", json={"reason": "x" * 1001}), 422)
    _problem(rig.call("POST", f"{LOOPS}/hall/disable", json={"why": "x"}), 422)

    audit = rig.call("GET", "/api/v1/audit", role=Role.ENGINEER, params={"category": "setpoint"})
    assert audit.status_code == 200, audit.text
    records = audit.json()["value"]  # newest first
    assert [r["action"] for r in records] == ["setpoint.disabled", "setpoint.disabled", "setpoint.enabled"]
    assert {r["subject"] for r in records} == {"sp-hall"}
    assert [r["actor"] for r in records] == [operator, operator, engineer]
    assert records[1]["detail"] == {"loop": "hall", "mode": "auto", "enabled": False,
                                  "reason": f"disabled by {operator}: odd readings"}
    assert records[2]["detail"]["enabled"] is True and records[2]["detail"]["reason"] is None
    assert rig.call("GET", "/api/v1/audit/verify", role=Role.ENGINEER).json()["ok"] is True

    with rig.platform.store.read() as tx:
        events = [e.event for e in tx.events.list("acme", subject="sp-hall")]
    assert [(e.kind, e.actor, e.data["enabled"]) for e in events] == [
        ("setpoint.enabled", engineer, True), ("setpoint.disabled", operator, False),
        ("setpoint.disabled", operator, False)]
    assert events[1].data == {"loop": "hall", "enabled": False, "reason": f"disabled by {operator}: odd readings"}


def test_refusals_are_problem_json(rig: ApiRig) -> None:
    _setpoints(rig)
    conflict = _problem(rig.call("POST", f"{LOOPS}/office/enable", role=Role.ENGINEER), 409)
    assert "recommend mode" in conflict["detail"] and conflict["problems"][0]["where"] == "office"
    assert "mode: auto" in conflict["problems"][0]["hint"]
    assert rig.call("GET", f"{LOOPS}/office").json()["autonomy"] is None  # nothing was written
    with rig.platform.store.read() as tx:
        assert not [e for e in tx.events.list("acme", limit=10_000) if e.event.kind.startswith("setpoint.")]

    for method, path in (("GET", f"{LOOPS}/nope"), ("GET", f"{LOOPS}/nope/proposals"),
                         ("POST", f"{LOOPS}/nope/enable"), ("POST", f"{LOOPS}/nope/disable")):
        missing = _problem(rig.call(method, path), 404)
        assert "'nope' does not exist" in missing["detail"], (method, path)


def test_other_tenants_loops_do_not_exist(rig: ApiRig) -> None:
    _setpoints(rig)
    secret = _proposal(rig, "hall", "2024-05-01T12:00:00Z", reasons=["acme-only"])
    assert rig.call("GET", LOOPS, tenant="globex").json() == {"value": []}
    for method, path in (("GET", f"{LOOPS}/hall"), ("GET", f"{LOOPS}/hall/proposals"),
                         ("POST", f"{LOOPS}/hall/enable"), ("POST", f"{LOOPS}/hall/disable"),
                         ("POST", f"{LOOPS}/office/enable")):
        r = rig.call(method, path, tenant="globex", role=Role.ADMIN)
        assert r.status_code == 404 and "acme-only" not in r.text and secret["id"] not in r.text, (method, path)
    hall = rig.call("GET", f"{LOOPS}/hall").json()
    assert hall["autonomy"]["enabled"] is False and hall["autonomy"]["changedBy"] is None  # left alone
    audit = rig.call("GET", "/api/v1/audit", params={"category": "setpoint"})
    assert audit.json()["value"] == []
