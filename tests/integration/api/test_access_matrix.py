"""Deny by default (G7): unauthenticated calls, the role matrix (each role succeeds exactly where allowed) and
the tenant-isolation matrix (tenant A's token gets 404 for every tenant-B id, and B is left unchanged)."""

from __future__ import annotations

import functools
import io
import json
import time
from collections.abc import Callable
from typing import Any

import pandas as pd
import pytest

from tests.support.dtdl_samples import CTX, FLOOR, ROOM, room
from tests.support.fmus import thermal_zone_bytes
from tests.support.platform import ApiRig
from tvilling.core.roles import Role

Op = Callable[[ApiRig, Role, str], Any]


def _twin(rig: ApiRig, twin_id: str, tenant: str = "acme") -> None:
    r = rig.call("PUT", f"/api/v1/twins/{twin_id}", tenant=tenant, json=room())
    assert r.status_code in (200, 201), r.text


def _floor_with_rel(rig: ApiRig, uid: str, tenant: str = "acme") -> None:
    _twin(rig, f"r-{uid}", tenant)
    rig.call("PUT", f"/api/v1/twins/f-{uid}", tenant=tenant, json={"$metadata": {"$model": FLOOR}})
    r = rig.call("PUT", f"/api/v1/twins/f-{uid}/relationships/c", tenant=tenant,
                 json={"$targetId": f"r-{uid}", "$relationshipName": "contains"})
    assert r.status_code in (200, 201), r.text


def _model(uid: str) -> dict[str, Any]:
    return {"@context": CTX, "@id": f"dtmi:test:M{uid.replace('-', '_')};1", "@type": "Interface"}


def op_list_twins(rig: ApiRig, role: Role, uid: str) -> Any:
    return rig.call("GET", "/api/v1/twins", role=role)


def op_get_twin(rig: ApiRig, role: Role, uid: str) -> Any:
    _twin(rig, uid)
    return rig.call("GET", f"/api/v1/twins/{uid}", role=role)


def op_put_twin(rig: ApiRig, role: Role, uid: str) -> Any:
    return rig.call("PUT", f"/api/v1/twins/{uid}", role=role, json=room())


def op_patch_twin(rig: ApiRig, role: Role, uid: str) -> Any:
    _twin(rig, uid)
    return rig.call("PATCH", f"/api/v1/twins/{uid}", role=role,
                    json=[{"op": "replace", "path": "/temperature", "value": 1.5}])


def op_twin_physics(rig: ApiRig, role: Role, uid: str) -> Any:
    _twin(rig, uid)
    return rig.call("GET", f"/api/v1/twins/{uid}/physics", role=role)


def op_delete_twin(rig: ApiRig, role: Role, uid: str) -> Any:
    _twin(rig, uid)
    return rig.call("DELETE", f"/api/v1/twins/{uid}", role=role)


def op_list_rels(rig: ApiRig, role: Role, uid: str) -> Any:
    _floor_with_rel(rig, uid)
    return rig.call("GET", f"/api/v1/twins/f-{uid}/relationships", role=role)


def op_incoming(rig: ApiRig, role: Role, uid: str) -> Any:
    _floor_with_rel(rig, uid)
    return rig.call("GET", f"/api/v1/twins/r-{uid}/incomingrelationships", role=role)


def op_get_rel(rig: ApiRig, role: Role, uid: str) -> Any:
    _floor_with_rel(rig, uid)
    return rig.call("GET", f"/api/v1/twins/f-{uid}/relationships/c", role=role)


def op_put_rel(rig: ApiRig, role: Role, uid: str) -> Any:
    _floor_with_rel(rig, uid)
    return rig.call("PUT", f"/api/v1/twins/f-{uid}/relationships/c2", role=role,
                    json={"$targetId": f"r-{uid}", "$relationshipName": "contains"})


def op_patch_rel(rig: ApiRig, role: Role, uid: str) -> Any:
    _floor_with_rel(rig, uid)
    return rig.call("PATCH", f"/api/v1/twins/f-{uid}/relationships/c", role=role,
                    json=[{"op": "add", "path": "/since", "value": "now"}])


def op_delete_rel(rig: ApiRig, role: Role, uid: str) -> Any:
    _floor_with_rel(rig, uid)
    return rig.call("DELETE", f"/api/v1/twins/f-{uid}/relationships/c", role=role)


def op_list_models(rig: ApiRig, role: Role, uid: str) -> Any:
    return rig.call("GET", "/api/v1/models", role=role)


def op_get_model(rig: ApiRig, role: Role, uid: str) -> Any:
    return rig.call("GET", f"/api/v1/models/{ROOM}", role=role)


def op_upload_model(rig: ApiRig, role: Role, uid: str) -> Any:
    return rig.call("POST", "/api/v1/models", role=role, json=[_model(uid)])


def op_decommission_model(rig: ApiRig, role: Role, uid: str) -> Any:
    rig.call("POST", "/api/v1/models", json=[_model(uid)])
    return rig.call("PATCH", f"/api/v1/models/{_model(uid)['@id']}", role=role,
                    json=[{"op": "replace", "path": "/decommissioned", "value": True}])


def op_delete_model(rig: ApiRig, role: Role, uid: str) -> Any:
    rig.call("POST", "/api/v1/models", json=[_model(uid)])
    return rig.call("DELETE", f"/api/v1/models/{_model(uid)['@id']}", role=role)


def op_query(rig: ApiRig, role: Role, uid: str) -> Any:
    return rig.call("POST", "/api/v1/query", role=role, json={"query": "SELECT * FROM DIGITALTWINS"})


def op_list_tokens(rig: ApiRig, role: Role, uid: str) -> Any:
    return rig.call("GET", "/api/v1/tokens", role=role)


