"""What the Scenarios page's measurement cards share (calibration, :mod:`scenarios_calibrate`; residuals,
:mod:`scenarios_residuals`): the CSV upload, its time column (seconds, or ISO 8601 timestamps counted from the first
row), the form that maps CSV columns to the model's inputs and outputs, the mapped columns as the engine's checked
``Measurements``, and the card's Run button with its spinner, disabled with the reason for a role that may not run.

The CSV is read as the ``tvilling fmu`` commands read it (re-implemented: front-ends do not import each other), and
checked by the engine's ``Measurements.from_columns``, in its own words.
"""

from __future__ import annotations

import asyncio
import functools
import io
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import pandas as pd
from nicegui import events, ui

from tvilling.app.auth import Principal
from tvilling.app.fmu_runner import SimulationRequest
from tvilling.core.errors import TvillingError, ValidationError
from tvilling.core.roles import Role
from tvilling.dashboard.pages import scenarios_chart as sc
from tvilling.dashboard.pages.scenarios_run import guarded_runs
from tvilling.simulation.calibrate import Measurements

NONE = ""  # the "no column" choice of a mapping select (a CSV header is never empty: pandas names it "Unnamed")
TIME_NAMES = ("time", "timestamp", "datetime")
Done = tuple[dict[str, Any], SimulationRequest, datetime | None]  # a card's run: answer, request, time origin


def read_csv(data: bytes, name: str) -> pd.DataFrame:
    """The uploaded table, comma- or semicolon-separated (a European spreadsheet's export), headers as text."""
    hint = "a header row, then one row per sample: the time and the measured signals, separated by commas"
    try:
        frame = pd.read_csv(io.BytesIO(data))
        if len(frame.columns) == 1 and ";" in str(frame.columns[0]):
            frame = pd.read_csv(io.BytesIO(data), sep=";", decimal=",")
    except (ValueError, OSError) as exc:  # pandas' parser, decoding and empty-file errors are all ValueErrors
        raise ValidationError(f"{name} is not a readable CSV: {exc}", hint=hint) from None
    if len(frame.columns) < 2 or frame.empty:
        raise ValidationError(f"{name} is not a table of measurements ({len(frame)} rows, {len(frame.columns)} "
                              "column" + ("" if len(frame.columns) == 1 else "s") + ")", hint=hint)
    frame.columns = [str(c) for c in frame.columns]
    return frame


def guess_time(columns: Sequence[str]) -> str:
    return next((c for c in columns if c.strip().lower() in TIME_NAMES), columns[0])


def clock(frame: pd.DataFrame, column: str) -> tuple[list[float], datetime | None]:
    """The time column as seconds (numbers as they are, ISO 8601 timestamps counted from the first row) and, for
    timestamps, the instant of time 0 (in UTC; None for seconds)."""
    raw = frame[column]
    numbers = pd.to_numeric(raw, errors="coerce")
    origin = None
    if numbers.isna().any():
        stamps = pd.to_datetime(raw, utc=True, errors="coerce", format="ISO8601")
        if stamps.isna().any():
            line = int(stamps.isna().to_numpy().argmax()) + 2  # the header is line 1
            raise ValidationError(f"the time column {column!r} holds neither seconds nor ISO 8601 times (line "
                                  f"{line})", hint="choose the column that holds the time: seconds, or timestamps "
                                  "such as 2024-03-01T12:00:00Z")
        numbers = (stamps - stamps.iloc[0]).dt.total_seconds()
        origin = stamps.iloc[0].to_pydatetime()
    return [float(t) for t in numbers], origin


def measurements(frame: pd.DataFrame, time_col: str, inputs: Mapping[str, str],
                 outputs: Mapping[str, str]) -> tuple[Measurements, datetime | None]:
    """model variable -> CSV column mappings as the engine's checked Measurements (with the time origin of
    :func:`clock`); a cell that is no number is missing (allowed in an output, refused in an input by the engine,
    with its reason)."""
    def column(name: str) -> list[float]:
        return [float(v) for v in pd.to_numeric(frame[name], errors="coerce")]
    times, origin = clock(frame, time_col)
    return Measurements.from_columns(times, inputs={k: column(c) for k, c in inputs.items()},
                                     outputs={k: column(c) for k, c in outputs.items()}), origin


def number_or_none(element: Any) -> float | None:
    """A number field's value; None where it is empty."""
    value = element.value
    return None if value is None or value == "" else float(value)


