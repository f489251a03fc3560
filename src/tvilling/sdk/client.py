"""Sync ``Client`` and async ``AsyncClient`` over httpx, sharing one set of operation definitions.

Each operation builds a ``Call`` (method, path, params, body, expected decoding); the two clients differ only in
how they send it, so the API surface cannot drift between them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote

import httpx

from tvilling.core.errors import (
    AuthenticationError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    PreconditionFailedError,
    Problem,
    QuerySyntaxError,
    TvillingError,
    UnavailableError,
    ValidationError,
)
from tvilling.settings import ClientSettings

_BY_STATUS: dict[int, type[TvillingError]] = {
    400: QuerySyntaxError, 401: AuthenticationError, 403: PermissionDeniedError, 404: NotFoundError,
    409: ConflictError, 412: PreconditionFailedError, 413: ValidationError, 422: ValidationError,
    503: UnavailableError,
}


class ApiError(TvillingError):
    """An HTTP error without a more specific type (e.g. 500, 501); ``extra['status']`` holds the code."""


@dataclass
class Call:
    method: str
    path: str
    params: dict[str, Any] = field(default_factory=dict)
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    empty: bool = False  # 204: nothing to decode
    content: bytes | None = None  # a raw body (a data file) instead of JSON

    def request_args(self) -> dict[str, Any]:
        """Keyword arguments of ``httpx`` ``request`` for this call."""
        args: dict[str, Any] = {"params": self.params or None, "headers": self.headers or None}
        if self.content is not None:
            args["content"] = self.content
        elif self.body is not None:
            args["json"] = self.body
        return args


def _seg(value: str) -> str:
    return quote(value, safe="")


def error_from(response: httpx.Response) -> TvillingError:
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    problems = [Problem(message=str(p.get("message", "")), where=str(p.get("where") or ""),
                        hint=str(p.get("hint") or "")) for p in body.get("problems", []) if isinstance(p, dict)]
    cls = _BY_STATUS.get(response.status_code, ApiError)
    message = str(body.get("detail") or body.get("title") or f"HTTP {response.status_code}")
    where = problems[0].where if problems else ""
    if where and message.endswith(f" (at {where})"):  # request validation puts it in the detail too: say it once
        message = message[: -len(f" (at {where})")]
    return cls(message, where=where, hint=str(body.get("hint") or ""), problems=problems,
               extra={"status": response.status_code})


def _decode(call: Call, response: httpx.Response) -> Any:
    if response.status_code >= 400:
        raise error_from(response)
    if call.empty or response.status_code == 204:
        return None
    return response.json()


def _ifmatch(etag: str | None) -> dict[str, str]:
    return {"If-Match": etag} if etag else {}


class _Operations:
    """Operation definitions; ``_send`` is provided by the sync/async subclasses."""

    def _send(self, call: Call) -> Any:  # pragma: no cover - overridden
        raise NotImplementedError

    # models
    def upload_models(self, documents: Sequence[Any]) -> Any:
        return self._send(Call("POST", "/api/v1/models", body=list(documents)))

    def list_models(self, *, include_definition: bool = False, continuation: str | None = None) -> Any:
        params: dict[str, Any] = {"includeModelDefinition": str(include_definition).lower()}
        if continuation:
            params["continuationToken"] = continuation
        return self._send(Call("GET", "/api/v1/models", params=params))

    def get_model(self, model_id: str) -> Any:
        return self._send(Call("GET", f"/api/v1/models/{_seg(model_id)}"))

    def decommission_model(self, model_id: str) -> Any:
        return self._send(Call("PATCH", f"/api/v1/models/{_seg(model_id)}", empty=True,
                               body=[{"op": "replace", "path": "/decommissioned", "value": True}]))

    def delete_model(self, model_id: str) -> Any:
        return self._send(Call("DELETE", f"/api/v1/models/{_seg(model_id)}", empty=True))

    # twins
    def get_twin(self, twin_id: str) -> Any:
        return self._send(Call("GET", f"/api/v1/twins/{_seg(twin_id)}"))

    def list_twins_page(self, *, model: str | None = None, continuation: str | None = None,
                        page_size: int | None = None) -> Any:
        params = {k: v for k, v in {"model": model, "continuationToken": continuation,
                                    "maxItemsPerPage": page_size}.items() if v is not None}
        return self._send(Call("GET", "/api/v1/twins", params=params))

    def create_twin(self, twin_id: str, twin: dict[str, Any], *, replace: bool = False,
                    etag: str | None = None) -> Any:
        headers = _ifmatch(etag) if replace else {"If-None-Match": "*"}
        return self._send(Call("PUT", f"/api/v1/twins/{_seg(twin_id)}", body=twin, headers=headers))

    def replace_twin(self, twin_id: str, twin: dict[str, Any], *, etag: str | None = None) -> Any:
        return self.create_twin(twin_id, twin, replace=True, etag=etag)

    def patch_twin(self, twin_id: str, patch: list[dict[str, Any]], *, etag: str | None = None) -> Any:
        return self._send(Call("PATCH", f"/api/v1/twins/{_seg(twin_id)}", body=patch,
                               headers={"Content-Type": "application/json-patch+json", **_ifmatch(etag)}))

    def delete_twin(self, twin_id: str, *, etag: str | None = None) -> Any:
        return self._send(Call("DELETE", f"/api/v1/twins/{_seg(twin_id)}", headers=_ifmatch(etag), empty=True))

    # relationships
    def get_relationship(self, twin_id: str, rel_id: str) -> Any:
        return self._send(Call("GET", f"/api/v1/twins/{_seg(twin_id)}/relationships/{_seg(rel_id)}"))

    def list_relationships_page(self, twin_id: str, *, name: str | None = None,
                                continuation: str | None = None) -> Any:
        params = {k: v for k, v in {"relationshipName": name, "continuationToken": continuation}.items() if v}
        return self._send(Call("GET", f"/api/v1/twins/{_seg(twin_id)}/relationships", params=params))

    def list_incoming_page(self, twin_id: str, *, continuation: str | None = None) -> Any:
        params = {"continuationToken": continuation} if continuation else {}
        return self._send(Call("GET", f"/api/v1/twins/{_seg(twin_id)}/incomingrelationships", params=params))

    def create_relationship(self, twin_id: str, rel_id: str, target_id: str, name: str,
                            properties: dict[str, Any] | None = None, *, replace: bool = False,
                            etag: str | None = None) -> Any:
        body = {"$targetId": target_id, "$relationshipName": name, **(properties or {})}
        headers = _ifmatch(etag) if replace else {"If-None-Match": "*"}
        return self._send(Call("PUT", f"/api/v1/twins/{_seg(twin_id)}/relationships/{_seg(rel_id)}", body=body,
                               headers=headers))

    def patch_relationship(self, twin_id: str, rel_id: str, patch: list[dict[str, Any]], *,
                           etag: str | None = None) -> Any:
        return self._send(Call("PATCH", f"/api/v1/twins/{_seg(twin_id)}/relationships/{_seg(rel_id)}", body=patch,
                               headers={"Content-Type": "application/json-patch+json", **_ifmatch(etag)}))

    def delete_relationship(self, twin_id: str, rel_id: str, *, etag: str | None = None) -> Any:
        return self._send(Call("DELETE", f"/api/v1/twins/{_seg(twin_id)}/relationships/{_seg(rel_id)}",
                               headers=_ifmatch(etag), empty=True))

    # query, tokens, health
    def query_page(self, query: str, *, continuation: str | None = None, page_size: int | None = None) -> Any:
        body: dict[str, Any] = {"query": query}
        if continuation:
            body["continuationToken"] = continuation
        if page_size:
            body["maxItemsPerPage"] = page_size
        return self._send(Call("POST", "/api/v1/query", body=body))

    def create_token(self, role: str, name: str = "") -> Any:
        return self._send(Call("POST", "/api/v1/tokens", body={"role": role, "name": name}))

    def health(self) -> Any:
        return self._send(Call("GET", "/health"))

    # commands (docs/commands.md): 202 with the command; follow get_command for acked / failed / expired
    def send_telemetry(self, readings: Sequence[dict[str, Any]]) -> Any:
        """Ingest readings ``[{"twinId", "name", "sourceTime" (ISO 8601), "value"}, …]`` (operator role); the answer
        counts what was accepted, flagged and quarantined. Each request is one commit, whose ``twin.telemetry``
        event carries each property's latest value."""
        return self._send(Call("POST", "/api/v1/telemetry", body={"readings": list(readings)}))

    def send_command(self, twin_id: str, name: str, payload: Any = None, *, command_id: str | None = None,
                     timeout_s: float | None = None) -> Any:
        params = {k: v for k, v in {"commandId": command_id, "timeout": timeout_s}.items() if v is not None}
        return self._send(Call("POST", f"/api/v1/twins/{_seg(twin_id)}/commands/{_seg(name)}", params=params,
                               body=payload))

    def get_command(self, command_id: str) -> Any:
        return self._send(Call("GET", f"/api/v1/commands/{_seg(command_id)}"))

    def list_commands_page(self, twin_id: str, *, continuation: str | None = None,
                           page_size: int | None = None) -> Any:
        params = {k: v for k, v in {"continuationToken": continuation, "maxItemsPerPage": page_size}.items()
                  if v is not None}
        return self._send(Call("GET", f"/api/v1/twins/{_seg(twin_id)}/commands", params=params))

    # guarded commands (docs/commands.md, "Guards"): engineers approve or reject (never their own request); an
    # operator engages a kill switch, an engineer releases it and reads the hash-chained audit trail
    def approve_command(self, command_id: str, digest: str) -> Any:
        """Approve a command that waits for approval. ``digest`` is the one shown with the command
        (:meth:`get_command`): the approval is bound to exactly that request. The last approval needed dispatches
        it; the answer is the command. The requester cannot approve their own command (403)."""
        return self._send(Call("POST", f"/api/v1/commands/{_seg(command_id)}/approve", body={"digest": digest}))

    def reject_command(self, command_id: str, reason: str = "") -> Any:
        """Reject a command that waits for approval; returns it (state ``rejected``)."""
        return self._send(Call("POST", f"/api/v1/commands/{_seg(command_id)}/reject", body={"reason": reason}))

    def pending_approvals(self, limit: int = 200) -> Any:
        """Commands waiting for approval, oldest first: ``{"value": [command, ...]}``."""
        return self._send(Call("GET", "/api/v1/approvals", params={"limit": limit}))

    def kill_switches(self) -> Any:
        """The engaged kill switches: ``{"value": [{"scope", "engagedAt", "actor", "reason"}, ...]}``."""
        return self._send(Call("GET", "/api/v1/killswitch"))

    def engage_kill_switch(self, scope: str = "*", reason: str = "") -> Any:
        """Refuse new commands for ``scope`` ("*": the whole tenant, or a twin id) and cancel those not yet sent;
        returns the switch with the number ``canceled``."""
        return self._send(Call("POST", "/api/v1/killswitch", body={"scope": scope, "reason": reason}))

    def release_kill_switch(self, scope: str = "*", reason: str = "") -> Any:
        """Release the kill switch of ``scope`` (engineer); NotFoundError when none is engaged there."""
        return self._send(Call("DELETE", "/api/v1/killswitch", params={"scope": scope, "reason": reason}))

    def audit(self, before: int = 0, limit: int = 100, subject: str | None = None,
              category: str | None = None) -> Any:
        """One page of the audit trail, newest first: ``{"value": [record, ...], "nextBefore": n | None}``; pass
        ``nextBefore`` back as ``before`` for the next (older) page."""
        params = {k: v for k, v in {"before": before, "limit": limit, "subject": subject,
                                    "category": category}.items() if v is not None}
        return self._send(Call("GET", "/api/v1/audit", params=params))

    def verify_audit(self) -> Any:
        """Recompute the tenant's audit hash chain: ``{"ok", "records", "headN", "headHash"}``, and when it does
        not verify ``firstBad`` (the first broken record) and ``reason``."""
        return self._send(Call("GET", "/api/v1/audit/verify"))

    # setpoint loops (setpoints.yaml): viewers read; an operator disables a loop's autonomy, an engineer enables it
    def setpoint_loops(self) -> Any:
        """The tenant's setpoint loops: twin, mode, band, ``autonomy`` (auto loops: enabled, why it is off, since
        when, by whom) and the ``last`` proposal."""
        return self._send(Call("GET", "/api/v1/setpoint-loops"))

    def setpoint_loop(self, name: str) -> Any:
        return self._send(Call("GET", f"/api/v1/setpoint-loops/{_seg(name)}"))

    def setpoint_proposals(self, name: str, *, limit: int = 50, before: str | None = None) -> Any:
        """A loop's proposals, newest first, one page; pass the answer's ``nextBefore`` as ``before`` for the
        next (``None``: there is no more)."""
        params: dict[str, Any] = {"limit": limit}
        if before is not None:
            params["before"] = before
        return self._send(Call("GET", f"/api/v1/setpoint-loops/{_seg(name)}/proposals", params=params))

    def enable_setpoint_loop(self, name: str) -> Any:
        """Let an auto loop send its setpoints by itself (engineer); a recommend or approve loop is a conflict."""
        return self._send(Call("POST", f"/api/v1/setpoint-loops/{_seg(name)}/enable"))

    def disable_setpoint_loop(self, name: str, reason: str = "") -> Any:
        """Stop a loop's autonomy (operator): it goes on proposing and sends nothing by itself."""
        return self._send(Call("POST", f"/api/v1/setpoint-loops/{_seg(name)}/disable", body={"reason": reason}))

    # alarms
    def list_alarms(self, *, state: Sequence[str] | None = None, twin: str | None = None,
                    severity: str | None = None, limit: int = 100) -> Any:
        """``state``: active, acknowledged, returned, cleared or open; newest first."""
        params: dict[str, Any] = {"limit": limit}
        if state:
            params["state"] = list(state)
        if twin:
            params["twin"] = twin
        if severity:
            params["severity"] = severity
        return self._send(Call("GET", "/api/v1/alarms", params=params))

    def get_alarm(self, alarm_id: str) -> Any:
        return self._send(Call("GET", f"/api/v1/alarms/{_seg(alarm_id)}"))

    def ack_alarm(self, alarm_id: str, comment: str | None = None) -> Any:
        return self._send(Call("POST", f"/api/v1/alarms/{_seg(alarm_id)}/ack",
                               body={"comment": comment} if comment else {}))

    def list_alarm_rules(self) -> Any:
        return self._send(Call("GET", "/api/v1/alarm-rules"))

    # work orders (docs/work-orders.md): viewers read, operators create and act
    def list_work_orders(self, *, state: str | Sequence[str] | None = None, twin: str | None = None,
                         limit: int = 100) -> Any:
        """``state``: proposed, open, done, rejected, cancelled or live (= proposed and open); newest first."""
        params: dict[str, Any] = {"limit": limit}
        if state:
            params["state"] = [state] if isinstance(state, str) else list(state)
        if twin:
            params["twin"] = twin
        return self._send(Call("GET", "/api/v1/work-orders", params=params))

    def get_work_order(self, order_id: str) -> Any:
        """The work order with its evidence and ``transitions`` (created, approved, completed, ...)."""
        return self._send(Call("GET", f"/api/v1/work-orders/{_seg(order_id)}"))

    def create_work_order(self, twin_id: str, title: str, *, priority: str = "medium", description: str = "",
                          due_by: str | None = None) -> Any:
        """A work order made by hand: released (``open``) at once. ``due_by``: ISO time with a zone."""
        body: dict[str, Any] = {"twinId": twin_id, "title": title, "priority": priority, "description": description}
        if due_by is not None:
            body["dueBy"] = due_by
        return self._send(Call("POST", "/api/v1/work-orders", body=body))

    def act_on_work_order(self, order_id: str, action: str, comment: str | None = None) -> Any:
        """``action``: approve, reject (a proposed one), complete (an open one) or cancel (a live one)."""
        return self._send(Call("POST", f"/api/v1/work-orders/{_seg(order_id)}/{_seg(action)}",
                               body={"comment": comment} if comment else {}))

    def get_work_order_policy(self) -> Any:
        return self._send(Call("GET", "/api/v1/work-order-policy"))

    def set_work_order_mode(self, mode: str, comment: str | None = None) -> Any:
        """Cap the tenant's work-order mode at run time: ``off`` (the kill switch), ``approve`` or ``auto``.
        Operators may lower it, raising it needs engineer. Returns the policy view (as ``get_work_order_policy``)."""
        return self._send(Call("PUT", "/api/v1/work-order-policy/mode", body={"mode": mode, "comment": comment}))

    # model registry (ML artifacts)
    def list_ml_models(self) -> Any:
        return self._send(Call("GET", "/api/v1/ml/models"))

    def get_ml_model(self, name: str) -> Any:
        return self._send(Call("GET", f"/api/v1/ml/models/{_seg(name)}"))

    def list_ml_model_versions(self, name: str) -> Any:
        return self._send(Call("GET", f"/api/v1/ml/models/{_seg(name)}/versions"))

    def get_ml_model_version(self, name: str, version: int) -> Any:
        return self._send(Call("GET", f"/api/v1/ml/models/{_seg(name)}/versions/{int(version)}"))

    def promote_ml_model(self, name: str, version: int) -> Any:
        return self._send(Call("POST", f"/api/v1/ml/models/{_seg(name)}/versions/{int(version)}/promote"))

    def rollback_ml_model(self, name: str) -> Any:
        return self._send(Call("POST", f"/api/v1/ml/models/{_seg(name)}/rollback"))

    # fleet RUL models: training jobs and estimates (bodies are history files: CSV, or C-MAPSS text)
    def submit_rul_job(self, name: str, histories: bytes, *, format: str = "csv", sep: str = ",",
                       unit_col: str = "unit", time_col: str = "cycle", settings: Sequence[str] | None = None,
                       exclude: Sequence[str] = (), horizon: float = 150.0, level: float = 0.8, folds: int = 5,
                       promote: bool = False) -> Any:
        params: dict[str, Any] = {"name": name, "format": format, "sep": sep, "unitCol": unit_col,
                                  "timeCol": time_col, "exclude": ",".join(exclude), "horizon": horizon,
                                  "level": level, "folds": folds, "promote": str(promote).lower()}
        if settings is not None:
            params["settings"] = ",".join(settings)
        return self._send(Call("POST", "/api/v1/ml/rul/jobs", params=params, content=histories,
                               headers={"Content-Type": "text/csv"}))

    def list_rul_jobs(self) -> Any:
        return self._send(Call("GET", "/api/v1/ml/rul/jobs"))

    def get_rul_job(self, job_id: str) -> Any:
        return self._send(Call("GET", f"/api/v1/ml/rul/jobs/{_seg(job_id)}"))

    def predict_rul(self, name: str, histories: bytes, *, within: float = 30.0, version: int | None = None,
                    every_row: bool = False, format: str = "csv", sep: str = ",") -> Any:
        params: dict[str, Any] = {"within": within, "everyRow": str(every_row).lower(), "format": format, "sep": sep}
        if version is not None:
            params["version"] = int(version)
        return self._send(Call("POST", f"/api/v1/ml/models/{_seg(name)}/predict", params=params,
                               content=histories, headers={"Content-Type": "text/csv"}))


    # history and insights (docs/ingestion.md, docs/predictive.md): viewers read
    def history(self, twin_id: str, name: str, *, start: str | None = None, end: str | None = None,
                bucket: str | None = None, agg: Sequence[str] | None = None, limit: int = 10_000) -> Any:
        """One property's history: raw samples (``items`` of {t, value, quality}), or with ``bucket`` ("60", "1m",
        "1h", "1d") aggregates per bucket (``agg``: min, max, mean, last, count). Times are ISO 8601 (default: the
        last hour)."""
        params: dict[str, Any] = {"limit": limit}
        for key, value in (("start", start), ("end", end), ("bucket", bucket)):
            if value is not None:
                params[key] = value
        if agg:
            params["agg"] = ",".join(agg)
        return self._send(Call("GET", f"/api/v1/twins/{_seg(twin_id)}/history/{_seg(name)}", params=params))

    def explain(self, twin_id: str, name: str, *, start: str | None = None, end: str | None = None,
                reference_start: str | None = None, reference_end: str | None = None, hops: int = 2,
                bucket: int | None = None, direction: Literal["down", "up", "any"] = "any", top: int = 10) -> Any:
        """Why did this property change between ``start`` and ``end`` (ISO 8601 with a zone; default: the last
        hour)? Against a reference window (both or neither; default: as long, right before), the signals of the
        twins up to ``hops`` relationships away ranked by how well they account for it: ``changed``, ``target``
        (reference, during, since), ``contributors`` (change, z, timing, correlation, kind, path, score), the
        ``events`` on those twins meanwhile (commands, alarms, work orders) and ``notes``. ``bucket``: seconds
        (60, 300, 900, 3600, 21600, 86400; default: the smallest that fits); ``direction``: down, up or any."""
        params: dict[str, Any] = {"hops": hops, "direction": direction, "top": top}
        for key, value in (("start", start), ("end", end), ("referenceStart", reference_start),
                           ("referenceEnd", reference_end), ("bucket", bucket)):
            if value is not None:
                params[key] = value
        return self._send(Call("GET", f"/api/v1/twins/{_seg(twin_id)}/explain/{_seg(name)}", params=params))

    def impact(self, twin_id: str, *, also: Sequence[str] = ()) -> Any:
        """If this twin stops (impact.yaml, docs/impact.md) — with the ``also`` twins (at most 20) at the same time:
        ``costPerHour`` of it all, ``repairHours`` (the longest repair), ``warnings`` and the ``affected`` twins,
        each with ``effect`` (stops or slows), ``afterMin``, ``hops``, the relationship ``path``, its own
        ``costPerHour`` and, where a k-of-n rule (``need``) stopped it, ``with`` (the other stopped sources)."""
        params = {"also": list(also)} if also else {}
        return self._send(Call("GET", f"/api/v1/twins/{_seg(twin_id)}/impact", params=params))

    def impact_risks(self, *, limit: int = 50) -> Any:
        """Twins with a live RUL estimate, costliest likely failure first: ``pFailure`` within ``horizonHours``,
        ``rulHours``, ``costPerHour`` of the cascade, ``repairHours``, ``expectedCost`` (their product) and what it
        ``stops``. Returns ``value`` and ``count`` (all ranked, before ``limit``)."""
        return self._send(Call("GET", "/api/v1/impact/risks", params={"limit": limit}))

    def twin_physics(self, twin_id: str) -> Any:
        """The twin's coupled physics model (physics.yaml): ``coupled``, its ``coupling`` settings and the ``live``
        state — phase, model time, expected vs measured per output, open episode, last error."""
        return self._send(Call("GET", f"/api/v1/twins/{_seg(twin_id)}/physics"))

    def maintenance_plan(self, *, alternatives: int = 3) -> Any:
        """The site's live maintenance plan (planning.yaml and the twins' latest RUL estimates): ``plan`` with each
        task's day, P(failure before), expected costs and ``alternatives`` cheapest other days; ``notPlanned``."""
        return self._send(Call("GET", "/api/v1/maintenance/plan", params={"alternatives": alternatives}))

    def plan_maintenance(self, document: dict[str, Any], *, alternatives: int = 3) -> Any:
        """Plan a planning document (docs/maintenance-planning.md) — a what-if; nothing is stored."""
        return self._send(Call("POST", "/api/v1/maintenance/plan", params={"alternatives": alternatives},
                               body=document))

    def list_insights(self, *, twin: str | None = None, kind: str | None = None, limit: int = 100) -> Any:
        """Insights of the predictive layer (kind: anomaly, cleared or rul), newest first."""
        params: dict[str, Any] = {"limit": limit}
        if twin is not None:
            params["twin"] = twin
        if kind is not None:
            params["kind"] = kind
        return self._send(Call("GET", "/api/v1/insights", params=params))

    # event routes (docs/integrations.md): viewers read; operators pause, resume, test, redeliver; engineers the rest
    def list_event_routes(self) -> Any:
        """The tenant's routes, each with ``status`` (cursor, last success, last error, backlog, dead letters)."""
        return self._send(Call("GET", "/api/v1/event-routes"))

    def get_event_route(self, route_id: str) -> Any:
        return self._send(Call("GET", f"/api/v1/event-routes/{_seg(route_id)}"))

    def create_event_route(self, name: str, url: str, *, kinds: Sequence[str] | None = None,
                           twins: Sequence[str] | None = None, models: Sequence[str] | None = None,
                           enabled: bool = True, start: str = "now") -> Any:
        """A route; the answer's ``secret`` (``whsec_…``) signs its deliveries and is shown only now.
        ``start="beginning"`` replays the whole event log first."""
        flt = {k: list(v) for k, v in (("kinds", kinds), ("twins", twins), ("models", models)) if v}
        return self._send(Call("POST", "/api/v1/event-routes", body={"name": name, "url": url, "filter": flt,
                                                                     "enabled": enabled, "start": start}))

    def update_event_route(self, route_id: str, **changes: Any) -> Any:
        """``name``, ``url``, ``filter`` ({"kinds", "twins", "models"}) or ``enabled`` (pause / resume)."""
        return self._send(Call("PATCH", f"/api/v1/event-routes/{_seg(route_id)}", body=changes))

    def pause_event_route(self, route_id: str) -> Any:
        return self.update_event_route(route_id, enabled=False)

    def resume_event_route(self, route_id: str) -> Any:
        return self.update_event_route(route_id, enabled=True)

    def delete_event_route(self, route_id: str) -> Any:
        return self._send(Call("DELETE", f"/api/v1/event-routes/{_seg(route_id)}", empty=True))

    def test_event_route(self, route_id: str) -> Any:
        """A signed ping now: ``ok``, the receiver's ``statusCode`` or ``error``, ``latencyMs``."""
        return self._send(Call("POST", f"/api/v1/event-routes/{_seg(route_id)}/test"))

    def rotate_event_route_secret(self, route_id: str) -> Any:
        return self._send(Call("POST", f"/api/v1/event-routes/{_seg(route_id)}/rotate-secret"))

    def list_event_route_deliveries(self, route_id: str, *, status: str | None = None, page_size: int | None = None,
                                    continuation: str | None = None) -> Any:
        """The delivery log, newest first (``status``: pending, delivered, dead or queued), one page."""
        params = {k: v for k, v in {"status": status, "maxItemsPerPage": page_size,
                                    "continuationToken": continuation}.items() if v is not None}
        return self._send(Call("GET", f"/api/v1/event-routes/{_seg(route_id)}/deliveries", params=params))

    def redeliver_event(self, route_id: str, delivery_id: int) -> Any:
        """Queue a dead-lettered delivery again (sent before the route's next event)."""
        return self._send(Call("POST", f"/api/v1/event-routes/{_seg(route_id)}/deliveries/{int(delivery_id)}"
                                       "/redeliver"))

    # the FMU library (docs/physics.md): viewers read, operators simulate, engineers upload and delete
    def list_fmus(self) -> Any:
        return self._send(Call("GET", "/api/v1/fmus"))

    def get_fmu(self, fmu_id: str) -> Any:
        return self._send(Call("GET", f"/api/v1/fmus/{_seg(fmu_id)}"))

    def upload_fmu(self, data: bytes, *, name: str | None = None) -> Any:
        params = {"name": name} if name else {}
        return self._send(Call("POST", "/api/v1/fmus", params=params, content=data,
                               headers={"Content-Type": "application/octet-stream"}))

    def delete_fmu(self, fmu_id: str) -> Any:
        return self._send(Call("DELETE", f"/api/v1/fmus/{_seg(fmu_id)}", empty=True))

    def simulate_fmu(self, fmu_id: str, *, start_time: float | None = None, stop_time: float | None = None,
                     step: float | None = None, values: dict[str, float] | None = None,
                     inputs: dict[str, Any] | None = None, record: Sequence[str] = ()) -> Any:
        """``inputs`` = {"time": [...], "columns": {name: [...]}}; the answer has ``time`` and ``columns``."""
        body: dict[str, Any] = {"values": dict(values or {}), "record": list(record)}
        for key, value in (("startTime", start_time), ("stopTime", stop_time), ("step", step), ("inputs", inputs)):
            if value is not None:
                body[key] = value
        return self._send(Call("POST", f"/api/v1/fmus/{_seg(fmu_id)}/simulations", body=body))

    def calibrate_fmu(self, fmu_id: str, time: Sequence[float], outputs: dict[str, Sequence[float | None]],
                      fit: dict[str, tuple[float, float]], *, inputs: dict[str, Sequence[float]] | None = None,
                      values: dict[str, float] | None = None) -> Any:
        """Fit parameters (``fit`` = {"UA": (100, 2000)}) so the FMU driven by ``inputs`` reproduces the measured
        ``outputs`` at ``time`` (s). The answer has ``values``, 95 % ``intervals``, ``rmseBefore``/``rmseAfter``
        and the fitted ``model`` series."""
        body = {"time": list(time), "outputs": {k: list(v) for k, v in outputs.items()},
                "inputs": {k: list(v) for k, v in (inputs or {}).items()},
                "fit": {k: list(v) for k, v in fit.items()}, "values": dict(values or {})}
        return self._send(Call("POST", f"/api/v1/fmus/{_seg(fmu_id)}/calibrations", body=body))

    def calibrate_fmu_from_history(self, fmu_id: str, twin: str, start: str, fit: dict[str, tuple[float, float]], *,
                                   outputs: dict[str, Any], inputs: dict[str, Any] | None = None,
                                   end: str | None = None, bucket: str = "5m",
                                   values: dict[str, float] | None = None) -> Any:
        """:meth:`calibrate_fmu` on a twin's stored history: ``inputs``/``outputs`` map model variables to twin
        properties ("outdoorTemperature", or {"property": "hvacPower", "scale": 1000} for kW → W); each property's
        mean per ``bucket`` between ``start`` and ``end`` (ISO 8601) is the data."""
        body = {"history": _history(twin, start, end, bucket, inputs, outputs),
                "fit": {k: list(v) for k, v in fit.items()}, "values": dict(values or {})}
        return self._send(Call("POST", f"/api/v1/fmus/{_seg(fmu_id)}/calibrations", body=body))

    def fmu_residuals(self, fmu_id: str, time: Sequence[float], outputs: dict[str, Sequence[float | None]], *,
                      inputs: dict[str, Sequence[float]] | None = None, values: dict[str, float] | None = None,
                      reference_rows: int | None = None) -> Any:
        """Compare the measured ``outputs`` at ``time`` (s) with the FMU driven by ``inputs``: per output the
        ``residual`` series and ``stats``, the control charts' ``score``/``anomalous`` rows and fault ``episodes``;
        the first ``reference_rows`` (default 20 %) are taken as healthy."""
        body: dict[str, Any] = {"time": list(time), "outputs": {k: list(v) for k, v in outputs.items()},
                                "inputs": {k: list(v) for k, v in (inputs or {}).items()},
                                "values": dict(values or {})}
        if reference_rows is not None:
            body["referenceRows"] = reference_rows
        return self._send(Call("POST", f"/api/v1/fmus/{_seg(fmu_id)}/residuals", body=body))

    def fmu_residuals_from_history(self, fmu_id: str, twin: str, start: str, *, outputs: dict[str, Any],
                                   inputs: dict[str, Any] | None = None, end: str | None = None,
                                   bucket: str = "5m", values: dict[str, float] | None = None,
                                   reference_rows: int | None = None) -> Any:
        """:meth:`fmu_residuals` on a twin's stored history (mapped as in :meth:`calibrate_fmu_from_history`);
        the answer's ``timeOrigin`` is the instant of ``time`` 0."""
        body: dict[str, Any] = {"history": _history(twin, start, end, bucket, inputs, outputs),
                                "values": dict(values or {})}
        if reference_rows is not None:
            body["referenceRows"] = reference_rows
        return self._send(Call("POST", f"/api/v1/fmus/{_seg(fmu_id)}/residuals", body=body))

    def fmu_ensemble(self, fmu_id: str, vary: dict[str, dict[str, Any]], *, samples: int = 100, seed: int = 0,
                     limits: dict[str, dict[str, float]] | None = None, stop_time: float | None = None,
                     step: float | None = None, values: dict[str, float] | None = None,
                     record: Sequence[str] = ()) -> Any:
        """Monte Carlo: ``vary`` = {"UA": {"dist": "normal", "mean": 500, "sd": 50}}; ``limits`` =
        {"T": {"above": 25}}. The answer has percentile ``bands``, the ``final`` spread and ``exceedance``."""
        body: dict[str, Any] = {"vary": vary, "samples": samples, "seed": seed, "limits": dict(limits or {}),
                                "values": dict(values or {}), "record": list(record)}
        for key, value in (("stopTime", stop_time), ("step", step)):
            if value is not None:
                body[key] = value
        return self._send(Call("POST", f"/api/v1/fmus/{_seg(fmu_id)}/ensembles", body=body))

