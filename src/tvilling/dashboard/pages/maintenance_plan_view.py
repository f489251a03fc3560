"""The Maintenance plan page's pure parts: the summary, the planned-task and not-planned rows, the timeline (one
row per task, its planned day coloured by P(failure before), its cheapest other days, the line stops and the days
without crew or production) and the crew chart, all from the answer of ``MaintenancePlanner.live_plan`` (the one of
``GET /api/v1/maintenance/plan``). No NiceGUI here: plain data in, plain data out."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from tvilling.optimize.maintenance import line_text
from tvilling.optimize.planning_document import parse_time

LATER = "later"  # the timeline's column for tasks left after the horizon
RISK_COLORS = ["#2e9d5b", "#e0a220", "#d64545"]  # P(failure before): none → the risk limit
NO_CREW, NO_PRODUCTION = "rgba(96, 112, 128, 0.14)", "rgba(46, 157, 91, 0.12)"
STOP_COLOR, ALTERNATIVE_COLOR, USED_COLOR, AVAILABLE_COLOR = "#34475a", "#8896a5", "#1f4e79", "#dfe6ee"
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
TIP = "(p) => (p.data && p.data.tip) || p.seriesName"

Calendar = tuple[list[float], list[float]]  # per day of the horizon: lost production per hour, crew hours


def money(value: Any) -> str:
    """'€17,922' (whole euros: the figures are expectations, cents would be false precision)."""
    return f"€{float(value):,.0f}" if isinstance(value, int | float) else "–"


def extra(value: float) -> str:
    return f"+€{value:,.0f}" if value >= 0 else f"−€{-value:,.0f}"


def pct(p: Any) -> str:
    """A probability: '0.16%' below 1 %, '12.3%' above (small risks still differ)."""
    if not isinstance(p, int | float):
        return "–"
    return f"{p:.2%}" if p < 0.01 else f"{p:.1%}"


def weekday(iso_date: str) -> str:
    return WEEKDAYS[parse_time(iso_date, "date").weekday()]


def horizon_dates(plan: Mapping[str, Any]) -> list[str]:
    """The date of each day of the plan."""
    days = plan.get("calendar") or []
    if len(days) == int(plan["days"]):
        return [str(d["date"]) for d in days]
    start = parse_time(plan["start"], "start")
    return [(start + timedelta(days=d)).date().isoformat() for d in range(int(plan["days"]))]


def calendar_days(plan: Mapping[str, Any]) -> Calendar | None:
    """The plan's calendar day by day (lost production per hour, crew hours); None when the plan has none."""
    days = plan.get("calendar") or []
    if len(days) != int(plan["days"]):
        return None
    return [float(d["lostPerHour"]) for d in days], [float(d["crewHours"]) for d in days]


