"""An MCP server whose tools are thin calls to the SDK: an AI assistant reads the plant and acts on work orders.

Guarded commands: the assistant may read the commands that wait for approval (``pending_approvals``) and the
engaged kill switches (``kill_switches``), and may engage a kill switch (``engage_kill_switch``: stopping is the
safe direction). There is deliberately no tool to approve a command or to release a kill switch, whatever the
token's role: the approval is the human check on what an automated requester (this assistant included) asks a
device to do, and releasing a kill switch lets commands reach the plant again; both stay with people (CLI,
dashboard, API). Likewise for setpoint loops: the assistant reads them (``setpoint_loops``) and may stop a loop's
autonomy (``disable_setpoint_loop``), but has no tool to enable it.

Every tool talks to a running Tvilling server with one API token, so the token's role decides what works (the
server enforces it). A ``TvillingError`` becomes a tool error carrying its one-line message; nothing crashes the
session. See docs/mcp.md.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import islice
from typing import Any, Literal, TypeVar

from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from tvilling import __version__
from tvilling.core.errors import TvillingError
from tvilling.sdk import Client

T = TypeVar("T")

INSTRUCTIONS = (
    "Tvilling digital-twin platform. Read twins (list_twins, get_twin, query with the ADT query language), "
    "alarms and maintenance work orders; create and act on work orders when the API token's role allows it "
    "(viewer reads, operator creates/approves/completes). Commands to devices: see which wait for approval "
    "(pending_approvals) and which kill switches are engaged (kill_switches); engage_kill_switch stops commands "
    "(operator). Zone setpoint loops and their proposals: setpoint_loops; disable_setpoint_loop stops a loop sending "
    "setpoints by itself (operator). Why did a signal change between two times: explain_change ranks the related "
    "signals with evidence and lists the commands, alarms and work orders meanwhile. What a twin's failure stops, how "
    "soon and at what cost per hour (or several twins' at once, e.g. both redundant pumps): failure_impact; which "
    "likely failures would cost most: failure_risks. "
    "Approving a command, releasing a kill switch or enabling a loop's autonomy is for people, not for this "
    "assistant. Errors name what is wrong and how to fix it."
)

WorkOrderAction = Literal["approve", "reject", "complete", "cancel"]
Priority = Literal["low", "medium", "high", "urgent"]
Direction = Literal["down", "up", "any"]


def _sdk(call: Callable[[], T]) -> T:
    """Run one SDK call; a platform error becomes a tool error with its one-line message."""
    try:
        return call()
    except TvillingError as exc:
        raise ToolError(" ".join(str(exc).split())) from exc


def _page(items: list[Any]) -> dict[str, Any]:
    """A list as one JSON object (``value``, ``count``), as the CLI prints it, not one content block per item."""
    return {"value": items, "count": len(items)}


def _drop_tracing(server: MCPServer) -> None:
    """No telemetry: the SDK adds an OpenTelemetry middleware (a no-op without an exporter; nothing leaves the
    machine). It is dropped all the same where this SDK version exposes it; its location is provisional in mcp 2.x,
    so a version without it is fine too."""
    try:
        from mcp.server._otel import OpenTelemetryMiddleware
    except ImportError:
        return
    lowlevel = getattr(server, "_lowlevel_server", None)
    middleware = getattr(lowlevel, "middleware", None)
    if isinstance(middleware, list):
        lowlevel.middleware = [m for m in middleware if not isinstance(m, OpenTelemetryMiddleware)]  # type: ignore[union-attr]


def build_server(client: Client) -> MCPServer:
    """The MCP server with its tools bound to ``client``."""
    # WARNING keeps stderr quiet (no line per HTTP request); stdout carries the protocol.
    server: MCPServer = MCPServer("tvilling", instructions=INSTRUCTIONS, version=__version__, log_level="WARNING")
    _drop_tracing(server)

    @server.tool()
    def list_twins(model: str | None = None, limit: int = 100) -> dict[str, Any]:
        """List digital twins, optionally only those of one DTDL model (a DTMI such as 'dtmi:acme:Pump;1'),
        at most ``limit`` of them, as {"value": [twins], "count": n}. Each twin has $dtId, $metadata ($model,
        property timestamps) and its properties."""
        return _page(_sdk(lambda: list(islice(client.iter_twins(model=model), max(limit, 0)))))

    @server.tool()
    def get_twin(twin_id: str) -> dict[str, Any]:
        """One digital twin by id: its model, current property values and their last-update times."""
        return _sdk(lambda: dict(client.get_twin(twin_id)))

    @server.tool()
    def query(adt_query: str, limit: int = 100) -> dict[str, Any]:
        """Run an Azure-Digital-Twins-style query, e.g. "SELECT * FROM DIGITALTWINS T WHERE
        IS_OF_MODEL(T, 'dtmi:acme:Pump;1') AND T.temperature > 80"; relationships with JOIN ... RELATED.
        Returns {"value": [rows], "count": n} with at most ``limit`` rows."""
        return _page(_sdk(lambda: client.query(adt_query, limit=max(limit, 0))))

    @server.tool()
    def list_alarms(state: list[str] | None = None, twin: str | None = None, severity: str | None = None,
                    limit: int = 100) -> dict[str, Any]:
        """Alarms, newest first. ``state``: any of active, acknowledged, returned, cleared, open (default: open);
        ``severity``: critical, major, minor or warning; ``twin``: only this twin's alarms.
        Returns {"value": [alarms], "count": n}."""
        return _page(_sdk(lambda: list(client.list_alarms(state=state or ["open"], twin=twin, severity=severity,
                                                          limit=limit)["value"])))

    @server.tool()
    def list_work_orders(state: str | None = None, twin: str | None = None,
                         limit: int = 100) -> dict[str, Any]:
        """Maintenance work orders, newest first. ``state``: proposed, open, done, rejected, cancelled or live
        (= proposed and open); ``twin``: only this twin's work orders. Returns {"value": [orders], "count": n}."""
        return _page(_sdk(lambda: list(client.list_work_orders(state=state, twin=twin, limit=limit)["value"])))

    @server.tool()
    def get_work_order(order_id: str) -> dict[str, Any]:
        """One work order with its evidence (the insight that raised it, if any) and its transitions
        (created, approved, completed, ...: who, when, comment)."""
        return _sdk(lambda: dict(client.get_work_order(order_id)))

    @server.tool()
    def create_work_order(twin_id: str, title: str, priority: Priority = "medium",
                          description: str = "") -> dict[str, Any]:
        """Create a work order by hand for a twin; it is released (state open) at once. Needs a token with the
        operator role or higher."""
        return _sdk(lambda: dict(client.create_work_order(twin_id, title, priority=priority,
                                                          description=description)))

    @server.tool()
    def act_on_work_order(order_id: str, action: WorkOrderAction, comment: str | None = None) -> dict[str, Any]:
        """Move a work order on: approve or reject a proposed one, complete an open one, cancel a live one.
        Needs the operator role or higher; returns the work order after the transition."""
        return _sdk(lambda: dict(client.act_on_work_order(order_id, action, comment)))

    @server.tool()
    def work_order_policy() -> dict[str, Any]:
        """The tenant's work-order policy: the mode (off, approve or auto), the rules that raise work orders
        from predictive insights, and the guardrails that limit them."""
        return _sdk(lambda: dict(client.get_work_order_policy()))

    @server.tool()
    def list_event_routes() -> dict[str, Any]:
        """The tenant's event routes (outbound webhooks to outside systems such as a CMMS), read-only: name, target
        URL, which events (kinds, twins, models), state (active, failing, paused) and delivery status (last
        success, last error, backlog of events not yet delivered, dead letters)."""
        return _page(_sdk(lambda: list(client.list_event_routes()["value"])))

    # Guarded commands. Read-only tools and the stop button only: NO approve_command and NO release_kill_switch
    # tool, on purpose. An AI agent must not approve commands (the two-person rule is a human check on what
    # automation, this assistant included, sends to devices) nor release a kill switch (that lets commands reach
    # the plant again); people do both through the CLI, the dashboard or the API.
    @server.tool()
    def pending_approvals(limit: int = 50) -> dict[str, Any]:
        """Commands to devices that wait for people to approve them, oldest first: twin, command, payload,
        requester (context.actor), approvals so far and approvalsRequired, and when the wait expires. Read-only:
        approving is for people (tvilling commands approve), not for this assistant. Returns
        {"value": [commands], "count": n}."""
        return _page(_sdk(lambda: list(client.pending_approvals(limit=max(1, min(limit, 1000)))["value"])))

    @server.tool()
    def kill_switches() -> dict[str, Any]:
        """The engaged kill switches for commands: scope ("*" = the whole tenant, or a twin id), since when, by whom
        and why. While one is engaged, commands in its scope are refused. Returns {"value": [switches], "count": n}
        (none: commands may be sent)."""
        return _page(_sdk(lambda: list(client.kill_switches()["value"])))

    @server.tool()
    def engage_kill_switch(reason: str, twin_id: str | None = None) -> dict[str, Any]:
        """Stop commands to devices: engage the kill switch for one twin (``twin_id``) or, without it, the whole
        tenant. New commands in that scope are refused and those not yet sent are canceled; give the ``reason``
        (what you saw). Needs the operator role or higher. Only people can release it again (engineer). Returns
        the switch and how many commands it ``canceled``."""
        return _sdk(lambda: dict(client.engage_kill_switch(twin_id or "*", reason)))

    # Setpoint loops: read them and stop their autonomy; NO enable tool, on purpose. Letting a loop send setpoints
    # to the plant by itself is for an engineer (CLI, dashboard, API), as releasing a kill switch is.
    @server.tool()
    def setpoint_loops(proposals: int = 3) -> dict[str, Any]:
        """The zone setpoint loops (setpoints.yaml): twin, mode (recommend, approve or auto), the air-temperature
        band they hold, and for auto loops their ``autonomy`` (enabled, or why it is off, since when, by whom);
        with each loop's last ``proposals`` (1-20, newest first): the decision (recommended, unchanged, sent,
        awaiting approval, refused, ...), current and proposed heating/cooling setpoints with predicted energy,
        ``savingKwh``, the model's ``confidence`` and the reasons. Needs the viewer role. Returns
        {"value": [loops], "count": n}."""
        n = max(1, min(proposals, 20))

        def loops() -> list[dict[str, Any]]:
            out = []
            for loop in client.setpoint_loops()["value"]:
                recent = client.setpoint_proposals(loop["name"], limit=n)["value"]
                out.append({**{k: v for k, v in loop.items() if k != "last"},  # the first of ``proposals``
                            "proposals": [{k: v for k, v in p.items() if k != "model"} for p in recent]})
            return out

        return _page(_sdk(loops))

    @server.tool()
    def disable_setpoint_loop(name: str, reason: str) -> dict[str, Any]:
        """Stop a setpoint loop's autonomy: it goes on proposing but sends no setpoint by itself (its proposals wait
        for people). Give the ``reason`` (what you saw). Needs the operator role or higher. Only people can enable
        it again (engineer). Returns the loop with its ``autonomy``."""
        return _sdk(lambda: dict(client.disable_setpoint_loop(name, reason)))

    @server.tool()
    def get_history(twin_id: str, property: str, start: str | None = None, end: str | None = None,
                    bucket: str | None = "1h", aggregates: list[str] | None = None) -> dict[str, Any]:
        """A twin property's history between ``start`` and ``end`` (ISO 8601, e.g. "2026-11-24T06:00:00Z";
        default: the last hour). With ``bucket`` ("10m", "1h", "1d"; default "1h") one row per bucket with
        ``aggregates`` (min, max, mean, last, count; default min, max, mean); bucket null gives the raw samples
        (at most 1000). Returns {"value": [rows], "count": n, "start", "end", ...} with times in UTC."""
        page = _sdk(lambda: client.history(twin_id, property, start=start, end=end, bucket=bucket,
                                           agg=aggregates or (["min", "max", "mean"] if bucket else None),
                                           limit=1000))
        return {**{k: v for k, v in page.items() if k != "items"}, **_page(list(page["items"]))}

    @server.tool()
    def explain_change(twin_id: str, property: str, start: str, end: str, direction: Direction = "any",
                       reference_start: str | None = None, reference_end: str | None = None, hops: int = 2,
                       bucket_s: int | None = None, top: int = 10) -> dict[str, Any]:
        """Why did a twin's signal change between two times? Returns related signals ranked with evidence and the
        commands/alarms/work orders meanwhile. ``start``/``end``: the incident (ISO 8601 with a zone, e.g.
        "2026-11-24T00:00:00Z"); it is compared with a reference window (``reference_start``/``reference_end``,
        both or neither; default: as long, right before). ``direction``: the change to explain (down, up, any);
        ``hops``: relationships walked from the twin (0-4); ``bucket_s``: grid step in seconds (60, 300, 900,
        3600, 21600, 86400; default: the smallest that fits); ``top``: signals returned (1-100). The answer:
        ``changed`` and ``target`` (reference level, ``during`` level, ``since`` when); ``contributors`` most
        likely first, each with reference/during/change, ``z`` (robust standard deviations moved), ``timing``
        (changed before/with/after the target), ``correlation``, ``kind`` (setting, state or measurement; a
        setting or state that changed first is ranked ahead) and the relationship ``path``; ``events`` (time,
        kind, twin, actor, summary); ``notes``. Correlation with a time order, not proof: cite the evidence.
        Read-only; needs the viewer role."""
        return _sdk(lambda: dict(client.explain(twin_id, property, start=start, end=end,
                                                reference_start=reference_start, reference_end=reference_end,
                                                hops=hops, bucket=bucket_s, direction=direction, top=top)))

    @server.tool()
    def failure_impact(twin_id: str, also: list[str] | None = None) -> dict[str, Any]:
        """What stops if this twin fails, how soon, and at what cost per hour? Walks the twin graph by the site's
        impact.yaml rules (a part stops its whole, a motor what it drives, a pump what it feeds once the buffer is
        empty, a filler fed by two redundant pumps only when both stop, ...). ``also``: other twins failing at the
        same time (at most 20), e.g. both pumps. Returns ``costPerHour`` of the whole cascade, ``repairHours``,
        ``warnings`` and ``affected``: each twin with ``effect`` (stops or slows), ``afterMin`` (minutes after the
        failure), ``hops``, the relationship ``path`` ("source relationship target" steps), its own
        ``costPerHour`` and, where redundancy held until the last source stopped, ``with`` (the other stopped
        sources); stopped twins first, then soonest. Read-only; needs the viewer role."""
        return _sdk(lambda: dict(client.impact(twin_id, also=also or ())))

    @server.tool()
    def failure_risks(limit: int = 20) -> dict[str, Any]:
        """Which likely failures would cost most? The twins with a live remaining-useful-life estimate, ranked by
        ``expectedCost`` = ``pFailure`` (within ``horizonHours``) x ``costPerHour`` of what their failure stops x
        their ``repairHours``; each with ``rulHours``, ``estimatedAt`` and the twins it ``stops``. ``limit``: 1-500.
        Returns {"value": [risks], "count": n} (count: all ranked). Read-only; needs the viewer role."""
        body = _sdk(lambda: client.impact_risks(limit=max(1, min(limit, 500))))
        return {"value": list(body["value"]), "count": body["count"]}

    @server.tool()
    def list_insights(twin: str | None = None, kind: str | None = None, limit: int = 20) -> dict[str, Any]:
        """What the predictive layer concluded, newest first: anomaly episodes (which signals, since when,
        score), their clearing, and remaining-useful-life estimates with P(failure within the horizon).
        ``kind``: anomaly, cleared or rul; ``twin``: one twin only. Returns {"value": [insights], "count": n}."""
        return _page(_sdk(lambda: list(client.list_insights(twin=twin, kind=kind, limit=limit)["value"])))

    @server.tool()
    def list_fmus() -> dict[str, Any]:
        """The FMU library: simulation models (FMI co-simulation FMUs) uploaded to the platform, with id, name,
        model name and FMI version. Returns {"value": [fmus], "count": n}."""
        return _page(_sdk(lambda: list(client.list_fmus()["value"])))

    @server.tool()
    def get_fmu(fmu_id: str) -> dict[str, Any]:
        """One FMU: its default experiment (start, stop, step in seconds) and every variable (parameters and
        inputs that can be set, outputs that can be recorded) with unit, start value and description."""
        return _sdk(lambda: dict(client.get_fmu(fmu_id)))

    @server.tool()
    def simulate_fmu(fmu_id: str, stop_time: float | None = None, step: float | None = None,
                     values: dict[str, float] | None = None, record: list[str] | None = None,
                     points: int = 50) -> dict[str, Any]:
        """Simulate an FMU (a what-if): ``values`` sets parameters and inputs by name (units as get_fmu lists
        them), times in seconds (default: the FMU's default experiment). Returns each recorded output's final,
        minimum and maximum value and the run resampled to at most ``points`` time points. Needs the operator
        role or higher; nothing is stored."""
        run = _sdk(lambda: dict(client.simulate_fmu(fmu_id, stop_time=stop_time, step=step, values=values,
                                                    record=record or ())))
        return summarise_run(run, points)

    @server.tool()
    def fmu_ensemble(fmu_id: str, vary: dict[str, dict[str, Any]], samples: int = 100,
                     limits: dict[str, dict[str, float]] | None = None, stop_time: float | None = None,
                     step: float | None = None, values: dict[str, float] | None = None,
                     seed: int = 0) -> dict[str, Any]:
        """Monte Carlo what-if on an FMU: ``vary`` gives uncertain parameters or inputs, e.g.
        {"UA": {"dist": "normal", "mean": 500, "sd": 50}} (dist: normal mean/sd, uniform low/high, triangular
        low/mode/high, lognormal median/sigma); ``limits`` e.g. {"T": {"above": 25}} asks for the share of runs
        that cross it. Returns each output's final-value spread (mean, sd, 5-95th percentiles) and those shares.
        Needs the operator role or higher; nothing is stored."""
        run = _sdk(lambda: dict(client.fmu_ensemble(fmu_id, vary, samples=samples, seed=seed, limits=limits,
                                                    stop_time=stop_time, step=step, values=values)))
        return {key: run.get(key) for key in ("fmu", "samples", "failed", "seed", "vary", "startTime", "stopTime",
                                               "step", "steps", "final", "exceedance", "units")}

    @server.tool()
    def fmu_residuals(fmu_id: str, twin_id: str, start: str, outputs: dict[str, Any],
                      inputs: dict[str, Any] | None = None, end: str | None = None, bucket: str = "5m",
                      values: dict[str, float] | None = None, reference_rows: int | None = None) -> dict[str, Any]:
        """Does a twin still behave like its physics model? Drives the FMU with the twin's stored history
        (``inputs``/``outputs`` map model variables to twin properties, e.g. {"T": "airTemperature"}, or
        {"property": "hvacPower", "scale": 1000} to convert units; each property's mean per ``bucket`` between
        ``start`` and ``end``, ISO 8601) and charts the residual measured − model, the first ``reference_rows``
        (default 20 %) taken as healthy. Returns per output the residual's bias/RMSE before and after the
        reference, and the fault episodes (times in seconds from ``timeOrigin``) naming the outputs. Needs the
        operator role or higher; nothing is stored."""
        run = _sdk(lambda: dict(client.fmu_residuals_from_history(
            fmu_id, twin_id, start, outputs=outputs, inputs=inputs, end=end, bucket=bucket, values=values,
            reference_rows=reference_rows)))
        return {key: run.get(key) for key in ("fmu", "timeOrigin", "referenceRows", "stats", "episodes",
                                               "anomalousRows", "units", "charts")}

    @server.tool()
    def twin_physics(twin_id: str) -> dict[str, Any]:
        """Is the twin behaving like its physics model right now? For a twin whose model has a coupled FMU
        (physics.yaml): the coupling's phase (waiting, settling, learning, watching, restarting, stopped), the
        model's time, expected vs measured per property with the residual and its ratio to the alert limit (1 or
        more is anomalous), the open episode and the last error. Needs the viewer role."""
        return _sdk(lambda: dict(client.twin_physics(twin_id)))

    @server.tool()
    def maintenance_plan(alternatives: int = 2) -> dict[str, Any]:
        """When should each maintenance task be done? The site's live plan (planning.yaml and every twin's latest
        remaining-useful-life estimate), optimised for the least expected cost (failure risk, preventive work,
        lost production of planned stops) within crew hours and a risk limit. Per task: date, P(failure before
        it), expected cost, tasks sharing its stop, and the ``alternatives`` cheapest other dates with their extra
        cost; tasks that could not be planned and why. Needs the viewer role."""
        body = _sdk(lambda: dict(client.maintenance_plan(alternatives=alternatives)))
        plan = body.get("plan")
        if plan:  # the crew table and stop list are for charts; the tasks say it all to an assistant
            body["plan"] = {k: v for k, v in plan.items() if k not in ("crew", "stops")}
        body.pop("estimates", None)
        return body

    return server


def summarise_run(run: dict[str, Any], points: int) -> dict[str, Any]:
    """A simulation answer an assistant can read: per output final/min/max, and an evenly thinned series."""
    times: list[float] = run["time"]
    every = max(-(-len(times) // max(points, 2)), 1)
    keep = sorted({*range(0, len(times), every), len(times) - 1})
    outputs = {name: {"final": series[-1], "min": min(series), "max": max(series),
                      "unit": run.get("units", {}).get(name, "")} for name, series in run["columns"].items()}
    return {"fmu": run.get("fmu"), "startTime": run["startTime"], "stopTime": run["stopTime"], "step": run["step"],
            "steps": run["steps"], "outputs": outputs, "time": [times[i] for i in keep],
            "series": {name: [series[i] for i in keep] for name, series in run["columns"].items()}}


def serve_stdio(url: str | None = None, token: str | None = None) -> None:
    """Run the MCP server over stdio until the client closes it. URL and token default to TVILLING_URL /
    TVILLING_TOKEN."""
    with Client(url, token) as client:
        build_server(client).run("stdio")
