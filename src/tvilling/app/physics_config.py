"""Which twins run a physics model alongside, as data: ``physics.yaml`` beside the site's ``mappings.yaml`` (or the
file the ``physics_file`` setting names)::

    version: 1
    couplings:
      - model: "dtmi:example:Zone;1"      # twins of this model and of every model extending it
        fmu: fmu-0123456789abcdef         # an FMU of the twin's tenant's library (GET /api/v1/fmus)
        step: 300                         # model step, s; readings are held between steps
        values: {UA: 420.8, C: 6.0e6}     # parameters, e.g. from a calibration (POST …/calibrations)
        start: {T_start: airTemperature}  # parameters set from the twin's measured properties at the start
        inputs:                           # model input <- twin property (scale/offset convert units)
          T_out: outdoorTemperature
          Q_hvac: {property: hvacPower, scale: 1000}
        outputs: {T: airTemperature}      # model output -> the twin property that measures it
        settle_hours: 2                   # after each (re)start, not charted: the model's state settles
        reference_hours: 48               # residuals learned as healthy after that, before alerting
        quiet_hours: 6                    # an episode closes after this long without an anomalous step
        charts: {ewma_weight: 0.1, ewma_limit: 4, point_limit: 5}

Every problem in the document is reported at once (one ``ValidationError`` listing them); with a broken file the
physics service does not start and the server log says why. Whether the FMU exists and declares the named variables
is checked per tenant when a twin's coupling starts (its status says what is wrong).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tvilling.app.documents import read_yaml
from tvilling.core.errors import ValidationError
from tvilling.simulation.residuals import Charts

FMU_ID = re.compile(r"^fmu-[0-9a-f]{16}$")
KEYS = {"model", "fmu", "step", "values", "start", "inputs", "outputs", "settle_hours", "reference_hours",
        "quiet_hours", "charts"}


@dataclass(frozen=True)
class PropertyMap:
    """A twin property and the conversion to the model's unit: ``model value = twin value · scale + offset``."""

    property: str
    scale: float = 1.0
    offset: float = 0.0

    def to_model(self, value: float) -> float:
        return value * self.scale + self.offset

    def to_twin(self, value: float) -> float:
        return (value - self.offset) / self.scale


@dataclass(frozen=True)
class CouplingSpec:
    model: str
    fmu: str
    step: float
    outputs: dict[str, PropertyMap]
    inputs: dict[str, PropertyMap] = field(default_factory=dict)
    values: dict[str, float] = field(default_factory=dict)
    start: dict[str, PropertyMap] = field(default_factory=dict)
    # A model started from measured values (``start``) carries their noise in its state, which decays with the
    # model's own time constants: residuals charted meanwhile would show that transient, not the asset.
    settle_hours: float = 2.0
    reference_hours: float = 48.0
    quiet_hours: float = 6.0
    charts: Charts = field(default_factory=Charts)

    @property
    def reference_rows(self) -> int:
        return max(10, round(self.reference_hours * 3600.0 / self.step))

    def properties(self) -> set[str]:
        """Every twin property the coupling reads."""
        return {m.property for m in (*self.inputs.values(), *self.outputs.values(), *self.start.values())}


@dataclass(frozen=True)
class PhysicsConfig:
    couplings: tuple[CouplingSpec, ...] = ()

    def for_model(self, model_id: str, is_subtype: Any) -> CouplingSpec | None:
        """The first coupling whose model is ``model_id`` or one it extends (``is_subtype(dtmi, base)``)."""
        for spec in self.couplings:
            if model_id == spec.model or is_subtype(model_id, spec.model):
                return spec
        return None


def _positive(raw: Mapping[str, Any], key: str, default: float, where: str, problems: list[str]) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        problems.append(f"{where}.{key}: a positive number is required, got {value!r}")
        return default
    return float(value)


def _non_negative(raw: Mapping[str, Any], key: str, default: float, where: str, problems: list[str]) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        problems.append(f"{where}.{key}: a number >= 0 is required, got {value!r}")
        return default
    return float(value)