def summary(result: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(label, text, test id) for the summary card."""
    plan, cost = result["plan"], result["plan"]["expectedCost"]
    dates = horizon_dates(plan)
    status = str(plan["status"])
    if status == "feasible" and isinstance(plan.get("bound"), int | float):
        status += f" (the best possible is at most {money(cost['total'] - plan['bound'])} cheaper)"
    return [("Plan starts", str(plan["start"]).replace("T", " ")[:16] + " UTC", "plan-start"),
            ("Horizon", f"{plan['days']} days, {dates[0]} → {dates[-1]}", "plan-horizon"),
            ("Solver", f"{status} · {plan['method']} · {float(plan['solveSeconds']):.2f} s", "plan-status"),
            ("Expected cost", f"{money(cost['total'])} = risk {money(cost['risk'])} + preventive "
                              f"{money(cost['preventive'])} + planned stops {money(cost['plannedStops'])}"
                              + (f" + unused life {money(cost['unusedLife'])}" if cost.get("unusedLife") else ""),
             "plan-cost"),
            ("Risk limit", f"{float(plan['riskLimit']):.0%} P(failure before its maintenance)", "plan-risk-limit"),
            ("Planning file", str(result.get("file") or "–"), "plan-file")]


def kpis(result: Mapping[str, Any]) -> dict[str, str]:
    plan = result["plan"]
    cost, tasks = plan["expectedCost"], plan["tasks"]
    later = sum(1 for t in tasks if t["day"] is None)
    return {"total": money(cost["total"]), "risk": money(cost["risk"]), "preventive": money(cost["preventive"]),
            "stops": money(cost["plannedStops"]),
            "tasks": str(len(tasks) - later) + (f" (+{later} later)" if later else "")}


def titles(tasks: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """Task id → its label: the title, or the id where there is none; a title two tasks share gets the id too."""
    names = {t["task"]: str(t.get("title") or t["task"]) for t in tasks}
    counts: dict[str, int] = {}
    for name in names.values():
        counts[name] = counts.get(name, 0) + 1
    return {tid: name if counts[name] == 1 or name == tid else f"{name} · {tid}" for tid, name in names.items()}


def basis(task: Mapping[str, Any], estimates: Mapping[str, Any]) -> str:
    """Where the task's failure curve came from (the live plan's ``failureSource``): the twin's live RUL
    estimate, else the planning file."""
    estimate = estimates.get(task["asset"])
    if task.get("failureSource") == "rul" and isinstance(estimate, Mapping):
        return "live RUL, " + str(estimate.get("at") or "").replace("T", " ")[:16]
    return "planning file's curve"


def task_rows(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    plan, estimates = result["plan"], result.get("estimates") or {}
    names = titles(plan["tasks"])
    rows = []
    for t in plan["tasks"]:
        order = t.get("workOrder") or {}
        risk, preventive = float(t["riskCost"]), float(t["preventiveCost"])
        rows.append({
            "key": t["task"], "task": t["task"], "title": names[t["task"]], "asset": t["asset"],
            "line": line_text(t, "–"), "date": t["date"] or "after the horizon",
            "weekday": weekday(t["date"]) if t["date"] else "",
            "daySort": t["day"] if t["day"] is not None else LATER_SORT,
            "p": pct(t["pFailureBefore"]), "pSort": t["pFailureBefore"], "overRisk": bool(t["overRisk"]),
            "basis": basis(t, estimates), "cost": money(risk + preventive), "costSort": risk + preventive,
            "costHint": f"risk {money(risk)} · preventive {money(preventive)}",
            "shared": ", ".join(names.get(i, i) for i in t.get("sharedStopWith") or []),
            "alternatives": [f"{w['date']} ({extra(float(w['extra']))})" for w in t.get("windows") or []],
            "woId": order.get("id", ""), "woState": order.get("state", ""), "woTitle": order.get("title", "")})
    return rows


LATER_SORT = 10**6  # daySort of a task left after the horizon


def order_description(task: Mapping[str, Any]) -> str:
    """What a work order made from a planned task says about why that day."""
    text = (f"Planned for {task['date']} by the maintenance plan: P(failure before) {pct(task['pFailureBefore'])}, "
            f"expected cost {money(float(task['riskCost']) + float(task['preventiveCost']))}.")
    if task.get("sharedStopWith"):
        text += " Shares its line stop with " + ", ".join(task["sharedStopWith"]) + "."
    return text


def not_planned_rows(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [{"key": n["task"], "task": n["task"], "asset": n["asset"], "reason": n["reason"]}
            for n in result.get("notPlanned") or []]


def _tip(*lines: str) -> str:
    return "<br>".join(html.escape(line) for line in lines)


def timeline_options(plan: Mapping[str, Any], calendar: Calendar | None) -> dict[str, Any]:
    """x: the horizon's dates (and "later" when a task waits past it); y: one row per task in the plan's order,
    then one per line that stops. The planned day is a dot coloured by P(failure before) up to the risk limit,
    the cheapest other days are hollow dots, a line stop a bar; days without crew or production are shaded."""
    dates, tasks = horizon_dates(plan), plan["tasks"]
    names = titles(tasks)
    xs = dates + ([LATER] if any(t["day"] is None for t in tasks) else [])
    lines = sorted({str(s["line"]) for s in plan["stops"]})
    rows = [names[t["task"]] for t in tasks] + [f"{line} stops" for line in lines]
    planned, others = [], []
    for t in tasks:
        row = names[t["task"]]
        when = f"{t['date']} ({weekday(t['date'])})" if t["date"] else "after the horizon"
        planned.append({"value": [t["date"] or LATER, row, t["pFailureBefore"]],
                        "tip": _tip(row, f"{when} · {t['asset']}", f"P(failure before) {pct(t['pFailureBefore'])}",
                                    f"risk {money(t['riskCost'])} + preventive {money(t['preventiveCost'])}")})
        for w in t.get("windows") or []:
            others.append({"value": [w["date"], row, w["pFailureBefore"]],
                           "tip": _tip(f"{row}: other day", f"{w['date']} ({weekday(w['date'])})",
                                       f"plan total {extra(float(w['extra']))}",
                                       f"P(failure before) {pct(w['pFailureBefore'])}")})
    stops = [{"value": [s["date"], f"{s['line']} stops", s["hours"]],
              "tip": _tip(f"{s['line']} stops {float(s['hours']):g} h on {s['date']} ({weekday(s['date'])})",
                          f"lost production {money(s['cost'])}", *[names.get(i, i) for i in s["tasks"]])}
             for s in plan["stops"]]
    series: list[dict[str, Any]] = [
        {"name": "Planned", "type": "scatter", "symbolSize": 16, "z": 4, "data": planned},
        {"name": "Other days", "type": "scatter", "symbol": "emptyCircle", "symbolSize": 9, "z": 3,
         "itemStyle": {"color": ALTERNATIVE_COLOR}, "data": others},
        {"name": "Line stops", "type": "scatter", "symbol": "rect", "symbolSize": [8, 18], "z": 3,
         "itemStyle": {"color": STOP_COLOR}, "data": stops}]
    if calendar is not None:
        lost, crew = calendar
        band: dict[str, Any] = {"type": "bar", "yAxisIndex": 1, "barWidth": "100%", "barGap": "-100%", "z": 1}
        series.append({**band, "name": "No crew", "itemStyle": {"color": NO_CREW}, "data": [
            {"value": 1, "tip": _tip(f"{d} ({weekday(d)}): no crew hours")} if crew[i] <= 0 else None
            for i, d in enumerate(dates)]})
        series.append({**band, "name": "No production", "itemStyle": {"color": NO_PRODUCTION}, "data": [
            {"value": 1, "tip": _tip(f"{d} ({weekday(d)}): no production, a stop costs nothing")}
            if lost[i] <= 0 < crew[i] else None for i, d in enumerate(dates)]})
    limit = float(plan["riskLimit"])
    return {"animation": False, "tooltip": {"trigger": "item", ":formatter": TIP},
            "dataZoom": [{"type": "inside", "xAxisIndex": 0, "startValue": 0, "endValue": zoom_end(plan, xs)},
                         {"type": "slider", "xAxisIndex": 0, "height": 14, "bottom": 6, "labelPrecision": 0}],
            "legend": {"top": 0, "left": 0, "data": [s["name"] for s in series[1:]]},
            "visualMap": {"type": "continuous", "seriesIndex": 0, "dimension": 2, "min": 0, "max": limit,
                          "inRange": {"color": RISK_COLORS}, "orient": "horizontal", "right": 8, "top": 0,
                          "itemWidth": 10, "itemHeight": 110, "calculable": False,
                          "text": [f"{limit:.0%} = risk limit", "P(failure before) 0"]},
            "grid": {"left": 270, "right": 24, "top": 44, "bottom": 56},
            "xAxis": {"type": "category", "data": xs, "axisLabel": {"hideOverlap": True},
                      "axisTick": {"alignWithLabel": True}},
            "yAxis": [{"type": "category", "data": rows, "inverse": True,
                       "axisLabel": {"width": 255, "overflow": "truncate"},
                       "splitLine": {"show": True, "lineStyle": {"color": "#eef1f5"}}},
                      {"type": "value", "min": 0, "max": 1, "show": False}],
            "series": series}


def zoom_end(plan: Mapping[str, Any], xs: Sequence[str]) -> int:
    """The timeline opens on the part of the horizon with something on it: a week past the last planned, other or
    stop day (two weeks at least); the slider under it reaches the rest."""
    days = [int(t["day"]) for t in plan["tasks"] if t["day"] is not None]
    days += [int(w["day"]) for t in plan["tasks"] for w in t.get("windows") or []]
    days += [int(s["day"]) for s in plan["stops"]]
    if any(t["day"] is None for t in plan["tasks"]):
        return len(xs) - 1
    return min(len(xs) - 1, max([13, *(d + 7 for d in days)]))


def timeline_height(plan: Mapping[str, Any]) -> int:
    rows = len(plan["tasks"]) + len({s["line"] for s in plan["stops"]})
    return 116 + 34 * max(rows, 2)


def crew_options(plan: Mapping[str, Any], calendar: Calendar | None) -> dict[str, Any]:
    """Crew hours per day: available (light) behind used (dark); the whole horizon when the calendar is known,
    else the days with work."""
    used = {c["date"]: float(c["used"]) for c in plan["crew"]}
    if calendar is not None:
        dates, available = horizon_dates(plan), calendar[1]
    else:
        dates, available = [c["date"] for c in plan["crew"]], [float(c["available"]) for c in plan["crew"]]
    bar: dict[str, Any] = {"type": "bar", "barGap": "-100%", "barCategoryGap": "20%"}
    return {"animation": False, "tooltip": {"trigger": "axis"},
            "legend": {"top": 0, "right": 0},
            "grid": {"left": 48, "right": 24, "top": 36, "bottom": 30},
            "xAxis": {"type": "category", "data": dates, "axisLabel": {"hideOverlap": True}},
            "yAxis": {"type": "value", "name": "crew h", "minInterval": 1},
            "series": [{**bar, "name": "Available", "itemStyle": {"color": AVAILABLE_COLOR}, "data": available},
                       {**bar, "name": "Planned", "itemStyle": {"color": USED_COLOR},
                        "data": [used.get(d, 0.0) for d in dates]}]}