class MeasurementsForm:
    """The upload of a CSV of measurements and the form mapping its columns to the model's inputs and outputs,
    and the card around them (:meth:`card`, with the card's own form and its Run button); test ids start with
    ``prefix``. ``need`` and ``what`` are the role the card's action needs and its words ("calibrate FMUs"),
    re-checked when a file arrives and when the card runs (:meth:`run`); ``reason`` is what a role that may not
    run reads ("Calibrating needs engineer; you are viewer.")."""

    def __init__(self, *, prefix: str, entry: Mapping[str, Any], can: bool, reason: str, max_bytes: int, need: Role,
                 what: str, allowed: Callable[[Role, str], Principal | None],
                 explain: Callable[[TvillingError, str], None]) -> None:
        self.prefix, self.can, self.reason, self.max_bytes = prefix, can, reason, max_bytes
        self.need, self.what = need, what
        self.fmu = str(entry.get("id", ""))
        self.allowed, self.explain = allowed, explain
        variables = [v for v in sc.settable(entry.get("variables", [])) if v.get("type") != "Boolean"]
        self.inputs = [v for v in variables if v.get("causality") == "input"]
        self.outputs = [v for v in sc.outputs(entry.get("variables", [])) if v.get("type") != "Boolean"]
        self.frame: pd.DataFrame | None = None
        self.maps: dict[str, Any] = {}  # "time", "in:<name>", "out:<name>" -> its select

    def card(self, title: str, text: str, form: Callable[[], None], run: tuple[str, str, Callable[[], Any]]
             ) -> tuple[ui.button, ui.spinner, ui.column]:
        """The card (``<prefix>-card``): its title, what it does (with the reason, for a role that may not run),
        the upload and its mapping, the card's own ``form``, the Run button ``run`` = (label, icon, handler) with
        its spinner, and an empty, hidden column for the results; (button, spinner, results)."""
        with ui.card().classes("tv-card q-pa-md w-full").props(f"data-testid={self.prefix}-card"):
            ui.label(title).classes("tv-section")
            ui.label(text + ("" if self.can else f" {self.reason}")).classes("tv-muted")
            with ui.row().classes("items-center gap-4 q-mt-sm"):
                self.uploader = ui.upload(label="Measurements CSV", auto_upload=True, max_file_size=self.max_bytes,
                                          on_upload=self.received).props(
                    f"accept=.csv,.txt flat bordered data-testid={self.prefix}-upload").classes("w-72")
                self.uploader.on_rejected(self.rejected)
                self.file = ui.label("No measurements yet.").classes("tv-muted").props(
                    f"data-testid={self.prefix}-file")
            self.mapping = ui.column().classes("w-full gap-1").props(f"data-testid={self.prefix}-mapping")
            form()
            button, spinner = self.run_row(*run)
            results = ui.column().classes("w-full gap-2 q-mt-md").props(f"data-testid={self.prefix}-results")
            results.set_visibility(False)
        if not self.can:
            self.uploader.disable()
        return button, spinner, results

    def run_row(self, label: str, icon: str, on_click: Callable[[], Any]) -> tuple[ui.button, ui.spinner]:
        """The card's Run button (``<prefix>-run``) and its spinner (``<prefix>-running``, hidden); disabled for a
        role that may not run, the span around it (``<prefix>-run-wrap``) giving the reason as a tooltip (a
        disabled button shows none)."""
        with ui.row().classes("items-center gap-3 q-mt-md"):
            with ui.element("span").props(f"data-testid={self.prefix}-run-wrap") as wrap:
                button = ui.button(label, icon=icon, on_click=on_click).props(
                    f"unelevated color=primary data-testid={self.prefix}-run")
            spinner = ui.spinner(size="md").props(f"data-testid={self.prefix}-running")
            spinner.set_visibility(False)
        if not self.can:
            button.disable()
            wrap.tooltip(self.reason)
        return button, spinner

    async def rejected(self) -> None:
        ui.notify(f"Not taken: choose one CSV file of at most {self.max_bytes // 1_048_576} MiB.", type="negative")

    async def received(self, e: events.UploadEventArguments) -> None:
        data, name = await e.file.read(), e.file.name
        self.uploader.reset()  # the same file may be chosen again, after editing it say
        if self.allowed(self.need, self.what) is None:  # a forged upload from a disabled control
            return
        if len(data) > self.max_bytes:  # the uploader's own limit is the browser's word only
            ui.notify(f"{name} was not read: it is larger than {self.max_bytes // 1_048_576} MiB.", type="negative")
            return
        try:
            frame = await asyncio.to_thread(read_csv, data, name)
        except TvillingError as exc:
            self.explain(exc, f"{name} was not read: ")
            return
        self.frame = frame
        columns = list(frame.columns)
        shown = ", ".join(columns[:12]) + (f", … ({len(columns) - 12} more)" if len(columns) > 12 else "")
        self.file.text = f"{name}: {len(frame):,} rows × {len(columns)} columns ({shown})"
        self.mapping_form(columns)

    def mapping_form(self, columns: list[str]) -> None:
        self.maps.clear()
        self.mapping.clear()
        by_name = {c: c for c in columns}
        with self.mapping:
            self.maps["time"] = ui.select(by_name, value=guess_time(columns), label="Time column").props(
                f"dense outlined options-dense data-testid={self.prefix}-time").classes("w-56")
            with ui.grid(columns="max-content minmax(0, 22rem) 16rem").classes("gap-x-4 gap-y-1 items-center"):
                for text in ("Model variable", "Kind", "CSV column"):
                    ui.label(text).classes("tv-section")
                for kind, group, none in (("in", self.inputs, "none — use the model's value"),
                                          ("out", self.outputs, "none — not compared")):
                    for v in group:
                        name = str(v["name"])
                        ui.label(f"{name} [{v['unit']}]" if v.get("unit") else name).classes("text-weight-medium")
                        ui.label(("input, driven by" if kind == "in" else "output, measured by") +
                                 f" · {v.get('description') or ''}").classes("tv-muted")
                        self.maps[f"{kind}:{name}"] = ui.select(
                            {NONE: none, **by_name}, value=name if name in by_name else NONE).props(
                            f"dense outlined options-dense data-testid={self.prefix}-{kind}put-{sc.safe_id(name)}")

    def mapped(self) -> tuple[dict[str, str], dict[str, str]]:
        """(inputs, outputs): model variable -> CSV column, or a ValidationError in the page's words."""
        if self.frame is None:
            raise ValidationError("no measurements yet", hint="upload a CSV of the measured inputs and outputs")
        chosen = {key: str(s.value) for key, s in self.maps.items() if key != "time" and s.value not in (None, NONE)}
        inputs = {k[3:]: c for k, c in chosen.items() if k.startswith("in:")}
        outputs = {k[4:]: c for k, c in chosen.items() if k.startswith("out:")}
        if not outputs:
            raise ValidationError("no measured output to compare with",
                                  hint="map at least one model output to the CSV column that measured it")
        return inputs, outputs

    async def measured(self, inputs: Mapping[str, str],
                       outputs: Mapping[str, str]) -> tuple[Measurements, datetime | None]:
        """The mapped columns as checked Measurements and the time origin (off the event loop)."""
        frame, time_col = self.frame, str(self.maps["time"].value)
        return await asyncio.to_thread(measurements, frame, time_col, inputs, outputs)

    async def run(self, label: str, call: Callable[..., dict[str, Any]],
                  read: Callable[[], tuple[dict[str, str], dict[str, str], dict[str, Any]]], *, button: ui.button,
                  spinner: ui.spinner, refused: str) -> Done | None:
        """The card's run: the role re-checked now (the token may have been revoked since the page loaded), the
        form read by ``read`` ((inputs, outputs, the request's other fields), or a ValidationError / ValueError,
        shown after ``refused``), the mapped measurements, and ``call(request, role=...)`` (a library method) run
        by :func:`guarded_runs` under ``label``. (answer, request, time origin of the data), or None when
        anything failed: it is already shown."""
        principal = self.allowed(self.need, self.what)
        if principal is None:
            return None
        try:
            inputs, outputs, fields = read()
            data, origin = await self.measured(inputs, outputs)
        except TvillingError as exc:
            self.explain(exc, f"{refused}: ")
            return None
        except (TypeError, ValueError) as exc:
            ui.notify(f"{refused}: not a number: {exc}", type="negative")
            return None
        # NaN marks a missing measurement; it travels to the child process as JSON's NaN and back as nothing.
        request = SimulationRequest(input_times=list(data.times), **fields,
                                    input_columns={k: list(v) for k, v in data.inputs.items()},
                                    measured={k: list(v) for k, v in data.outputs.items()})
        answers = await guarded_runs([(label, functools.partial(call, request, role=principal.role))],
                                     button=button, spinner=spinner, explain=self.explain, fmu=self.fmu)
        return None if answers is None else (answers[label], request, origin)