def _maps(raw: Any, where: str, problems: list[str], *, required: bool = False) -> dict[str, PropertyMap]:
    if raw is None and not required:
        return {}
    if not isinstance(raw, Mapping) or (required and not raw):
        problems.append(f"{where}: a mapping of model variable -> twin property is required")
        return {}
    out: dict[str, PropertyMap] = {}
    for name, ref in raw.items():
        if isinstance(ref, str) and ref:
            out[str(name)] = PropertyMap(ref)
        elif isinstance(ref, Mapping) and isinstance(ref.get("property"), str) and ref["property"] and set(ref) <= {
                "property", "scale", "offset"}:
            scale, offset = _float(ref.get("scale", 1.0)), _float(ref.get("offset", 0.0))
            if scale is None or offset is None or scale == 0:
                problems.append(f"{where}.{name}: scale (non-zero) and offset must be numbers")
                continue
            out[str(name)] = PropertyMap(ref["property"], scale, offset)
        else:
            problems.append(f"{where}.{name}: a property name or {{property, scale, offset}} is required, "
                            f"got {ref!r}")
    return out


def _values(raw: Any, where: str, problems: list[str]) -> dict[str, float]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        problems.append(f"{where}: a mapping of parameter -> number is required")
        return {}
    out: dict[str, float] = {}
    for name, value in raw.items():
        number = _float(value)
        if number is None:
            problems.append(f"{where}.{name}: a number is required, got {value!r}")
        else:
            out[str(name)] = number
    return out


def _float(value: Any) -> float | None:
    """A finite number; also the text of one, because YAML 1.1 (PyYAML) reads ``6.0e6`` — without a sign in the
    exponent — as a string, and engineers write parameters that way."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


def _charts(raw: Any, where: str, problems: list[str]) -> Charts:
    if raw is None:
        return Charts()
    if not isinstance(raw, Mapping) or not set(raw) <= {"ewma_weight", "ewma_limit", "point_limit"}:
        problems.append(f"{where}: a mapping of ewma_weight, ewma_limit, point_limit is required")
        return Charts()
    d = Charts()
    charts = Charts(ewma_weight=_positive(raw, "ewma_weight", d.ewma_weight, where, problems),
                    ewma_limit=_positive(raw, "ewma_limit", d.ewma_limit, where, problems),
                    point_limit=_positive(raw, "point_limit", d.point_limit, where, problems))
    try:
        charts.check()
    except ValidationError as exc:
        problems.append(f"{where}: {exc.message}")
    return charts


def parse_config(doc: Any) -> PhysicsConfig:
    if not isinstance(doc, Mapping) or not isinstance(doc.get("couplings"), list):
        raise ValidationError("a physics document needs a 'couplings' list", where="couplings")
    problems: list[str] = []
    specs: list[CouplingSpec] = []
    for i, raw in enumerate(doc["couplings"]):
        where = f"couplings[{i}]"
        if not isinstance(raw, Mapping):
            problems.append(f"{where}: a mapping is required")
            continue
        unknown = sorted(set(raw) - KEYS)
        if unknown:
            problems.append(f"{where}: unknown key(s) {', '.join(map(str, unknown))} "
                            f"(known: {', '.join(sorted(KEYS))})")
        model, fmu = raw.get("model"), raw.get("fmu")
        if not isinstance(model, str) or not model.startswith("dtmi:"):
            problems.append(f"{where}.model: a DTMI is required, got {model!r}")
        if not isinstance(fmu, str) or not FMU_ID.match(fmu):
            problems.append(f"{where}.fmu: an FMU id (fmu- and 16 hex digits, GET /api/v1/fmus) is required, "
                            f"got {fmu!r}")
        outputs = _maps(raw.get("outputs"), f"{where}.outputs", problems, required=True)
        inputs = _maps(raw.get("inputs"), f"{where}.inputs", problems)
        both = sorted(set(inputs) & set(outputs))
        if both:
            problems.append(f"{where}: {', '.join(both)} cannot be both an input and an output")
        specs.append(CouplingSpec(
            model=str(model), fmu=str(fmu), step=_positive(raw, "step", 300.0, where, problems), outputs=outputs,
            inputs=inputs, values=_values(raw.get("values"), f"{where}.values", problems),
            start=_maps(raw.get("start"), f"{where}.start", problems),
            settle_hours=_non_negative(raw, "settle_hours", 2.0, where, problems),
            reference_hours=_positive(raw, "reference_hours", 48.0, where, problems),
            quiet_hours=_positive(raw, "quiet_hours", 6.0, where, problems),
            charts=_charts(raw.get("charts"), f"{where}.charts", problems)))
    if problems:
        raise ValidationError(f"{len(problems)} problem(s) in the physics document: " + "; ".join(problems),
                              where="physics")
    return PhysicsConfig(tuple(specs))


def load_config(path: str | Path) -> PhysicsConfig:
    return parse_config(read_yaml(path, "the physics document"))
