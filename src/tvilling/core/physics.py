"""Domain types of physics models: what a model's variables are, as FMI describes them.

Native models and FMUs describe themselves with the same :class:`Variable`, so front-ends can list parameters,
inputs and outputs without knowing which kind of model is behind them.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from tvilling.core.errors import Problem, ValidationError

Causality = Literal["parameter", "calculatedParameter", "input", "output", "local", "independent",
                    "structuralParameter"]


@dataclass(frozen=True)
class Variable:
    """One model variable. ``unit`` is the unit of its values (FMI ``unit``/``declaredType``), "" when none."""

    name: str
    causality: str
    type: str = "Real"  # Real/Float64, Integer, Boolean, String, …
    unit: str = ""
    start: Any = None
    description: str = ""
    variability: str = "continuous"

    @property
    def settable(self) -> bool:
        """True where a value may be given before a run (a parameter or an input's start value)."""
        return self.causality in ("parameter", "input", "structuralParameter")

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "causality": self.causality, "type": self.type, "unit": self.unit,
                "start": self.start, "description": self.description, "variability": self.variability}


@dataclass(frozen=True)
class Experiment:
    """A model's suggested run (FMI ``DefaultExperiment``); each field is None where the model says nothing.
    Times in the model's time unit (seconds for every FMU we know)."""

    start_time: float | None = None
    stop_time: float | None = None
    step_size: float | None = None

    def as_dict(self) -> dict[str, float | None]:
        return {"startTime": self.start_time, "stopTime": self.stop_time, "stepSize": self.step_size}


def check_values(variables: Sequence[Variable], values: Mapping[str, Any], *, causalities: Iterable[str],
                 what: str) -> dict[str, float]:
    """Every name known and of an allowed causality, every value a finite number (true/false → 1/0).

    Raises one ValidationError listing every problem at once, each naming the variable and what would be valid.
    """
    allowed = set(causalities)
    by_name = {v.name: v for v in variables}
    problems: list[Problem] = []
    out: dict[str, float] = {}
    for name, raw in values.items():
        var = by_name.get(name)
        if var is None:
            near = difflib.get_close_matches(name, list(by_name), n=3)
            hint = f"did you mean {', '.join(near)}?" if near else \
                f"possible: {', '.join(v.name for v in variables if v.causality in allowed) or 'none'}"
            problems.append(Problem(f"the model has no variable {name!r}", where=name, hint=hint))
            continue
        if var.causality not in allowed:
            problems.append(Problem(f"{name!r} is {_article(var.causality)} {var.causality}; it cannot be set as "
                                    f"{what}", where=name,
                                    hint=f"possible: {', '.join(v.name for v in variables if v.causality in allowed)}"))
            continue
        number = _number(raw)
        if number is None:
            problems.append(Problem(f"{name!r} must be a finite number, got {raw!r}", where=name,
                                    hint=f"for example {name}={var.start if var.start is not None else 1.0}"))
            continue
        out[name] = number
    if problems:
        raise ValidationError(problems[0].message if len(problems) == 1 else
                              f"{len(problems)} problems with the {what}: " + "; ".join(p.message for p in problems),
                              where=problems[0].where, hint=problems[0].hint, problems=problems)
    return out


def _number(raw: Any) -> float | None:
    if isinstance(raw, bool):
        return 1.0 if raw else 0.0
    if isinstance(raw, str):
        text = raw.strip().lower()
        if text in ("true", "false"):
            return 1.0 if text == "true" else 0.0
    try:
        number = float(raw)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"
