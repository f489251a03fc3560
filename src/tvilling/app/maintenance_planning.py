"""The site's maintenance plan, live: ``planning.yaml`` + every twin's latest RUL estimate → the cheapest schedule.

``planning.yaml`` (beside the site's ``mappings.yaml``, or the file the ``planning_file`` setting names) is a
planning document (:mod:`tvilling.optimize.planning_document`) whose tasks may name a DTDL **model** instead of an
asset: one task per twin of that model (and of every model extending it)::

    tasks:
      - id: replace-bearing                    # task ids become "replace-bearing/<twin>"
        model: "dtmi:tvilling:bottling:Bearing;1"
        title: "Replace the bearing of {twin}"
        line: impact                           # or a twin: the line it stops (see below)
        duration_hours: 4
        ...
        failure: {weibull: {shape: 2.0, scale_hours: 26000, age_hours: 8000}}   # optional: twins without an estimate

A twin's failure curve is its latest ``insight.rul`` (the quantiles the live monitor published, shifted by the
time since), else the task's own ``failure``, else the twin is listed as not planned, with the reason. Day 0
starts at the newest estimate's data time (source time: in an accelerated replay the plan follows the plant's
clock, not the wall clock), or now when there is none. Each planned task shows the live work order on its twin.

``line: impact`` (a fixed task's or a rule's): the line and the delay before it stops come from impact.yaml's
cascade rules, per twin (:mod:`tvilling.app.planning_lines`; each task says where its line came from, ``lineFrom``).
"""

from __future__ import annotations

import copy
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from tvilling.adapters.sql.schema_work_orders import work_orders
from tvilling.app.documents import read_yaml
from tvilling.app.impact import ImpactService, build_impact_service
from tvilling.app.planning_lines import resolve_lines, says_impact, stand_in_lines
from tvilling.app.rul_estimates import latest_rul
from tvilling.app.shared import shared
from tvilling.app.site import site_file
from tvilling.core.errors import NotFoundError, ValidationError
from tvilling.core.errors import Problem as Issue
from tvilling.optimize.failure import FailureCurve, LogNormalCurve, QuantileCurve, SurvivedCurve
from tvilling.optimize.maintenance import Plan, Problem, solve, windows
from tvilling.optimize.planning_document import parse_time, problem_from_dict
from tvilling.policy.work_orders import LIVE_STATES

log = logging.getLogger(__name__)
MAX_TWINS_PER_RULE = 5000


@dataclass(frozen=True)
class PlanningConfig:
    file: str = ""
    document: dict[str, Any] = field(default_factory=dict)  # the tasks without model rules
    rules: tuple[dict[str, Any], ...] = ()  # tasks naming a model

    @property
    def configured(self) -> bool:
        return bool(self.document.get("tasks") or self.rules)

    @property
    def uses_impact(self) -> bool:
        return any(says_impact(t) for t in [*(self.document.get("tasks") or []), *self.rules])


def load_planning(path: Path | str | None) -> PlanningConfig:
    """Read and check ``planning.yaml``: every problem at once, as one ValidationError naming the file."""
    if path is None:
        return PlanningConfig()
    doc = read_yaml(Path(path), "planning file")
    return config_from_dict(doc, str(path))


