"""Detect on a CSV: upload a table of signals from a test rig or a historian export, score every row for anomalies
(what ``tvilling detect`` and ``POST /api/v1/detect`` run, :mod:`tvilling.app.offline_detect`), and see the score,
the flagged rows and the episodes with their signals and reasons; download the scored CSV. Nothing is stored.
Any signed-in role may use it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from nicegui import ui
from starlette.requests import Request
from starlette.responses import RedirectResponse

from tvilling.app.offline_detect import DetectOptions, DetectReport, detect, read_table
from tvilling.core.errors import TvillingError
from tvilling.dashboard import shell

MAX_UPLOAD_BYTES = 50 * 1024 * 1024
CHART_POINTS = 4000
SEPARATORS = {",": "comma  ,", ";": "semicolon  ;", "\t": "tab"}
EPISODE_COLUMNS: list[dict[str, Any]] = [
    {"name": "since", "label": "Since", "field": "since", "align": "left"},
    {"name": "last", "label": "Last", "field": "last", "align": "left"},
    {"name": "signals", "label": "Signals", "field": "signals", "align": "left"},
    {"name": "reasons", "label": "Why", "field": "reasons", "align": "left"},
    {"name": "peak_score", "label": "Peak score", "field": "peak_score", "align": "right"},
]


def chart_options(report: DetectReport | None) -> dict[str, Any]:
    """Score per row, the threshold, and the flagged rows marked on the score line."""
    if report is None:
        return {"xAxis": {"type": "category", "data": []}, "yAxis": {"type": "value"}, "series": []}
    # A long table is drawn as at most CHART_POINTS buckets: each the largest score of its rows, flagged when any
    # of its rows is (so no flag disappears from the picture).
    step = max(1, -(-report.rows // CHART_POINTS))
    starts = range(0, report.rows, step)
    times = [str(report.times[i]) for i in starts]
    scores = [round(float(report.result.scores[i:i + step].max()), 4) for i in starts]
    hit = [bool(report.result.is_anomaly[i:i + step].any()) for i in starts]
    flagged = [[times[k], scores[k]] for k in range(len(times)) if hit[k]]
    train_end = times[min(max(report.result.train_rows - 1, 0) // step, len(times) - 1)]
    return {
        "animation": False, "tooltip": {"trigger": "axis"}, "legend": {"top": 0},
        "grid": {"left": 50, "right": 70, "top": 30, "bottom": 60},
        "xAxis": {"type": "category", "data": times}, "yAxis": {"type": "value", "min": 0, "max": 1},
        "dataZoom": [{"type": "inside"}, {"type": "slider"}],
        "series": [
            {"name": "anomaly score", "type": "line", "data": scores, "showSymbol": False, "lineStyle": {"width": 1},
             "markLine": {"silent": True, "symbol": "none", "data": [{"yAxis": round(report.result.threshold, 4)}],
                          "label": {"formatter": "threshold"}},
             "markArea": {"silent": True, "itemStyle": {"color": "rgba(120,120,120,0.08)"},
                          "data": [[{"xAxis": times[0]}, {"xAxis": train_end}]]}},
            {"name": "flagged", "type": "scatter", "data": flagged, "symbolSize": 4, "itemStyle": {"color": "#c62828"}},
        ],
    }


@ui.page("/detect", title="Tvilling · detect on a CSV")
async def detect_page(request: Request) -> RedirectResponse | None:
    session = shell.session_or_redirect(request)
    if isinstance(session, RedirectResponse):
        return session
    shell.frame(session, "/detect", "Detect on a CSV")
    upload: dict[str, Any] = {"name": "", "data": b""}
    last: dict[str, DetectReport | None] = {"report": None}

    with ui.column().classes("w-full q-pa-md gap-4"):
        with ui.card().classes("tv-card q-pa-md w-full"):
            ui.label("Anomalies in a table of signals").classes("tv-title")
            ui.label("One row per time step, one numeric column per signal. The leading training rows are taken as "
                     "normal operation; every later row is scored against them and against its own recent "
                     "history. Nothing is stored.").classes("tv-muted")
            with ui.row().classes("w-full items-end gap-4"):
                shell.file_upload("CSV file", upload, "detect", max_bytes=MAX_UPLOAD_BYTES)
                sep = ui.select(SEPARATORS, value=",", label="Separator").props("dense data-testid=detect-sep"
                                                                                ).classes("w-36")
                decimal = ui.select({".": "point  .", ",": "comma  ,"}, value=".", label="Decimal mark").props(
                    "dense data-testid=detect-decimal").classes("w-32")
                time_col = ui.input("Time column (optional)").props("dense data-testid=detect-time").classes("w-44")
                exclude = ui.input("Exclude columns (comma-separated)").props(
                    "dense data-testid=detect-exclude").classes("w-64")
                train_rows = ui.number("Training rows (default 20 %)", min=0, precision=0).props(
                    "dense data-testid=detect-train").classes("w-52")
                label_col = ui.input("Label column (optional)").props("dense data-testid=detect-label").classes(
                    "w-44")
                run = ui.button("Detect", icon="query_stats").props("unelevated color=primary data-testid=detect-run")
            error = ui.label("").classes("text-negative").props("data-testid=detect-error")
        with ui.card().classes("tv-card q-pa-md w-full") as results:
            with ui.row().classes("w-full items-center gap-6"):
                kpis = ui.row().classes("gap-6")
                ui.space()
                download = ui.button("Scored CSV", icon="download", on_click=lambda: save()).props(
                    "outline dense data-testid=detect-download")
            chart = ui.echart(chart_options(None)).classes("w-full").style("height: 320px").props(
                "data-testid=detect-chart")
            ui.label("Episodes").classes("tv-section")
            episodes = ui.table(columns=EPISODE_COLUMNS, rows=[], row_key="since", pagination={"rowsPerPage": 10}
                                ).props("flat dense wrap-cells data-testid=detect-episodes").classes("w-full")
        results.set_visibility(False)

    def save() -> None:
        report = last["report"]
        if report is not None:
            stem = (upload["name"] or "table").rsplit(".", 1)[0]
            ui.download.content(report.csv_bytes(), f"{stem}-scores.csv", "text/csv")

    async def start() -> None:
        error.text = ""
        if not upload["data"]:
            error.text = "Choose a CSV file first."
            return
        options = DetectOptions(sep=str(sep.value or ","), decimal=str(decimal.value or "."),
                                time_col=(time_col.value or "").strip() or None,
                                exclude=(exclude.value or "").split(","),
                                train_rows=int(train_rows.value) if train_rows.value not in (None, "") else None,
                                label_col=(label_col.value or "").strip() or None)
        name = str(upload["name"])
        run.props("loading")
        try:
            options.check()
            report = await asyncio.to_thread(lambda: detect(
                read_table(upload["data"], options.sep, name=name, decimal=options.decimal), options, name=name))
        except TvillingError as exc:
            error.text = str(exc)
            return
        finally:
            run.props(remove="loading")
        last["report"] = report
        summary = report.summary()
        kpis.clear()
        with kpis:
            shell.kpi("Rows", f"{summary['rows']:,}")
            shell.kpi("Signals", str(len(summary["columns"])))
            shell.kpi("Training rows", f"{summary['train_rows']:,}")
            shell.kpi("Anomalous rows", f"{summary['anomalies']:,}", mark="detect-anomalies")
            shell.kpi("Episodes", str(len(report.result.alerts)))
            if "evaluation" in summary:  # against the label column, after the training rows
                ev = summary["evaluation"]
                shell.kpi("F1 vs labels", shell.fmt(ev["f1"]), mark="detect-f1")
                shell.kpi("False alarms", f"{100 * (ev['false_alarm_rate'] or 0):.1f} %")
                shell.kpi("Missed", f"{100 * (ev['missed_alarm_rate'] or 0):.1f} %")
        chart.options.clear()
        chart.options.update(chart_options(report))
        chart.update()
        episodes.rows = [{"since": str(e["since"]), "last": str(e["last"]), "signals": ", ".join(e["signals"]),
                          "reasons": ", ".join(e["reasons"]), "peak_score": f"{e['peak_score']:.3f}"}
                         for e in summary["episodes"]]
        episodes.update()
        download.enable()
        results.set_visibility(True)

    run.on_click(start)
    return None