def op_create_token(rig: ApiRig, role: Role, uid: str) -> Any:
    return rig.call("POST", "/api/v1/tokens", role=role, json={"role": "viewer", "name": uid})


def op_revoke_token(rig: ApiRig, role: Role, uid: str) -> Any:
    issued = rig.platform.services.tokens.create("acme", Role.VIEWER, uid)
    return rig.call("DELETE", f"/api/v1/tokens/{issued.id}", role=role)


def op_metrics(rig: ApiRig, role: Role, uid: str) -> Any:
    return rig.call("GET", "/metrics", role=role)


# Model registry: two versions registered by the platform itself (the API has no upload), v2 in production.
def _ml_model(rig: ApiRig, uid: str, tenant: str = "acme", note: str = "") -> str:
    from tvilling.app.registry import registry_for
    from tvilling.core.context import Context

    registry = registry_for(rig.platform.services)
    for _ in range(2):
        registry.register(tenant, f"m-{uid}", "anomaly", b"{}", "test/1", Context.new(), metrics={"note": note},
                          promote=True)
    return f"m-{uid}"


def op_list_ml_models(rig: ApiRig, role: Role, uid: str) -> Any:
    return rig.call("GET", "/api/v1/ml/models", role=role)


def op_get_ml_model(rig: ApiRig, role: Role, uid: str) -> Any:
    return rig.call("GET", f"/api/v1/ml/models/{_ml_model(rig, uid)}", role=role)


def op_ml_model_versions(rig: ApiRig, role: Role, uid: str) -> Any:
    return rig.call("GET", f"/api/v1/ml/models/{_ml_model(rig, uid)}/versions", role=role)


def op_ml_model_version(rig: ApiRig, role: Role, uid: str) -> Any:
    return rig.call("GET", f"/api/v1/ml/models/{_ml_model(rig, uid)}/versions/1", role=role)


def op_promote_ml_model(rig: ApiRig, role: Role, uid: str) -> Any:
    return rig.call("POST", f"/api/v1/ml/models/{_ml_model(rig, uid)}/versions/1/promote", role=role)


def op_rollback_ml_model(rig: ApiRig, role: Role, uid: str) -> Any:
    return rig.call("POST", f"/api/v1/ml/models/{_ml_model(rig, uid)}/rollback", role=role)


# Commands: a model with a command, a twin, and a mapping to an in-memory transport that acks at once.
DEVICE = "dtmi:test:Device;1"


class _LoopTransport:
    name = "loop"

    async def start(self, on_outcome: Any) -> None: ...

    async def send(self, request: Any) -> Any:
        from tvilling.ports.commands import CommandOutcome

        return CommandOutcome(request.command_id, "acked")

    async def close(self) -> None: ...


def _commands_for(rig: ApiRig, tenant: str, twin_id: str, guard: dict[str, Any] | None = None) -> Any:
    from tvilling.app.command_mapping import parse_command_mappings

    svc = rig.platform.app.state.commands
    svc.transports["loop"] = _LoopTransport()
    row: dict[str, Any] = {"twin": twin_id, "command": "ping", "transport": "loop", "address": "x"}
    svc.mappings = parse_command_mappings({"tenant": tenant, "commands": [{**row, "guard": guard} if guard else row]})
    rig.call("POST", "/api/v1/models", tenant=tenant, json=[{
        "@context": CTX, "@id": DEVICE, "@type": "Interface", "contents": [
            {"@type": "Command", "name": "ping",
             "request": {"@type": "CommandRequest", "name": "note", "schema": "string"}}]}])
    r = rig.call("PUT", f"/api/v1/twins/{twin_id}", tenant=tenant, json={"$metadata": {"$model": DEVICE}})
    assert r.status_code in (200, 201), r.text
    return svc


def _command(rig: ApiRig, uid: str, tenant: str = "acme", note: str = "hello") -> str:
    _commands_for(rig, tenant, f"dev-{uid}")
    r = rig.call("POST", f"/api/v1/twins/dev-{uid}/commands/ping", tenant=tenant, json=note,
                 params={"commandId": f"c-{uid}"})
    assert r.status_code == 202, r.text
    return f"c-{uid}"


def op_send_command(rig: ApiRig, role: Role, uid: str) -> Any:
    _commands_for(rig, "acme", f"dev-{uid}")
    return rig.call("POST", f"/api/v1/twins/dev-{uid}/commands/ping", role=role, json="hi")


def op_get_command(rig: ApiRig, role: Role, uid: str) -> Any:
    return rig.call("GET", f"/api/v1/commands/{_command(rig, uid)}", role=role)


def op_list_commands(rig: ApiRig, role: Role, uid: str) -> Any:
    _command(rig, uid)
    return rig.call("GET", f"/api/v1/twins/dev-{uid}/commands", role=role)


def _pending(rig: ApiRig, uid: str, tenant: str = "acme") -> dict[str, Any]:
    """A command waiting for one approval, requested by the operator token (so every approver is another actor)."""
    _commands_for(rig, tenant, f"dev-{uid}", guard={"approvals": 1})
    r = rig.call("POST", f"/api/v1/twins/dev-{uid}/commands/ping", tenant=tenant, role=Role.OPERATOR, json="hi",
                 params={"commandId": f"p-{uid}"})
    assert r.status_code == 202 and r.json()["state"] == "pending_approval", r.text
    body: dict[str, Any] = r.json()
    return body


def op_approve_command(rig: ApiRig, role: Role, uid: str) -> Any:
    cmd = _pending(rig, uid)
    return rig.call("POST", f"/api/v1/commands/{cmd['commandId']}/approve", role=role, json={"digest": cmd["digest"]})


def op_reject_command(rig: ApiRig, role: Role, uid: str) -> Any:
    cmd = _pending(rig, uid)
    return rig.call("POST", f"/api/v1/commands/{cmd['commandId']}/reject", role=role, json={"reason": "no"})