def config_from_dict(doc: Any, file: str = "") -> PlanningConfig:
    if not isinstance(doc, Mapping):
        raise ValidationError("a planning file is a mapping", where=file, hint="see docs/maintenance-planning.md")
    rules, fixed, issues = [], [], []
    listed = doc.get("tasks") or []
    if not isinstance(listed, list):
        raise ValidationError("tasks must be a list", where="tasks", hint="one entry per task or model rule",
                              problems=[Issue("tasks must be a list", where="tasks", file=file)])
    for i, task in enumerate(listed):
        if isinstance(task, Mapping) and "model" in task:
            if not str(task["model"]).startswith("dtmi:"):
                issues.append(Issue(f"{task['model']!r} is not a DTMI", where=f"tasks[{i}].model", file=file))
            if not task.get("id"):
                issues.append(Issue("a task naming a model needs an id", where=f"tasks[{i}].id", file=file,
                                    hint="its tasks are called <id>/<twin>"))
            if "asset" in task:
                issues.append(Issue("a task names a model or an asset, not both", where=f"tasks[{i}]", file=file))
            rules.append(dict(task))
        else:
            fixed.append(task)
    document = {k: v for k, v in doc.items() if k != "tasks"} | {"tasks": fixed}
    # Check the rest now: each rule as a task with a stand-in asset, so a typo fails at start, not at first use.
    probe = copy.deepcopy(document)
    # In the file's order, so problems name the right index. A model rule's twins bring their own curves (their
    # RUL estimates), so a rule without one is checked with a stand-in; a task on one asset must have its own.
    probe["tasks"] = [{"failure": {"none": True}} | _expand(t, "twin", None)
                      if isinstance(t, Mapping) and "model" in t else copy.deepcopy(t)
                      for t in listed]
    issues.extend(stand_in_lines(probe["tasks"], file))
    if probe["tasks"]:
        try:
            problem_from_dict(probe, start=datetime.now(UTC))
        except ValidationError as exc:
            issues.extend(Issue(p.message, where=p.where, hint=p.hint, file=file) for p in exc.problems or [
                Issue(exc.message, exc.where, exc.hint)])
    if issues:
        raise refused(issues, file)
    return PlanningConfig(file, document, tuple(rules))


def refused(issues: list[Issue], file: str) -> ValidationError:
    """Every problem with the planning file at once, the first one in the message."""
    return ValidationError(f"{len(issues)} problem(s) in {file or 'the planning file'}: {issues[0].message}",
                           where=issues[0].where, hint=issues[0].hint, problems=issues)


def _expand(rule: Mapping[str, Any], twin: str, failure: FailureCurve | None) -> dict[str, Any]:
    task = {k: v for k, v in rule.items() if k not in ("model", "id")}
    task["id"] = f"{rule.get('id') or 'task'}/{twin}"
    task["asset"] = twin
    task["title"] = str(rule.get("title") or "{twin}").replace("{twin}", twin)
    if failure is not None:
        task["failure"] = failure.as_dict()
    return task


def curve_from_rul(rul: Mapping[str, Any], elapsed_hours: float) -> FailureCurve | None:
    """The failure curve an ``insight.rul`` describes, ``elapsed_hours`` after it was made, given that the asset
    has survived them: the quantiles beyond the elapsed time, shifted (the conditional distribution); all of them
    behind it → failure is due now. Without quantiles, the interval's log-normal, conditioned the same way."""
    hours = rul.get("rul_hours") or {}
    quantiles = hours.get("quantiles")
    if quantiles:
        cut = hours.get("censored_at")
        ahead = [float(q) - elapsed_hours for q in quantiles if float(q) > elapsed_hours]
        if not ahead:  # every draw says it should have failed by now: due at once
            return QuantileCurve((0.0,))
        return QuantileCurve(tuple(ahead), None if cut is None else max(0.0, float(cut) - elapsed_hours))
    if "lower" in hours and "upper" in hours:
        base = LogNormalCurve(float(hours["lower"]), float(hours["upper"]), float(hours.get("level", 0.8)))
        return SurvivedCurve(base, elapsed_hours) if elapsed_hours > 0 else base
    return None