def _history(twin: str, start: str, end: str | None, bucket: str, inputs: dict[str, Any] | None,
             outputs: dict[str, Any]) -> dict[str, Any]:
    """The ``history`` source of an FMU request: a twin's stored properties mapped to model variables."""
    history: dict[str, Any] = {"twin": twin, "start": start, "bucket": bucket, "inputs": dict(inputs or {}),
                               "outputs": dict(outputs)}
    if end is not None:
        history["end"] = end
    return history


def _resolve(url: str | None, token: str | None) -> tuple[str, str | None]:
    env = ClientSettings()
    resolved_token = token if token is not None else (env.token.get_secret_value() if env.token else None)
    return (url or env.url).rstrip("/"), resolved_token


def _headers(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


class Client(_Operations):
    """Synchronous client. Use as a context manager or call ``close()``."""

    def __init__(self, url: str | None = None, token: str | None = None, *, timeout_s: float = 30.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        base, tok = _resolve(url, token)
        self._http = httpx.Client(base_url=base, headers=_headers(tok), timeout=timeout_s, transport=transport)

    def _send(self, call: Call) -> Any:
        try:
            response = self._http.request(call.method, call.path, **call.request_args())
        except httpx.TransportError as exc:
            raise UnavailableError(f"cannot reach the server at {self._http.base_url}: {exc}",
                                   hint="is `tvilling serve` running? check --url / TVILLING_URL") from exc
        return _decode(call, response)

    def iter_twins(self, *, model: str | None = None) -> Iterator[dict[str, Any]]:
        continuation: str | None = None
        while True:
            page = self.list_twins_page(model=model, continuation=continuation)
            yield from page["value"]
            continuation = page.get("continuationToken")
            if not continuation:
                return

    def history_frame(self, twin_id: str, name: str, **kwargs: Any) -> Any:
        """:meth:`history` as a pandas DataFrame indexed by time (UTC), one column per field."""
        import pandas as pd

        items = self.history(twin_id, name, **kwargs)["items"]
        frame = pd.DataFrame(items)
        if frame.empty:
            return frame
        return frame.assign(t=pd.to_datetime(frame["t"], utc=True, format="ISO8601")).set_index("t")

    def query(self, query: str, *, limit: int | None = None) -> list[dict[str, Any]]:
        """All rows of a query (following continuation tokens), up to ``limit``."""
        items: list[dict[str, Any]] = []
        continuation: str | None = None
        while True:
            page = self.query_page(query, continuation=continuation)
            items.extend(page["value"])
            continuation = page.get("continuationToken")
            if not continuation or (limit is not None and len(items) >= limit):
                return items[:limit] if limit is not None else items

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncClient(_Operations):
    """Asynchronous client: every operation returns an awaitable."""

    def __init__(self, url: str | None = None, token: str | None = None, *, timeout_s: float = 30.0,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        base, tok = _resolve(url, token)
        self._http = httpx.AsyncClient(base_url=base, headers=_headers(tok), timeout=timeout_s, transport=transport)

    async def _send(self, call: Call) -> Any:
        try:
            response = await self._http.request(call.method, call.path, **call.request_args())
        except httpx.TransportError as exc:
            raise UnavailableError(f"cannot reach the server at {self._http.base_url}: {exc}",
                                   hint="is `tvilling serve` running? check --url / TVILLING_URL") from exc
        return _decode(call, response)

    async def iter_twins(self, *, model: str | None = None) -> AsyncIterator[dict[str, Any]]:
        continuation: str | None = None
        while True:
            page = await self.list_twins_page(model=model, continuation=continuation)
            for item in page["value"]:
                yield item
            continuation = page.get("continuationToken")
            if not continuation:
                return

    async def query(self, query: str, *, limit: int | None = None) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        continuation: str | None = None
        while True:
            page = await self.query_page(query, continuation=continuation)
            items.extend(page["value"])
            continuation = page.get("continuationToken")
            if not continuation or (limit is not None and len(items) >= limit):
                return items[:limit] if limit is not None else items

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
