"""The Scenarios page's pure parts: which variables the what-if form offers, the library and variable tables' rows,
the baseline-versus-scenario charts, the final-values table and the CSV, and the same for an uncertainty (Monte
Carlo) run: its band charts, final-value statistics, limit sentences and band CSV; and the charts of measurements
against a model (calibration) and of a residual analysis. No NiceGUI here, so all of it is plain data in, plain
data out."""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

SETTABLE = ("parameter", "structuralParameter", "input")
# FMI 2 and 3 type names that are numbers; strings and binaries cannot be given as a what-if value.
NUMERIC = {"Real", "Integer", "Enumeration", "Float64", "Float32", "Int8", "UInt8", "Int16", "UInt16", "Int32",
           "UInt32", "Int64", "UInt64"}
BASELINE_COLOR, SCENARIO_COLOR = "#9aa5b1", "#1f6fd1"
HOURS_FROM_S = 7200.0  # from two hours on, seconds on the time axis are harder to read than hours
CHART_POINTS = 2000  # per series: a 200 000-step run must not be pushed to the browser whole (the CSV keeps it)
PERCENTILES = ("p5", "p25", "p50", "p75", "p95")
OUTER_BAND, INNER_BAND = "#d3e2f7", "#9dbfec"  # 5–95 % lighter than 25–75 %: the likelier range reads darker
ANOMALY_COLOR, EPISODE_BAND, REFERENCE_COLOR = "#d64545", "rgba(214, 69, 69, 0.14)", "#5f6b7a"  # residual charts


def safe_id(name: str) -> str:
    """A variable name as a test id / prop value: FMU names may hold dots, brackets and spaces."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", name)


def stamp(iso_text: Any) -> str:
    return str(iso_text or "").replace("T", " ")[:16]


def table_columns(*specs: tuple[str, str, str]) -> list[dict[str, Any]]:
    """A table's columns from (field, label, alignment) triples; each column is named after its field."""
    return [{"name": name, "label": label, "field": name, "align": align} for name, label, align in specs]


def library_rows(items: Sequence[Mapping[str, Any]], can_delete: bool) -> list[dict[str, Any]]:
    return [{"id": f["id"], "name": f["name"], "modelName": f.get("modelName", ""),
             "fmiVersion": f.get("fmiVersion", ""), "variables": f.get("variableCount", 0),
             "createdBy": f.get("createdBy", ""), "created": stamp(f.get("createdAt")),
             "createdSort": f.get("createdAt", ""), "canDelete": can_delete} for f in items]