class MaintenancePlanner:
    """Plans for one platform: the live plan from ``planning.yaml``, and any planning document on request."""

    def __init__(self, services: Any, config: PlanningConfig | None = None, *, impact: ImpactService | None = None,
                 time_limit_s: float = 10.0, concurrency: int = 2) -> None:
        self.services = services
        self.config = config or PlanningConfig()
        self.impact = impact  # resolves `line: impact` (None: such a task is refused with the hint)
        self.time_limit_s = time_limit_s
        # A plan may take the solver's whole time limit of one core: at most this many at once, the rest wait.
        self._slots = threading.BoundedSemaphore(concurrency)

    def _solve(self, problem: Problem) -> Plan:
        with self._slots:
            return solve(problem, time_limit_s=self.time_limit_s)

    # -- any document (what-if) -------------------------------------------------------------------------------------
    def plan_document(self, doc: Any, *, alternatives: int = 3) -> dict[str, Any]:
        problem = problem_from_dict(doc, start=self.services.clock.now())
        plan = self._solve(problem)
        return plan.as_dict(windows(plan, alternatives) if alternatives else None)

    # -- the live plan ------------------------------------------------------------------------------------------------
    def live_plan(self, tenant: str, *, alternatives: int = 3) -> dict[str, Any]:
        """The tenant's plan now, computed on every call: a site's few dozen tasks take milliseconds (measured in
        docs/benchmarks.md); the solver's time limit bounds the rest."""
        if not self.config.configured:
            return {"configured": False, "file": None, "plan": None, "notPlanned": [],
                    "hint": "describe the site's tasks and calendar in planning.yaml (docs/maintenance-planning.md)"}
        doc, not_planned, estimates, sources = self.live_document(tenant)
        out: dict[str, Any] = {"configured": True, "file": self.config.file or None, "notPlanned": not_planned,
                               "estimates": estimates}
        if not doc["tasks"]:
            return out | {"plan": None}
        lines, issues = resolve_lines(self.impact, tenant, doc["tasks"], self.config.file)
        if issues:
            raise refused(issues, self.config.file)
        problem = problem_from_dict(doc, start=self.services.clock.now())
        plan = self._solve(problem)
        result = plan.as_dict(windows(plan, alternatives) if alternatives else None)
        orders = self._live_orders(tenant)
        for row in result["tasks"]:
            row["workOrder"] = orders.get(row["asset"])  # the newest live work order on the twin
            row["failureSource"] = sources.get(row["task"], "file")
            row.update(lines.get(row["task"], {}))  # lineFrom, and with impact its lineReason
        return out | {"plan": result}

    def live_document(self, tenant: str) -> tuple[dict[str, Any], list[dict[str, str]], dict[str, Any],
                                                  dict[str, str]]:
        """The planning document for the tenant now: the file's tasks plus one per twin of each model rule; also
        the tasks not planned, the estimates used and where each task's failure curve came from (rul | file)."""
        doc = copy.deepcopy(self.config.document)
        tasks: list[dict[str, Any]] = []
        not_planned: list[dict[str, str]] = []
        for task in doc.get("tasks") or []:  # a task on one asset: only in the tenant that has that twin
            asset = str(task.get("asset") or task.get("id"))
            if self._exists(tenant, asset):
                tasks.append(task)
            else:
                not_planned.append({"task": str(task.get("id") or asset), "asset": asset,
                                    "reason": f"no twin {asset!r} in this tenant"})
        found: dict[str, tuple[datetime, dict[str, Any]]] = {}
        twins = {str(rule["model"]): self._twins_of(tenant, str(rule["model"])) for rule in self.config.rules}
        for rule in self.config.rules:
            for twin in twins[str(rule["model"])]:
                if twin not in found:
                    latest = self._latest_rul(tenant, twin)
                    if latest is not None:
                        found[twin] = latest
        start = parse_time(doc["start"], "start") if doc.get("start") else (
            max(at for at, _ in found.values()) if found else self.services.clock.now())
        doc["start"] = start.isoformat()
        estimates: dict[str, Any] = {}
        sources: dict[str, str] = {}
        for rule in self.config.rules:
            for twin in twins[str(rule["model"])]:
                curve = None
                if twin in found:
                    at, rul = found[twin]
                    curve = curve_from_rul(rul, max(0.0, (start - at).total_seconds() / 3600.0))
                    estimates[twin] = {"at": at.isoformat(), "rulHours": rul.get("rul_hours"),
                                       "pFailure": rul.get("p_failure"), "horizonHours": rul.get("horizon_hours")}
                if curve is None and rule.get("failure") is None:
                    not_planned.append({"task": f"{rule['id']}/{twin}", "asset": twin,
                                        "reason": "no RUL estimate for this twin (no wear seen so far), and the "
                                                  "task gives no failure curve of its own"})
                    continue
                task = _expand(rule, twin, curve)
                sources[task["id"]] = "rul" if curve is not None else "file"
                tasks.append(task)
        doc["tasks"] = tasks
        return doc, not_planned, estimates, sources

    def _exists(self, tenant: str, twin: str) -> bool:
        try:
            self.services.twins.get(tenant, twin)
        except NotFoundError:
            return False
        return True

    def _twins_of(self, tenant: str, model: str) -> list[str]:
        out: list[str] = []
        after = None
        while len(out) < MAX_TWINS_PER_RULE:
            page, after = self.services.twins.list(tenant, model_id=model, after=after, limit=1000)
            out.extend(str(t["$dtId"]) for t in page)
            if after is None:
                break
        return out

    def _latest_rul(self, tenant: str, twin: str) -> tuple[datetime, dict[str, Any]] | None:
        return latest_rul(self.services.store.engine, tenant, twin)

    def _live_orders(self, tenant: str) -> dict[str, dict[str, Any]]:
        wo = work_orders.c
        query = (sa.select(wo.id, wo.twin_id, wo.state, wo.title)
                 .where(wo.tenant == tenant, wo.state.in_(LIVE_STATES)).order_by(wo.created_at))
        with self.services.store.engine.connect() as conn:
            return {r.twin_id: {"id": r.id, "state": r.state, "title": r.title} for r in conn.execute(query)}


