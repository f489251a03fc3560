"""``line: impact`` in planning.yaml: the line a task stops, and how long its stop takes to get there, from the
cascade rules of impact.yaml (docs/maintenance-planning.md).

The line is the twin with a ``cost_per_hour`` in impact.yaml that the asset's stop reaches
(:meth:`tvilling.app.impact.ImpactService.stops_of`: the tenant's graph read once per plan); the minutes until it
stops become the task's ``line_delay_hours``, which the engine takes off the planned stop and off the failure's
downtime. One line per task: the planner books one stop per line and day, so a stop reaching two costed twins is
refused rather than guessed at; a stop reaching none stops nothing, and the plan says so.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping, Sequence
from typing import Any

from tvilling.app.impact import ImpactService
from tvilling.core.errors import Problem as Issue
from tvilling.optimize.planning_document import LINE_FROM_IMPACT

STAND_IN = "line"  # the line a `line: impact` task is checked with at start, before any graph is read


def says_impact(task: Any) -> bool:
    return isinstance(task, Mapping) and task.get("line") == LINE_FROM_IMPACT


def stand_in_lines(tasks: Sequence[Any], file: str = "") -> list[Issue]:
    """For the start-time check of planning.yaml (``tasks``: the probe's copies, in the file's order): a stand-in
    line for each ``line: impact``, so the parser checks the rest; a delay given beside it is a problem (impact.yaml
    gives it)."""
    issues = []
    for i, task in enumerate(tasks):
        if not says_impact(task):
            continue
        task["line"] = STAND_IN
        if "line_delay_hours" in task:
            issues.append(Issue("line_delay_hours comes from impact.yaml when the line does (line: impact)",
                                where=f"tasks[{i}].line_delay_hours", file=file,
                                hint="leave it out, or name the line by hand (line: <twin>) with its delay"))
    return issues


def resolve_lines(impact: ImpactService | None, tenant: str, tasks: Sequence[MutableMapping[str, Any]],
                  file: str = "") -> tuple[dict[str, dict[str, str]], list[Issue]]:
    """Give each task saying ``line: impact`` its line and ``line_delay_hours``, in place. Returns, per task id,
    where its line came from (``lineFrom``: file | impact, and for impact a ``lineReason``), and the problems:
    each task whose stop reaches more than one costed twin; each ``line: impact`` task when the tenant has no
    impact.yaml."""
    notes = {_id(t): {"lineFrom": "file"} for t in tasks}
    asking = [t for t in tasks if says_impact(t)]
    if not asking:
        return notes, []
    if impact is None or not impact.covers(tenant):
        return notes, [Issue(f"task {_id(t)} says line: impact, but this tenant has no impact.yaml to say how its "
                             "stop travels to a line", where=f"tasks[{_id(t)}].line", file=file,
                             hint="add impact.yaml beside the site's mappings.yaml (docs/impact.md), or name the "
                                  "line by hand (line: <twin>)") for t in asking]
    reached = impact.stops_of(tenant, sorted({_asset(t) for t in asking}))
    issues = []
    for task in asking:
        tid, asset = _id(task), _asset(task)
        lines = reached.get(asset, [])
        if len(lines) > 1:
            issues.append(Issue(f"task {tid}: the stop of {asset} reaches {len(lines)} twins with a cost_per_hour in "
                                f"impact.yaml ({', '.join(sorted(line for line, _ in lines))}); a task stops one "
                                "line", where=f"tasks[{tid}].line", file=file,
                                hint="name the line by hand (line: <twin>)"))
            continue
        line, minutes = lines[0] if lines else (None, 0.0)
        task["line"], task["line_delay_hours"] = line, minutes / 60.0
        notes[tid] = {"lineFrom": "impact", "lineReason": _reason(asset, line, minutes)}
    return notes, issues


def _reason(asset: str, line: str | None, minutes: float) -> str:
    if line is None:
        return f"the stop of {asset} reaches no twin with a cost_per_hour in impact.yaml: nothing stops"
    return f"the stop of {asset} reaches {line} " + (f"after {minutes:g} min" if minutes else "at once") + \
        " (impact.yaml)"


def _id(task: Mapping[str, Any]) -> str:
    return str(task.get("id") or task.get("asset") or "")


def _asset(task: Mapping[str, Any]) -> str:
    return str(task.get("asset") or task.get("id") or "")