def op_list_approvals(rig: ApiRig, role: Role, uid: str) -> Any:
    return rig.call("GET", "/api/v1/approvals", role=role)


def op_list_kill_switches(rig: ApiRig, role: Role, uid: str) -> Any:
    return rig.call("GET", "/api/v1/killswitch", role=role)


def op_engage_kill_switch(rig: ApiRig, role: Role, uid: str) -> Any:
    _twin(rig, f"ks-{uid}")
    return rig.call("POST", "/api/v1/killswitch", role=role, json={"scope": f"ks-{uid}", "reason": "matrix"})


def op_release_kill_switch(rig: ApiRig, role: Role, uid: str) -> Any:
    _twin(rig, f"ks-{uid}")
    assert rig.call("POST", "/api/v1/killswitch", json={"scope": f"ks-{uid}"}).status_code == 200
    return rig.call("DELETE", "/api/v1/killswitch", role=role, params={"scope": f"ks-{uid}"})


def op_audit(rig: ApiRig, role: Role, uid: str) -> Any:
    return rig.call("GET", "/api/v1/audit", role=role, params={"limit": 5})


def op_verify_audit(rig: ApiRig, role: Role, uid: str) -> Any:
    return rig.call("GET", "/api/v1/audit/verify", role=role)


# Alarms: raised by the platform's alarm service (rules or other services), acknowledged through the API.
def _alarm(rig: ApiRig, uid: str, tenant: str = "acme", message: str = "hot") -> str:
    from tvilling.app.alarms import alarm_service

    svc = alarm_service(rig.platform.app.state, rig.platform.services)
    return svc.raise_alarm(tenant, f"a-{uid}", "temperature", "major", message).id


def op_list_alarms(rig: ApiRig, role: Role, uid: str) -> Any:
    return rig.call("GET", "/api/v1/alarms", role=role, params={"state": "open"})


def op_get_alarm(rig: ApiRig, role: Role, uid: str) -> Any:
    return rig.call("GET", f"/api/v1/alarms/{_alarm(rig, uid)}", role=role)


def op_ack_alarm(rig: ApiRig, role: Role, uid: str) -> Any:
    return rig.call("POST", f"/api/v1/alarms/{_alarm(rig, uid)}/ack", role=role, json={"comment": uid})


def op_alarm_rules(rig: ApiRig, role: Role, uid: str) -> Any:
    return rig.call("GET", "/api/v1/alarm-rules", role=role)


def op_detect(rig: ApiRig, role: Role, uid: str) -> Any:
    return rig.call("POST", "/api/v1/detect", role=role, content=DETECT_CSV, headers={"Content-Type": "text/csv"})


DETECT_CSV = "t,a,b\n" + "".join(f"{i},{(i * 7) % 11},{(i * 5) % 13}\n" for i in range(120))


@functools.cache
def _fleet_csv(seed: int, truncate: bool = False) -> bytes:
    from tests.unit.ml.rul.fleet import make_fleet
    return make_fleet(6, seed=seed, truncate=truncate)[0].to_csv(index=False).encode()


def _rul_job(rig: ApiRig, tenant: str = "acme") -> str:
    r = rig.call("POST", "/api/v1/ml/rul/jobs?name=fleet&folds=2", tenant=tenant, content=_fleet_csv(41),
                 headers={"Content-Type": "text/csv"})
    assert r.status_code == 202, r.text
    job_id: str = r.json()["id"]
    return job_id


def op_submit_rul_job(rig: ApiRig, role: Role, uid: str) -> Any:
    return rig.call("POST", f"/api/v1/ml/rul/jobs?name=fleet-{uid}&folds=2", role=role, content=_fleet_csv(41),
                    headers={"Content-Type": "text/csv"})


def op_list_rul_jobs(rig: ApiRig, role: Role, uid: str) -> Any:
    return rig.call("GET", "/api/v1/ml/rul/jobs", role=role)


def op_get_rul_job(rig: ApiRig, role: Role, uid: str) -> Any:
    if not hasattr(rig, "rul_job"):
        rig.rul_job = _rul_job(rig)  # type: ignore[attr-defined]
    return rig.call("GET", f"/api/v1/ml/rul/jobs/{rig.rul_job}", role=role)  # type: ignore[attr-defined]


@functools.cache
def _rul_model() -> bytes:
    from tvilling.app import offline_rul
    frame = pd.read_csv(io.BytesIO(_fleet_csv(41)))
    data, _ = offline_rul.fit_model(frame, offline_rul.schema_for(frame, offline_rul.HistoryOptions()),
                                    offline_rul.TrainSettings(folds=2), source="test", source_sha256="0")
    return data


def op_predict_rul(rig: ApiRig, role: Role, uid: str) -> Any:
    from tvilling.app.registry import registry_for
    from tvilling.core.context import Context
    registry_for(rig.platform.services).register("acme", f"rul-{uid}", "rul", _rul_model(), "tvilling.rul-lightgbm/1",
                                                 Context.new(), promote=True)
    return rig.call("POST", f"/api/v1/ml/models/rul-{uid}/predict", role=role, content=_fleet_csv(42, True),
                    headers={"Content-Type": "text/csv"})


# Work orders: made by a person (operator) here; the policy-raised ones are covered in tests/unit/app.
def _work_order(rig: ApiRig, uid: str, tenant: str = "acme", title: str = "check") -> str:
    _twin(rig, f"wo-{uid}", tenant)
    r = rig.call("POST", "/api/v1/work-orders", tenant=tenant, json={"twinId": f"wo-{uid}", "title": title})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def op_list_work_orders(rig: ApiRig, role: Role, uid: str) -> Any:
    return rig.call("GET", "/api/v1/work-orders", role=role, params={"state": "live"})