def plan_digest(body: Mapping[str, Any]) -> dict[str, Any]:
    """A live plan in a few lines (the demo summary): per task its date and P(failure before), the total."""
    plan = body.get("plan")
    if not plan:
        return {"configured": bool(body.get("configured")), "tasks": [], "not_planned": len(body.get("notPlanned")
                                                                                          or [])}
    return {"configured": True, "start": plan["start"], "status": plan["status"],
            "expected_cost": plan["expectedCost"]["total"], "not_planned": len(body.get("notPlanned") or []),
            "tasks": [{"task": t["task"], "date": t["date"], "p_failure_before": t["pFailureBefore"],
                       "over_risk": t["overRisk"]} for t in plan["tasks"]]}


def maintenance_planner(app_state: Any, services: Any) -> MaintenancePlanner:
    """The platform's one planner (made at start by the composition root, or on first use, from the site's
    ``planning.yaml``)."""
    impact = getattr(app_state, "impact", None)
    return shared(app_state, "planner", MaintenancePlanner,
                  lambda: build_planner(getattr(app_state, "settings", None), services,
                                        impact if isinstance(impact, ImpactService) else None))


def build_planner(settings: Any, services: Any, impact: ImpactService | None = None) -> MaintenancePlanner:
    """The planner of ``settings``' site, with the platform's impact service (``impact``; else one of the site's
    impact.yaml); a broken ``planning.yaml`` raises (the server does not start with it), and so does one asking for
    ``line: impact`` on a site without impact.yaml."""
    path = site_file(settings, "planning_file", "planning.yaml") if settings is not None else None
    config = load_planning(path)
    if impact is None and settings is not None:
        impact = build_impact_service(services, settings)
    if config.uses_impact and (impact is None or impact.config is None):
        raise refused([Issue("a task says line: impact, but the site has no impact.yaml to say how a stop travels "
                             "to a line", where="tasks", file=config.file,
                             hint="add impact.yaml beside the site's mappings.yaml (docs/impact.md), or name each "
                                  "line by hand (line: <twin>)")], config.file)
    return MaintenancePlanner(services, config, impact=impact,
                              time_limit_s=float(getattr(settings, "planning_time_limit_s", 10.0)))