def settable(variables: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The parameters and inputs a what-if may change: numbers and booleans, in the model's order."""
    return [v for v in variables if v.get("causality") in SETTABLE
            and (v.get("type") in NUMERIC or v.get("type") == "Boolean")]


def outputs(variables: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [v for v in variables if v.get("causality") == "output"]


def number(value: Any) -> str:
    if value is None or value == "":
        return "–"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        if float(value).is_integer() and abs(value) < 1e12:
            return str(int(value))  # 5000000, not 5e+06: a start value reads as typed in the form
        return f"{value:.6g}"
    return str(value)


def variable_rows(variables: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Parameters and inputs (with start values), then outputs: what a scenario can change, then what it shows."""
    order = {"parameter": 0, "structuralParameter": 0, "input": 1, "output": 2}
    shown = sorted((v for v in variables if v.get("causality") in order),
                   key=lambda v: order[str(v.get("causality"))])
    return [{"key": i, "name": v.get("name", ""), "causality": v.get("causality", ""), "type": v.get("type", ""),
             "unit": v.get("unit") or "–",
             "start": "" if v.get("causality") == "output" else number(v.get("start")),
             "description": v.get("description", "")} for i, v in enumerate(shown)]


def experiment_text(exp: Mapping[str, Any] | None) -> str:
    exp = exp or {}
    start, stop, step = exp.get("startTime"), exp.get("stopTime"), exp.get("stepSize")
    if start is None and stop is None and step is None:
        return "The model suggests no default experiment."
    span = f"{number(start if start is not None else 0.0)} – {number(stop)} s"
    return f"Default experiment: {span}" + (f", step {number(step)} s" if step is not None else "")


def time_axis(stop_time: float) -> tuple[float, str]:
    """(divisor, axis name) for a run's time values."""
    return (3600.0, "time [h]") if stop_time >= HOURS_FROM_S else (1.0, "time [s]")


def _kept(count: int) -> list[int]:
    stride = max(1, math.ceil(count / CHART_POINTS))
    keep = list(range(0, count, stride))
    if keep and keep[-1] != count - 1:
        keep.append(count - 1)  # the last value is the one the final-values table compares
    return keep


def _points(times: Sequence[float], values: Sequence[float], divisor: float) -> list[list[float]]:
    return [[round(times[i] / divisor, 6), values[i]] for i in _kept(len(times))]


def chart_options(name: str, unit: str, base: Mapping[str, Any], scen: Mapping[str, Any]) -> dict[str, Any]:
    """One output over time: the baseline in grey under the scenario in blue."""
    divisor, x_name = time_axis(float(scen.get("stopTime") or 0.0))
    series = []
    for label, run, color in (("baseline", base, BASELINE_COLOR), ("scenario", scen, SCENARIO_COLOR)):
        series.append({"name": label, "type": "line", "showSymbol": False, "color": color,
                       "lineStyle": {"width": 2 if label == "scenario" else 1.5, "color": color},
                       "data": _points(run["time"], run["columns"].get(name, []), divisor)})
    return {"animation": False, "tooltip": {"trigger": "axis"}, "legend": {"top": 0},
            "grid": {"left": 64, "right": 24, "top": 40, "bottom": 44},
            "xAxis": {"type": "value", "name": x_name, "nameLocation": "middle", "nameGap": 26,
                      "min": "dataMin", "max": "dataMax"},
            "yAxis": {"type": "value", "name": f"{name} [{unit}]" if unit else name, "scale": True},
            "series": series}


def _finite(value: Any) -> bool:
    return value is not None and math.isfinite(value)


def measured_axes(name: str, unit: str, stop_time: float, x_name: str = "") -> dict[str, Any]:
    """The layout of a chart over measured time: the last sample is rarely on a round time (47.916667 h), so the
    axis labels are rounded."""
    return {"animation": False, "tooltip": {"trigger": "axis"}, "legend": {"top": 0},
            "grid": {"left": 64, "right": 24, "top": 40, "bottom": 44},
            "xAxis": {"type": "value", "name": x_name or time_axis(stop_time)[1], "nameLocation": "middle",
                      "nameGap": 26, "min": "dataMin", "max": "dataMax",
                      "axisLabel": {":formatter": "(v) => String(+v.toFixed(2))"}},
            "yAxis": {"type": "value", "name": f"{name} [{unit}]" if unit else name, "scale": True}}


def measured_options(name: str, unit: str, times: Sequence[float], measured: Sequence[float | None],
                     model: Sequence[float | None], *, model_label: str = "fitted model",
                     x_name: str = "") -> dict[str, Any]:
    """One measured output: the measurements as grey dots under the model's blue line (a missing measurement, None
    or NaN, is no dot); a long record is thinned, as the other charts are."""
    divisor = time_axis(float(times[-1]) if times else 0.0)[0]
    keep = _kept(len(times))
    dots = [[round(times[i] / divisor, 6), measured[i]] for i in keep if _finite(measured[i])]
    line = [[round(times[i] / divisor, 6), model[i]] for i in keep]
    return {**measured_axes(name, unit, float(times[-1]) if times else 0.0, x_name),
            "series": [{"name": "measured", "type": "scatter", "symbolSize": 3, "color": BASELINE_COLOR,
                        "data": dots},
                       {"name": model_label, "type": "line", "showSymbol": False, "color": SCENARIO_COLOR,
                        "lineStyle": {"width": 2, "color": SCENARIO_COLOR}, "data": line}]}


def residual_options(name: str, unit: str, result: Mapping[str, Any], x_name: str = "") -> dict[str, Any]:
    """One output's residual (measured − model) of a residual analysis (``ResidualReport.as_dict``) over time: the
    anomalous rows as red dots over it, the fault episodes as red bands and the end of the healthy reference as a
    dashed line."""
    times, residual, anomalous = result["time"], result["residual"][name], result["anomalous"]
    stop = float(times[-1]) if times else 0.0
    divisor = time_axis(stop)[0]
    flagged = [i for i, f in enumerate(anomalous) if f and _finite(residual[i])]
    flagged = flagged[::max(1, math.ceil(len(flagged) / CHART_POINTS))]
    half = (times[1] - times[0]) / 2 if len(times) > 1 else 0.0  # a one-row episode is a band one row wide
    bands = [[{"xAxis": round((e["start"] - half) / divisor, 6)}, {"xAxis": round((e["end"] + half) / divisor, 6)}]
             for e in result.get("episodes", [])]
    ref = int(result.get("referenceRows") or 0)
    line: dict[str, Any] = {
        "name": "residual", "type": "line", "showSymbol": False, "color": SCENARIO_COLOR,
        "lineStyle": {"width": 1.5, "color": SCENARIO_COLOR}, "data": _points(times, residual, divisor),
        "markArea": {"silent": True, "itemStyle": {"color": EPISODE_BAND}, "data": bands}}
    if 0 < ref <= len(times):
        line["markLine"] = {"silent": True, "symbol": "none", "animation": False,
                            "lineStyle": {"type": "dashed", "color": REFERENCE_COLOR},
                            "label": {"formatter": "end of reference", "position": "end", "color": REFERENCE_COLOR},
                            "data": [{"xAxis": round(times[ref - 1] / divisor, 6)}]}
    return {**measured_axes(f"{name} residual", unit, stop, x_name),
            "series": [line, {"name": "anomalous", "type": "scatter", "symbolSize": 4, "color": ANOMALY_COLOR,
                              "data": [[round(times[i] / divisor, 6), residual[i]] for i in flagged]}]}


def final_rows(base: Mapping[str, Any], scen: Mapping[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for name, b in base.get("final", {}).items():
        s = scen.get("final", {}).get(name)
        diff = s - b if isinstance(s, int | float) and isinstance(b, int | float) else None
        rows.append({"key": safe_id(name), "output": name, "unit": scen.get("units", {}).get(name) or "–",
                     "baseline": number(b), "scenario": number(s),
                     "difference": "–" if diff is None else f"{diff:+.4g}"})
    return rows


def changes(settable_vars: Sequence[Mapping[str, Any]], base: Mapping[str, Any], scen: Mapping[str, Any]) -> str:
    """'UA 500 → 250 W/K · Q_hvac 0 → 1000 W': what the scenario changes, so a result says what it answers."""
    parts = []
    for v in settable_vars:
        name = str(v["name"])
        if base.get(name) != scen.get(name):
            unit = f" {v['unit']}" if v.get("unit") else ""
            parts.append(f"{name} {number(base.get(name))} → {number(scen.get(name))}{unit}")
    return " · ".join(parts) if parts else "The scenario equals the baseline."


def csv_bytes(run: Mapping[str, Any]) -> bytes:
    """Time and every recorded output at every step, units in the header (as spreadsheet users expect)."""
    names = list(run["columns"])
    units = run.get("units", {})
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["time [s]", *(f"{n} [{units[n]}]" if units.get(n) else n for n in names)])
    for i, t in enumerate(run["time"]):
        writer.writerow([repr(float(t)), *(repr(float(run["columns"][n][i])) for n in names)])
    return out.getvalue().encode()


def file_stem(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "fmu"


# --- Uncertainty (Monte Carlo) runs: the answer of FmuLibrary.ensemble ---------------------------------------------

# The tooltip of a band chart: a stacked band's own value is its width, so its points carry the real low and high
# (third and fourth numbers) and the tooltip shows those; the invisible series under each band is left out.
# TIME_UNIT is replaced by the axis's unit (h or s).
BAND_TOOLTIP = """(ps) => { const f = (v) => v == null ? '–' : String(+Number(v).toPrecision(5));
  let s = ps.length ? ps[0].axisValueLabel + ' TIME_UNIT' : '';
  for (const p of ps) {
    if (p.value.length > 3) s += `<br/>${p.marker}${p.seriesName}: ${f(p.value[2])} – ${f(p.value[3])}`;
    else if (p.seriesName === 'median') s += `<br/>${p.marker}median: ${f(p.value[1])}`;
  }
  return s; }"""


def _width(low: float | None, high: float | None) -> float | None:
    return None if low is None or high is None else high - low  # null: a gap, where the model gave NaN


def band_options(name: str, unit: str, result: Mapping[str, Any]) -> dict[str, Any]:
    """One output of an ensemble over time: the median over its 25–75 % and 5–95 % bands.

    ECharts has no band series; the usual trick is an invisible line at the band's low edge with the band's width
    stacked on it and filled ("stackStrategy all": stacking must also work where the values are negative)."""
    divisor, x_name = time_axis(float(result.get("stopTime") or 0.0))
    times, band = result["time"], result["bands"][name]
    keep = _kept(len(times))
    xs = [round(times[i] / divisor, 6) for i in keep]
    # No symbol, not even on hover: a dot on an invisible edge would look like a stray data point.
    edge: dict[str, Any] = {"type": "line", "symbol": "none", "silent": True, "stackStrategy": "all",
                            "lineStyle": {"opacity": 0}}
    series: list[dict[str, Any]] = []
    for label, low, high, color in (("5–95 %", "p5", "p95", OUTER_BAND), ("25–75 %", "p25", "p75", INNER_BAND)):
        lo, hi = band[low], band[high]
        series.append({**edge, "name": f"{low[1:]} %", "stack": label,
                       "data": [[x, lo[i]] for x, i in zip(xs, keep, strict=True)]})
        series.append({**edge, "name": label, "stack": label, "color": color,
                       "areaStyle": {"color": color, "opacity": 1},
                       "data": [[x, _width(lo[i], hi[i]), lo[i], hi[i]] for x, i in zip(xs, keep, strict=True)]})
    series.append({"name": "median", "type": "line", "showSymbol": False, "color": SCENARIO_COLOR,
                   "lineStyle": {"width": 2, "color": SCENARIO_COLOR},
                   "data": [[x, band["p50"][i]] for x, i in zip(xs, keep, strict=True)]})
    tooltip = BAND_TOOLTIP.replace("TIME_UNIT", "h" if divisor == 3600.0 else "s")
    return {"animation": False, "tooltip": {"trigger": "axis", ":formatter": tooltip},
            "legend": {"top": 0, "data": [{"name": "median"}, {"name": "25–75 %", "icon": "rect"},
                                          {"name": "5–95 %", "icon": "rect"}]},
            "grid": {"left": 64, "right": 24, "top": 40, "bottom": 44},
            "xAxis": {"type": "value", "name": x_name, "nameLocation": "middle", "nameGap": 26,
                      "min": "dataMin", "max": "dataMax"},
            "yAxis": {"type": "value", "name": f"{name} [{unit}]" if unit else name, "scale": True},
            "series": series}


def ensemble_final_rows(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    units = result.get("units", {})
    return [{"key": safe_id(name), "output": name, "unit": units.get(name) or "–",
             **{k: number(stats.get(k)) for k in ("p50", "p5", "p95", "mean", "sd")}}
            for name, stats in result.get("final", {}).items()]


def percent(share: float) -> str:
    """38 %; never a rounded 0 % or 100 % for a share that is neither (one run in 300 is not 'none')."""
    if 0 < share < 0.005:
        return "under 1 %"
    if 0.995 < share < 1:
        return "over 99 %"
    return f"{share * 100:.0f} %"


def runs_text(count: int) -> str:
    return "1 run" if count == 1 else f"{count:,} runs"


def exceedance_lines(result: Mapping[str, Any], limits: Mapping[str, tuple[str, float]]) -> list[str]:
    """'T goes above 25 degC in 38 % of the 100 runs'. The answer does not repeat the limits, so the page passes
    the ones it asked for; the share is of the runs the model accepted."""
    lines = []
    for name, share in result.get("exceedance", {}).items():
        if name not in limits or share is None:
            continue
        side, level = limits[name]
        unit = result.get("units", {}).get(name)
        runs = int(result.get("samples", 0))
        lines.append(f"{name} goes {side} {number(level)}{' ' + unit if unit else ''} in {percent(float(share))} "
                     f"of the {runs_text(runs)}")
    return lines


def refused_text(failed: int) -> str:
    return f"{runs_text(failed)} refused by the model (left out of the statistics)" if failed else ""


def spread_text(settable_vars: Sequence[Mapping[str, Any]], vary: Mapping[str, Mapping[str, Any]],
                values: Mapping[str, Any]) -> str:
    """'UA normal (mean 500, sd 100) W/K · Q_hvac 1000 W': what varied and what was held at another value than the
    model's own, so a result says what it answers."""
    parts = []
    for v in settable_vars:
        name = str(v["name"])
        unit = f" {v['unit']}" if v.get("unit") else ""
        if name in vary:
            spec = vary[name]
            params = ", ".join(f"{k} {number(x)}" for k, x in spec.items() if k != "dist")
            parts.append(f"{name} {spec.get('dist')} ({params}){unit}")
        elif name in values and values[name] != v.get("start"):
            parts.append(f"{name} {number(values[name])}{unit}")
    return " · ".join(parts)


def band_csv_bytes(result: Mapping[str, Any]) -> bytes:
    """Time and, per output, its percentile bands and mean at every step (T_p5 … T_p95, T_mean), units in the
    header; a value the model left undefined is an empty cell."""
    bands, units = result["bands"], result.get("units", {})
    keys = (*PERCENTILES, "mean")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["time [s]", *(f"{n}_{k} [{units[n]}]" if units.get(n) else f"{n}_{k}"
                                   for n in bands for k in keys)])
    for i, t in enumerate(result["time"]):
        writer.writerow([repr(float(t)), *("" if bands[n][k][i] is None else repr(float(bands[n][k][i]))
                                           for n in bands for k in keys)])
    return out.getvalue().encode()
