"""Run a physics model over a time span: the co-simulation loop shared by the CLI, the API and what-if forks.

Communication points are ``start, start + step, …, stop`` (the last step shortened to land on ``stop``); inputs
are held constant over each step (zero-order hold) at the value the input table has at the step's start.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from tvilling.core.errors import Problem, ValidationError
from tvilling.core.physics import check_values
from tvilling.ports.physics import PhysicsModel

# A run longer than this is almost always a step size given in the wrong unit (ms for s); say so instead of
# filling memory. Callers with a reason may pass a larger ``max_steps``.
MAX_STEPS = 1_000_000


@dataclass(frozen=True)
class InputTable:
    """Input values over time: row ``i`` holds from ``times[i]`` until the next row's time."""

    times: tuple[float, ...]
    columns: Mapping[str, tuple[float, ...]]

    @classmethod
    def from_rows(cls, times: Sequence[float], columns: Mapping[str, Sequence[float]], *,
                  where: str = "input") -> InputTable:
        problems: list[Problem] = []
        for i, t in enumerate(times):
            if not math.isfinite(t):
                problems.append(Problem(f"time {t!r} is not a finite number", where=f"{where} row {i + 1}"))
            elif i and t <= times[i - 1]:
                problems.append(Problem(f"times must increase, but {t:g} follows {times[i - 1]:g}",
                                        where=f"{where} row {i + 1}", hint="sort the rows by time"))
        for name, values in columns.items():
            if len(values) != len(times):
                problems.append(Problem(f"column {name!r} has {len(values)} values for {len(times)} times",
                                        where=where))
            bad = next((i for i, v in enumerate(values) if not math.isfinite(v)), None)
            if bad is not None:
                problems.append(Problem(f"column {name!r} has a missing or non-finite value",
                                        where=f"{where} row {bad + 1}", hint="give every input a number in every row"))
        if not times:
            problems.append(Problem("the input table has no rows", where=where))
        if problems:
            raise ValidationError(problems[0].message if len(problems) == 1 else
                                  f"{len(problems)} problems in the input table: {problems[0].message}; …",
                                  where=problems[0].where, hint=problems[0].hint, problems=problems)
        return cls(tuple(float(t) for t in times), {k: tuple(float(v) for v in vs) for k, vs in columns.items()})

    def at(self, t: float) -> dict[str, float]:
        """The values holding at time ``t``; before the first row, the first row's (the model starts from them)."""
        i = max(bisect.bisect_right(self.times, t + 1e-9 * max(1.0, abs(t))) - 1, 0)
        return {name: values[i] for name, values in self.columns.items()}


@dataclass
class SimulationResult:
    """Recorded values: ``columns[name][k]`` at ``times[k]``; ``units`` per column where the model declares one."""

    times: list[float] = field(default_factory=list)
    columns: dict[str, list[float]] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)

    def final(self) -> dict[str, float]:
        return {name: values[-1] for name, values in self.columns.items() if values}


@dataclass(frozen=True)
class Span:
    """Where and how finely to run: resolved from the caller's choice, else the model's default experiment."""

    start: float
    stop: float
    step: float

    @property
    def steps(self) -> int:
        return max(math.ceil((self.stop - self.start) / self.step - 1e-9), 0)

    def points(self) -> list[float]:
        """The communication points: ``start + k·step`` and, last, ``stop``."""
        return [self.start + k * self.step for k in range(self.steps)] + [self.stop]


def resolve_span(model: PhysicsModel, *, start_time: float | None = None, stop_time: float | None = None,
                 step: float | None = None, max_steps: int = MAX_STEPS) -> Span:
    default = model.default_experiment
    start = start_time if start_time is not None else (default.start_time or 0.0)
    stop = stop_time if stop_time is not None else (default.stop_time if default.stop_time is not None
                                                    else start + 1.0)
    size = step if step is not None else (default.step_size or (stop - start) / 500 or 1.0)
    for name, value in (("start time", start), ("stop time", stop), ("step", size)):
        if not math.isfinite(value):
            raise ValidationError(f"the {name} must be a finite number, got {value!r}", where=name)
    if stop <= start:
        raise ValidationError(f"the stop time ({stop:g} s) must be after the start time ({start:g} s)",
                              where="stop time", hint=f"give a stop time greater than {start:g} s")
    if size <= 0:
        raise ValidationError(f"the step must be > 0, got {size:g}", where="step",
                              hint=f"the model suggests {default.step_size:g} s" if default.step_size else "")
    span = Span(start, stop, size)
    if span.steps > max_steps:
        raise ValidationError(f"{span.steps} steps of {size:g} s from {start:g} to {stop:g} s is more than the "
                              f"limit of {max_steps}", where="step",
                              hint=f"use a step of at least {(stop - start) / max_steps:g} s")
    return span


def simulate(model: PhysicsModel, span: Span, *, values: Mapping[str, float] | None = None,
             inputs: InputTable | None = None, record: Sequence[str] | None = None,
             on_step: Callable[[int, int], None] | None = None) -> SimulationResult:
    """Initialise ``model`` with ``values`` (parameters and inputs' start values) and run it over ``span``.

    ``record`` names the outputs to keep (default: every output). ``on_step(done, total)`` reports progress.
    """
    return simulate_at(model, span.points(), values=values, inputs=inputs, record=record, on_step=on_step)


def simulate_at(model: PhysicsModel, times: Sequence[float], *, values: Mapping[str, float] | None = None,
                inputs: InputTable | None = None, record: Sequence[str] | None = None,
                on_step: Callable[[int, int], None] | None = None) -> SimulationResult:
    """:func:`simulate` on given communication points (increasing), such as the sample times of measurements."""
    outputs = [v for v in model.variables if v.causality == "output"]
    if record:
        check_values(model.variables, dict.fromkeys(record, 0.0), causalities=("output",), what="recorded outputs")
    if inputs is not None:
        check_values(model.variables, dict.fromkeys(inputs.columns, 0.0), causalities=("input",),
                     what="input table's columns")
    first = inputs.at(times[0]) if inputs is not None else {}
    model.initialize({**(values or {}), **first}, start_time=times[0], stop_time=times[-1])
    now = model.outputs()  # numbers only: a string or array output is declared but cannot be recorded
    names = list(record) if record else [v.name for v in outputs if v.name in now]
    missing = [name for name in names if name not in now]
    if missing:
        raise ValidationError(f"{', '.join(missing)} cannot be recorded: not a number", where=missing[0],
                              hint="record numeric outputs: " + ", ".join(now))
    units = {v.name: v.unit for v in outputs if v.name in names and v.unit}
    result = SimulationResult(units=units)
    _record(result, times[0], now, names)
    total = len(times) - 1
    for k in range(1, total + 1):
        now = model.step(times[k] - times[k - 1], inputs.at(times[k - 1]) if inputs is not None else None)
        _record(result, times[k], now, names)
        if on_step is not None:
            on_step(k, total)
    return result


def _record(result: SimulationResult, t: float, outputs: Mapping[str, float], names: Sequence[str]) -> None:
    result.times.append(t)
    for name in names:
        result.columns.setdefault(name, []).append(float(outputs[name]))