def op_get_work_order(rig: ApiRig, role: Role, uid: str) -> Any:
    return rig.call("GET", f"/api/v1/work-orders/{_work_order(rig, uid)}", role=role)


def op_create_work_order(rig: ApiRig, role: Role, uid: str) -> Any:
    _twin(rig, f"wo-{uid}")
    return rig.call("POST", "/api/v1/work-orders", role=role, json={"twinId": f"wo-{uid}", "title": uid})


def op_complete_work_order(rig: ApiRig, role: Role, uid: str) -> Any:
    return rig.call("POST", f"/api/v1/work-orders/{_work_order(rig, uid)}/complete", role=role,
                    json={"comment": uid})


def op_work_order_policy(rig: ApiRig, role: Role, uid: str) -> Any:
    return rig.call("GET", "/api/v1/work-order-policy", role=role)


def op_lower_work_order_mode(rig: ApiRig, role: Role, uid: str) -> Any:
    return rig.call("PUT", "/api/v1/work-order-policy/mode", role=role, json={"mode": "approve", "comment": uid})


# The FMU library: each upload carries its uid as the zip comment, so every call is new content.
def _fmu(rig: ApiRig, uid: str, tenant: str = "acme", name: str = "zone") -> str:
    r = rig.call("POST", "/api/v1/fmus", tenant=tenant, params={"name": name}, content=thermal_zone_bytes("2.0", uid),
                 headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def op_list_fmus(rig: ApiRig, role: Role, uid: str) -> Any:
    return rig.call("GET", "/api/v1/fmus", role=role)


def op_get_fmu(rig: ApiRig, role: Role, uid: str) -> Any:
    return rig.call("GET", f"/api/v1/fmus/{_fmu(rig, uid)}", role=role)


def op_upload_fmu(rig: ApiRig, role: Role, uid: str) -> Any:
    return rig.call("POST", "/api/v1/fmus", role=role, content=thermal_zone_bytes("3.0", uid),
                    headers={"Content-Type": "application/octet-stream"})


def op_simulate_fmu(rig: ApiRig, role: Role, uid: str) -> Any:
    return rig.call("POST", f"/api/v1/fmus/{_fmu(rig, uid)}/simulations", role=role,
                    json={"stopTime": 600, "values": {"UA": 450}})


def op_fmu_ensemble(rig: ApiRig, role: Role, uid: str) -> Any:
    return rig.call("POST", f"/api/v1/fmus/{_fmu(rig, uid)}/ensembles", role=role,
                    json={"stopTime": 600, "samples": 4, "vary": {"UA": {"dist": "normal", "mean": 500, "sd": 50}}})


def op_calibrate_fmu(rig: ApiRig, role: Role, uid: str) -> Any:
    t = [600.0 * k for k in range(6)]
    return rig.call("POST", f"/api/v1/fmus/{_fmu(rig, uid)}/calibrations", role=role,
                    json={"time": t, "inputs": {"Q_hvac": [500.0] * 6},
                          "outputs": {"T": [21.0 + k / 10 for k in range(6)]}, "fit": {"UA": [100, 2000]}})


def op_fmu_residuals(rig: ApiRig, role: Role, uid: str) -> Any:
    t = [600.0 * k for k in range(12)]
    return rig.call("POST", f"/api/v1/fmus/{_fmu(rig, uid)}/residuals", role=role,
                    json={"time": t, "inputs": {"Q_hvac": [500.0] * 12}, "referenceRows": 10,
                          "outputs": {"T": [21.0 + k / 10 for k in range(12)]}})


def op_delete_fmu(rig: ApiRig, role: Role, uid: str) -> Any:
    return rig.call("DELETE", f"/api/v1/fmus/{_fmu(rig, uid)}", role=role)


# Event routes: engineers create, change and delete (a route sends data out), operators pause, resume, test and
# redeliver. Routes are made paused (nothing is sent in the background); the discard port answers no ping.
def _event_route(rig: ApiRig, uid: str, tenant: str = "acme", name: str | None = None) -> str:
    r = rig.call("POST", "/api/v1/event-routes", tenant=tenant, json={
        "name": name or f"route-{uid}", "url": "http://127.0.0.1:9/hooks", "enabled": False,
        "filter": {"kinds": ["workorder"]}})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def _dead_letter(rig: ApiRig, uid: str, tenant: str = "acme", name: str | None = None) -> tuple[str, int]:
    from tvilling.adapters.sql.event_routes import SqlEventRouteRepo

    route_id = _event_route(rig, uid, tenant, name)
    with rig.platform.store.write() as tx:
        repo = SqlEventRouteRepo(tx.conn)
        seq = tx.events.list(tenant, subject=f"event-routes/{route_id}")[0].seq
        repo.save_delivery(tenant, route_id, seq, {"event_id": f"{seq}-x", "kind": "eventroute.created",
                                                   "subject": f"event-routes/{route_id}", "status": "dead",
                                                   "attempts": 8, "error": "dead-lettered after 8 attempt(s)"})
        delivery = repo.delivery_for(tenant, route_id, seq)
    assert delivery is not None
    return route_id, delivery.id


def op_list_event_routes(rig: ApiRig, role: Role, uid: str) -> Any:
    return rig.call("GET", "/api/v1/event-routes", role=role)


def op_create_event_route(rig: ApiRig, role: Role, uid: str) -> Any:
    return rig.call("POST", "/api/v1/event-routes", role=role, json={"name": uid, "url": "http://127.0.0.1:9/x",
                                                                     "enabled": False})


def _on_route(name: str, method: str, suffix: str = "", body: Any = None) -> Op:
    """An operation on a fresh route of tenant A: ``method`` on ``/api/v1/event-routes/{id}{suffix}``."""
    def op(rig: ApiRig, role: Role, uid: str) -> Any:
        return rig.call(method, f"/api/v1/event-routes/{_event_route(rig, uid)}{suffix}", role=role, json=body)

    op.__name__ = f"op_{name}"
    return op


op_get_event_route = _on_route("get_event_route", "GET")
op_pause_event_route = _on_route("pause_event_route", "PATCH", body={"enabled": False})
op_change_event_route = _on_route("change_event_route", "PATCH", body={"url": "http://localhost:9/other"})
op_delete_event_route = _on_route("delete_event_route", "DELETE")
op_test_event_route = _on_route("test_event_route", "POST", "/test")
op_rotate_event_route_secret = _on_route("rotate_event_route_secret", "POST", "/rotate-secret")
op_event_route_deliveries = _on_route("event_route_deliveries", "GET", "/deliveries")


def op_redeliver_event(rig: ApiRig, role: Role, uid: str) -> Any:
    route_id, delivery_id = _dead_letter(rig, uid)
    return rig.call("POST", f"/api/v1/event-routes/{route_id}/deliveries/{delivery_id}/redeliver", role=role)


PLAN_DOC = {"horizon_days": 7, "tasks": [{"id": "t", "duration_hours": 2, "failure": {"weibull": {
    "shape": 2, "scale_hours": 500}}}]}


def op_maintenance_plan(rig: ApiRig, role: Role, uid: str) -> Any:
    return rig.call("GET", "/api/v1/maintenance/plan", role=role)


def op_plan_maintenance(rig: ApiRig, role: Role, uid: str) -> Any:
    return rig.call("POST", "/api/v1/maintenance/plan", role=role, json=PLAN_DOC)


# Setpoint loops (setpoints.yaml): one auto loop and one recommend loop of one tenant, on the rig's command service;
# no decisions run here (proposals are stored by hand), so the loops' twins need not exist.
SETPOINT_LOOPS: list[dict[str, Any]] = [
    {"name": "hall", "twin": "sp-hall", "mode": "auto", "band": {"low": 21, "high": 23}},
    {"name": "office", "twin": "sp-office", "mode": "recommend", "band": {"low": 20, "high": 24}, "margin": 0.5},
]


def _setpoints(rig: ApiRig, tenant: str = "acme") -> Any:
    """The rig's setpoint loop service with :data:`SETPOINT_LOOPS` for ``tenant`` (one tenant's loops at a time,
    as in setpoints.yaml)."""
    from tvilling.app.setpoint_config import parse_config
    from tvilling.app.setpoint_loops import SetpointLoopService

    svc = getattr(rig.platform.app.state, "setpoints", None)
    if svc is None or svc.tenant != tenant or [loop.name for loop in svc.config.loops] != ["hall", "office"]:
        svc = SetpointLoopService(rig.platform.services, rig.platform.app.state.commands,
                                  parse_config({"tenant": tenant, "loops": SETPOINT_LOOPS}))
        svc.on_start()  # as the server's start does: autonomy may be enabled from then on
        rig.platform.app.state.setpoints = svc
    return svc


def _proposal(rig: ApiRig, loop: str, created_at: str, tenant: str = "acme", **extra: Any) -> dict[str, Any]:
    """Store one proposal of ``loop`` made at ``created_at`` (ISO, UTC) as the loop service would."""
    from datetime import datetime

    from tvilling.adapters.sql.setpoints_repo import SqlSetpointRepo
    from tvilling.core.context import new_id

    at = datetime.fromisoformat(created_at.replace("Z", "+00:00"))
    body = {"id": new_id(), "loop": loop, "decision": "recommended", "createdAt": created_at,
            "at": created_at, "reasons": [], "commands": [], **extra}
    with rig.platform.store.write() as tx:
        SqlSetpointRepo(tx.conn).add(tenant, body, at, at)
    return body


def op_list_setpoint_loops(rig: ApiRig, role: Role, uid: str) -> Any:
    _setpoints(rig)
    return rig.call("GET", "/api/v1/setpoint-loops", role=role)


def op_get_setpoint_loop(rig: ApiRig, role: Role, uid: str) -> Any:
    _setpoints(rig)
    return rig.call("GET", "/api/v1/setpoint-loops/hall", role=role)


def op_setpoint_proposals(rig: ApiRig, role: Role, uid: str) -> Any:
    _setpoints(rig)
    return rig.call("GET", "/api/v1/setpoint-loops/office/proposals", role=role, params={"limit": 5})


def op_enable_setpoint_loop(rig: ApiRig, role: Role, uid: str) -> Any:
    _setpoints(rig)
    return rig.call("POST", "/api/v1/setpoint-loops/hall/enable", role=role)


def op_disable_setpoint_loop(rig: ApiRig, role: Role, uid: str) -> Any:
    _setpoints(rig)
    return rig.call("POST", "/api/v1/setpoint-loops/hall/disable", role=role, json={"reason": uid})


MATRIX: list[tuple[Op, Role]] = [
    (op_list_twins, Role.VIEWER), (op_get_twin, Role.VIEWER), (op_twin_physics, Role.VIEWER),
    (op_put_twin, Role.ENGINEER),
    (op_patch_twin, Role.OPERATOR), (op_delete_twin, Role.ENGINEER), (op_list_rels, Role.VIEWER),
    (op_incoming, Role.VIEWER), (op_get_rel, Role.VIEWER), (op_put_rel, Role.ENGINEER),
    (op_patch_rel, Role.ENGINEER), (op_delete_rel, Role.ENGINEER), (op_list_models, Role.VIEWER),
    (op_get_model, Role.VIEWER), (op_upload_model, Role.ENGINEER), (op_decommission_model, Role.ENGINEER),
    (op_delete_model, Role.ENGINEER), (op_query, Role.VIEWER), (op_list_tokens, Role.ADMIN),
    (op_create_token, Role.ADMIN), (op_revoke_token, Role.ADMIN), (op_metrics, Role.VIEWER),
    (op_list_alarms, Role.VIEWER), (op_get_alarm, Role.VIEWER), (op_ack_alarm, Role.OPERATOR),
    (op_alarm_rules, Role.VIEWER),
    (op_list_ml_models, Role.VIEWER), (op_get_ml_model, Role.VIEWER), (op_ml_model_versions, Role.VIEWER),
    (op_ml_model_version, Role.VIEWER), (op_promote_ml_model, Role.ENGINEER), (op_rollback_ml_model, Role.ENGINEER),
    (op_send_command, Role.OPERATOR), (op_get_command, Role.VIEWER), (op_list_commands, Role.VIEWER),
    (op_approve_command, Role.ENGINEER), (op_reject_command, Role.ENGINEER), (op_list_approvals, Role.VIEWER),
    (op_list_kill_switches, Role.VIEWER), (op_engage_kill_switch, Role.OPERATOR),
    (op_release_kill_switch, Role.ENGINEER), (op_audit, Role.ENGINEER), (op_verify_audit, Role.ENGINEER),
    (op_detect, Role.VIEWER), (op_submit_rul_job, Role.ENGINEER), (op_list_rul_jobs, Role.VIEWER),
    (op_get_rul_job, Role.VIEWER), (op_predict_rul, Role.VIEWER),
    (op_list_work_orders, Role.VIEWER), (op_get_work_order, Role.VIEWER), (op_create_work_order, Role.OPERATOR),
    (op_complete_work_order, Role.OPERATOR), (op_work_order_policy, Role.VIEWER),
    (op_lower_work_order_mode, Role.OPERATOR),
    (op_list_fmus, Role.VIEWER), (op_get_fmu, Role.VIEWER), (op_upload_fmu, Role.ENGINEER),
    (op_simulate_fmu, Role.OPERATOR), (op_fmu_ensemble, Role.OPERATOR), (op_calibrate_fmu, Role.ENGINEER),
    (op_fmu_residuals, Role.OPERATOR), (op_delete_fmu, Role.ENGINEER),
    (op_list_event_routes, Role.VIEWER), (op_get_event_route, Role.VIEWER), (op_create_event_route, Role.ENGINEER),
    (op_pause_event_route, Role.OPERATOR), (op_change_event_route, Role.ENGINEER),
    (op_delete_event_route, Role.ENGINEER), (op_test_event_route, Role.OPERATOR),
    (op_rotate_event_route_secret, Role.ENGINEER), (op_event_route_deliveries, Role.VIEWER),
    (op_redeliver_event, Role.OPERATOR),
    (op_maintenance_plan, Role.VIEWER), (op_plan_maintenance, Role.OPERATOR),
    (op_list_setpoint_loops, Role.VIEWER), (op_get_setpoint_loop, Role.VIEWER), (op_setpoint_proposals, Role.VIEWER),
    (op_enable_setpoint_loop, Role.ENGINEER), (op_disable_setpoint_loop, Role.OPERATOR),
]


@pytest.mark.parametrize("op,needed", MATRIX, ids=[op.__name__[3:] for op, _ in MATRIX])
def test_role_matrix(shared_rig: ApiRig, op: Op, needed: Role) -> None:
    for role in Role:
        uid = f"{op.__name__[3:]}-{role.value}".replace("_", "-")
        r = op(shared_rig, role, uid)
        if role.allows(needed):
            assert r.status_code in (200, 201, 202, 204), (role, r.status_code, r.text)
        else:
            assert r.status_code == 403, (role, r.status_code, r.text)
            assert r.json()["type"].endswith("forbidden")


def _routes(routes: Any, prefix: str = "") -> Any:
    """(path, methods) of every HTTP route in the schema, through FastAPI's nested included routers."""
    for route in routes:
        ctx = getattr(route, "include_context", None)
        if ctx is not None:
            yield from _routes(ctx.included_router.routes, prefix + ctx.prefix)
        elif getattr(route, "methods", None) and getattr(route, "include_in_schema", False):
            yield prefix + route.path, route.methods


def test_every_non_public_route_requires_a_token(shared_rig: ApiRig) -> None:
    spec = shared_rig.client.get("/api/v1/openapi.json").json()
    documented = {(m.upper(), p) for p, item in spec["paths"].items() for m in item}
    routed = {(m, path) for path, methods in _routes(shared_rig.platform.app.routes) for m in methods}
    assert routed == documented  # no undocumented routes (S-01)
    for method, path in sorted(documented):
        concrete = path.replace("{model_id}", ROOM).replace("{token_id}", "0" * 16)
        concrete = concrete.replace("{twin_id}", "x").replace("{rel_id}", "y")
        for headers in ({}, {"Authorization": "Bearer tvl_0000000000000000_" + "0" * 48},
                        {"Authorization": "Basic abc"}, {"X-Forwarded-User": "admin"}):
            r = shared_rig.client.request(method, concrete, headers=headers, json={})
            if path == "/health":
                assert r.status_code == 200
            else:
                assert r.status_code == 401, (method, path, headers, r.status_code)
                assert r.headers["www-authenticate"].startswith("Bearer")


def test_revoked_token_is_refused(shared_rig: ApiRig) -> None:
    svc = shared_rig.platform.services.tokens
    issued = svc.create("acme", Role.VIEWER, "short-lived")
    headers = {"Authorization": f"Bearer {issued.token}"}
    assert shared_rig.client.get("/api/v1/twins", headers=headers).status_code == 200
    svc.revoke("acme", issued.id)
    assert shared_rig.client.get("/api/v1/twins", headers=headers).status_code == 401


CANARY = "canary-globex-7f3a"


def _seed_b(rig: ApiRig) -> dict[str, Any]:
    rig.call("PUT", "/api/v1/twins/b-room", tenant="globex", json={**room(), "name": CANARY})
    rig.call("PUT", "/api/v1/twins/b-floor", tenant="globex", json={"$metadata": {"$model": FLOOR}})
    rig.call("PUT", "/api/v1/twins/b-floor/relationships/b-rel", tenant="globex",
             json={"$targetId": "b-room", "$relationshipName": "contains", "since": CANARY})
    rig.call("POST", "/api/v1/models", tenant="globex",
             json=[{"@context": CTX, "@id": "dtmi:globex:Secret;1", "@type": "Interface", "description": CANARY}])
    token = rig.platform.services.tokens.create("globex", Role.VIEWER, CANARY)
    command_id = _command(rig, "b", tenant="globex", note=CANARY)
    for _ in range(200):  # settled (acked by the loop transport) before the state is recorded
        if rig.call("GET", f"/api/v1/commands/{command_id}", tenant="globex").json()["state"] == "acked":
            break
        time.sleep(0.02)
    pending = _pending(rig, "b", tenant="globex")
    rig.call("POST", "/api/v1/killswitch", tenant="globex", json={"scope": "b-room", "reason": CANARY})
    _ml_model(rig, "b", tenant="globex", note=CANARY)
    alarm_id = _alarm(rig, "b", tenant="globex", message=CANARY)
    order_id = _work_order(rig, "b", tenant="globex", title=CANARY)
    fmu_id = _fmu(rig, "b", tenant="globex", name=CANARY)
    route_id, dead_letter = _dead_letter(rig, "b", tenant="globex", name=CANARY)
    _setpoints(rig, "globex")  # the loops of setpoints.yaml are globex's now: for acme there are none
    _proposal(rig, "hall", "2024-05-01T12:00:00Z", tenant="globex", reasons=[CANARY])
    rig.call("POST", "/api/v1/setpoint-loops/hall/disable", tenant="globex", json={"reason": CANARY})
    return {"token_id": token.id, "alarm_id": alarm_id, "rul_job": _rul_job(rig, "globex"), "work_order": order_id,
            "fmu": fmu_id, "route": route_id, "dead_letter": dead_letter, "pending": pending,
            "state": _b_state(rig)}


def _b_state(rig: ApiRig) -> Any:
    out = {}
    for path in ("/api/v1/twins/b-room", "/api/v1/twins/b-floor", "/api/v1/twins/b-floor/relationships/b-rel",
                 "/api/v1/models/dtmi:globex:Secret;1", "/api/v1/commands/c-b", "/api/v1/twins/dev-b/commands"):
        r = rig.call("GET", path, tenant="globex")
        assert r.status_code == 200
        out[path] = r.json()
    out["alarms"] = rig.call("GET", "/api/v1/alarms", tenant="globex").json()
    out["approvals"] = rig.call("GET", "/api/v1/approvals", tenant="globex").json()
    out["kill_switches"] = rig.call("GET", "/api/v1/killswitch", tenant="globex").json()
    out["audit_head"] = rig.call("GET", "/api/v1/audit/verify", tenant="globex").json()
    out["work_orders"] = rig.call("GET", "/api/v1/work-orders", tenant="globex").json()
    out["work_order_mode"] = rig.call("GET", "/api/v1/work-order-policy", tenant="globex").json()["mode"]
    out["ml"] = rig.call("GET", "/api/v1/ml/models/m-b/versions", tenant="globex").json()
    out["fmus"] = rig.call("GET", "/api/v1/fmus", tenant="globex").json()
    out["event_routes"] = rig.call("GET", "/api/v1/event-routes", tenant="globex").json()
    routes = out["event_routes"]["value"]
    out["deliveries"] = [rig.call("GET", f"/api/v1/event-routes/{r['id']}/deliveries", tenant="globex").json()
                         for r in routes]
    out["setpoint_loops"] = rig.call("GET", "/api/v1/setpoint-loops", tenant="globex").json()
    out["setpoint_proposals"] = rig.call("GET", "/api/v1/setpoint-loops/hall/proposals", tenant="globex").json()
    return out


def test_tenant_isolation_matrix(shared_rig: ApiRig) -> None:
    rig = shared_rig
    seeded = _seed_b(rig)
    patch = [{"op": "replace", "path": "/temperature", "value": 99.0}]
    rel_patch = [{"op": "replace", "path": "/since", "value": "x"}]
    attempts: list[tuple[str, str, Any]] = [
        ("GET", "/api/v1/twins/b-room", None),
        ("PATCH", "/api/v1/twins/b-room", patch),
        ("DELETE", "/api/v1/twins/b-room", None),
        ("GET", "/api/v1/twins/b-floor/relationships", None),
        ("GET", "/api/v1/twins/b-room/incomingrelationships", None),
        ("GET", "/api/v1/twins/b-room/physics", None),
        ("GET", "/api/v1/twins/b-room/insights", None),
        ("GET", "/api/v1/twins/b-floor/relationships/b-rel", None),
        ("PUT", "/api/v1/twins/b-floor/relationships/b-rel", {"$targetId": "b-room", "$relationshipName": "contains"}),
        ("PATCH", "/api/v1/twins/b-floor/relationships/b-rel", rel_patch),
        ("DELETE", "/api/v1/twins/b-floor/relationships/b-rel", None),
        ("GET", "/api/v1/models/dtmi:globex:Secret;1", None),
        ("PATCH", "/api/v1/models/dtmi:globex:Secret;1",
         [{"op": "replace", "path": "/decommissioned", "value": True}]),
        ("DELETE", "/api/v1/models/dtmi:globex:Secret;1", None),
        ("DELETE", f"/api/v1/tokens/{seeded['token_id']}", None),
        ("GET", f"/api/v1/alarms/{seeded['alarm_id']}", None),
        ("POST", f"/api/v1/alarms/{seeded['alarm_id']}/ack", {"comment": "x"}),
        ("GET", "/api/v1/ml/models/m-b", None),
        ("GET", "/api/v1/ml/models/m-b/versions", None),
        ("GET", "/api/v1/ml/models/m-b/versions/1", None),
        ("POST", "/api/v1/ml/models/m-b/versions/1/promote", None),
        ("POST", "/api/v1/ml/models/m-b/rollback", None),
        ("POST", "/api/v1/ml/models/m-b/predict", "x"),
        ("GET", f"/api/v1/ml/rul/jobs/{seeded['rul_job']}", None),
        ("GET", "/api/v1/commands/c-b", None),
        ("GET", "/api/v1/twins/dev-b/commands", None),
        ("POST", "/api/v1/twins/dev-b/commands/ping", "x"),
        ("POST", "/api/v1/commands/p-b/approve", {"digest": seeded["pending"]["digest"]}),
        ("POST", "/api/v1/commands/p-b/reject", {"reason": "x"}),
        ("DELETE", "/api/v1/killswitch?scope=b-room", None),
        ("POST", "/api/v1/killswitch", {"scope": "b-room"}),
        ("GET", f"/api/v1/work-orders/{seeded['work_order']}", None),
        ("POST", f"/api/v1/work-orders/{seeded['work_order']}/complete", {"comment": "x"}),
        ("POST", f"/api/v1/work-orders/{seeded['work_order']}/cancel", None),
        ("GET", f"/api/v1/fmus/{seeded['fmu']}", None),
        ("POST", f"/api/v1/fmus/{seeded['fmu']}/simulations", {}),
        ("POST", f"/api/v1/fmus/{seeded['fmu']}/ensembles", {"vary": {"UA": {"dist": "normal", "mean": 1, "sd": 1}}}),
        ("POST", f"/api/v1/fmus/{seeded['fmu']}/calibrations",
         {"time": [0, 1, 2], "outputs": {"T": [1, 2, 3]}, "fit": {"UA": [1, 2]}}),
        ("POST", f"/api/v1/fmus/{seeded['fmu']}/residuals", {"time": [0, 1, 2], "outputs": {"T": [1, 2, 3]}}),
        ("DELETE", f"/api/v1/fmus/{seeded['fmu']}", None),
        ("GET", f"/api/v1/event-routes/{seeded['route']}", None),
        ("PATCH", f"/api/v1/event-routes/{seeded['route']}", {"enabled": True}),
        ("PATCH", f"/api/v1/event-routes/{seeded['route']}", {"url": "http://127.0.0.1:9/stolen"}),
        ("DELETE", f"/api/v1/event-routes/{seeded['route']}", None),
        ("POST", f"/api/v1/event-routes/{seeded['route']}/test", None),
        ("POST", f"/api/v1/event-routes/{seeded['route']}/rotate-secret", None),
        ("GET", f"/api/v1/event-routes/{seeded['route']}/deliveries", None),
        ("POST", f"/api/v1/event-routes/{seeded['route']}/deliveries/{seeded['dead_letter']}/redeliver", None),
        ("GET", "/api/v1/setpoint-loops/hall", None),
        ("GET", "/api/v1/setpoint-loops/hall/proposals", None),
        ("POST", "/api/v1/setpoint-loops/hall/enable", None),
        ("POST", "/api/v1/setpoint-loops/hall/disable", {"reason": "x"}),
        ("POST", "/api/v1/setpoint-loops/office/disable", None),  # 404 before the 409 of a recommend loop
    ]
    for method, path, body in attempts:
        r = rig.call(method, path, tenant="acme", role=Role.ADMIN, json=body)
        assert r.status_code == 404, (method, path, r.status_code, r.text)
        assert CANARY not in r.text
    # Listings and queries in A never show B's data.
    for method, path, body in [("GET", "/api/v1/twins", None), ("GET", "/api/v1/models", None),
                               ("GET", "/api/v1/tokens", None), ("GET", "/api/v1/ml/models", None),
                               ("GET", "/api/v1/alarms", None), ("GET", "/api/v1/work-orders", None),
                               ("GET", "/api/v1/fmus", None), ("GET", "/api/v1/event-routes", None),
                               ("GET", "/api/v1/approvals", None), ("GET", "/api/v1/killswitch", None),
                               ("GET", "/api/v1/setpoint-loops", None),
                               ("GET", "/api/v1/audit?limit=1000", None),
                               ("POST", "/api/v1/query", {"query": "SELECT * FROM DIGITALTWINS"})]:
        r = rig.call(method, path, tenant="acme", json=body)
        assert r.status_code == 200 and CANARY not in r.text and "b-room" not in r.text
    assert seeded["rul_job"] not in rig.call("GET", "/api/v1/ml/rul/jobs", tenant="acme").text
    assert rig.call("GET", "/api/v1/setpoint-loops", tenant="acme").json() == {"value": []}  # not even their names
    assert rig.call("PUT", "/api/v1/work-order-policy/mode", tenant="acme", json={"mode": "off"}).status_code == 200
    # A work order on B's twin: the twin does not exist for A (the same answer as for any unknown twin).
    r = rig.call("POST", "/api/v1/work-orders", tenant="acme", json={"twinId": "wo-b", "title": "x"})
    assert r.status_code == 422 and r.json()["problems"][0]["where"] == "twinId" and CANARY not in r.text
    assert _b_state(rig) == seeded["state"]  # 0 state changes on B
    with rig.platform.store.read() as tx:
        assert all(CANARY not in json.dumps(e.event.data) for e in tx.events.list("acme", limit=10_000))
