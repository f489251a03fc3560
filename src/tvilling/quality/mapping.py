"""Point mappings as data (architecture guideline 4): source address -> twin property, with unit and limits.

A mapping file is YAML (or the equivalent JSON value)::

    version: 1
    tenant: default
    defaults: {expected_period_s: 1.0}          # applied to every point unless it says otherwise
    topics:
      - topic: plant/filler-1/telemetry          # an MQTT topic (or any source address: NodeId, HTTP source)
        device: filler-1                         # optional: payload ``device_id`` must match (impersonation, S-05)
        time_pointer: /source_ts                 # JSON pointer to the source timestamp (default /source_ts)
        points:
          - pointer: /points/temperature         # JSON pointer to the value
            twin: filler-1
            name: temperature
            unit: degreeCelsius                  # the twin's unit; incoming values are converted to it
            instrument_range: [-50, 250]         # outside -> Bad, quarantined
            engineering_range: [0, 120]          # outside -> Uncertain, stored
            max_rate: 5.0                        # units per second; faster changes are spikes
            may_be_constant: false               # false -> stuck detection applies
            expected_period_s: 1.0               # for staleness

An OPC UA row names ``node_id: "ns=2;s=Line1.Speed"`` instead of ``topic`` + ``pointer`` (the variant value is the
point; see adapters/opcua.py).

The unit of an incoming value comes from ``source_unit`` (fixed) or from ``unit_pointer``, which defaults to
``/units/<name>`` when the value pointer is ``/points/<name>`` (the virtual plant's payload shape).
The whole document is validated at once and every problem is reported (``ValidationError.problems``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from tvilling.core.errors import Problem, ValidationError
from tvilling.quality.units import UnitError, canonical_unit, converter

_POINT_KEYS = {
    "pointer", "unit_pointer", "twin", "name", "kind", "type", "unit", "source_unit", "unit_required", "scale",
    "offset", "deadband", "instrument_range", "engineering_range", "max_rate", "may_be_constant",
    "expected_period_s", "stale_k", "stale_grace_s", "stuck_samples", "stuck_seconds",
}
_TOPIC_KEYS = {"topic", "node_id", "device", "time_pointer", "seq_pointer", "device_pointer", "format", "points"}
_TOPIC_DEFAULTS = {"time_pointer", "seq_pointer", "device_pointer", "format"}
_TYPES = {"double", "integer", "boolean", "string"}
_KINDS = {"telemetry", "property"}


class MappingError(ValidationError):
    """A mapping document has problems; ``problems`` lists all of them."""


@dataclass(frozen=True, slots=True)
class PointSpec:
    """One mapped point. Ranges are in the twin's ``unit``; ``max_rate`` is in ``unit`` per second."""

    twin_id: str
    name: str
    pointer: str
    unit_pointer: str | None = None
    kind: str = "telemetry"
    type: str = "double"
    unit: str | None = None
    source_unit: str | None = None
    unit_required: bool = False
    scale: float = 1.0
    offset: float = 0.0
    deadband: float = 0.0
    instrument_range: tuple[float, float] | None = None
    engineering_range: tuple[float, float] | None = None
    max_rate: float | None = None
    may_be_constant: bool = True
    expected_period_s: float | None = None
    stale_k: float = 3.0
    stale_grace_s: float = 1.0
    stuck_samples: int = 30
    stuck_seconds: float = 300.0

    @property
    def key(self) -> tuple[str, str]:
        return (self.twin_id, self.name)

    @property
    def numeric(self) -> bool:
        return self.type in ("double", "integer")


@dataclass(frozen=True, slots=True)
class TopicSpec:
    address: str
    points: tuple[PointSpec, ...]
    device: str | None = None
    time_pointer: str = "/source_ts"
    seq_pointer: str = "/seq"
    device_pointer: str = "/device_id"
    node_id: str | None = None  # an OPC UA source: the address is the NodeId and the point pointer is ""


@dataclass(frozen=True)
class MappingSet:
    """All mappings of one tenant, indexed by source address."""

    tenant: str = "default"
    topics: dict[str, TopicSpec] = field(default_factory=dict)
    _by_point: dict[tuple[str, str], PointSpec] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self._by_point.update({p.key: p for t in self.topics.values() for p in t.points})

    def for_address(self, address: str) -> TopicSpec | None:
        return self.topics.get(address)

    def points(self) -> list[PointSpec]:
        return [p for t in self.topics.values() for p in t.points]

    def point(self, twin_id: str, name: str) -> PointSpec | None:
        return self._by_point.get((twin_id, name))


def load_mappings(path: str | Path) -> MappingSet:
    """Read and validate a YAML mapping file (call again to reload; the old set stays valid until swapped)."""
    p = Path(path)
    try:
        doc = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise MappingError(f"cannot read mapping file: {exc}", where=str(p)) from exc
    try:
        return parse_mappings(doc)
    except MappingError as exc:
        exc.problems = [replace(prob, file=str(p)) for prob in exc.problems]
        raise


class _Collector:
    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, where: str, message: str, hint: str = "") -> None:
        self.problems.append(Problem(message=message, where=where, hint=hint))


def _num(c: _Collector, where: str, value: Any, *, positive: bool = False, nonneg: bool = False) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(float(value)):
        c.add(where, f"must be a finite number, got {value!r}")
        return None
    v = float(value)
    if positive and v <= 0:
        c.add(where, f"must be > 0, got {v}")
        return None
    if nonneg and v < 0:
        c.add(where, f"must be >= 0, got {v}")
        return None
    return v


def _range(c: _Collector, where: str, value: Any) -> tuple[float, float] | None:
    if not isinstance(value, list | tuple) or len(value) != 2:
        c.add(where, "must be a list [low, high]")
        return None
    lo, hi = _num(c, where + "/0", value[0]), _num(c, where + "/1", value[1])
    if lo is None or hi is None:
        return None
    if lo >= hi:
        c.add(where, f"low {lo} must be below high {hi}")
        return None
    return (lo, hi)


def _unit(c: _Collector, where: str, value: Any) -> str | None:
    if not isinstance(value, str):
        c.add(where, f"must be a unit name, got {value!r}")
        return None
    try:
        return canonical_unit(value)
    except UnitError as exc:
        c.add(where, exc.message, exc.hint)
        return None


def _pointer(c: _Collector, where: str, value: Any) -> str | None:
    if not isinstance(value, str) or (value and not value.startswith("/")):
        c.add(where, f"must be a JSON pointer such as /points/temperature, got {value!r}")
        return None
    return value


def _point(c: _Collector, where: str, raw: Any, defaults: Mapping[str, Any]) -> PointSpec | None:
    if not isinstance(raw, Mapping):
        c.add(where, "a point must be a mapping")
        return None
    merged = {**defaults, **raw}
    for key in sorted(set(merged) - _POINT_KEYS):
        c.add(f"{where}/{key}", f"unknown key {key!r}", "check the spelling against docs/ingestion.md")
    before = len(c.problems)
    pointer = _pointer(c, where + "/pointer", merged.get("pointer"))
    twin, name = merged.get("twin"), merged.get("name")
    for key, val in (("twin", twin), ("name", name)):
        if not isinstance(val, str) or not val:
            c.add(f"{where}/{key}", f"{key} is required and must be a non-empty string")
    kind, typ = merged.get("kind", "telemetry"), merged.get("type", "double")
    if kind not in _KINDS:
        c.add(where + "/kind", f"must be one of {sorted(_KINDS)}, got {kind!r}")
    if typ not in _TYPES:
        c.add(where + "/type", f"must be one of {sorted(_TYPES)}, got {typ!r}")
    unit = _unit(c, where + "/unit", merged["unit"]) if merged.get("unit") is not None else None
    source_unit = (_unit(c, where + "/source_unit", merged["source_unit"])
                   if merged.get("source_unit") is not None else None)
    if unit and source_unit:
        try:
            converter(source_unit, unit)
        except UnitError as exc:
            c.add(where + "/source_unit", exc.message)
    unit_pointer = merged.get("unit_pointer")
    if unit_pointer is not None:
        unit_pointer = _pointer(c, where + "/unit_pointer", unit_pointer)
    elif isinstance(pointer, str) and pointer.startswith("/points/"):
        unit_pointer = "/units/" + pointer[len("/points/"):]
    floats: dict[str, float | None] = {}
    for key, pos, nonneg in (("scale", False, False), ("offset", False, False), ("deadband", False, True),
                             ("max_rate", True, False), ("expected_period_s", True, False),
                             ("stale_k", True, False), ("stale_grace_s", False, True),
                             ("stuck_seconds", False, True)):
        if merged.get(key) is not None:
            floats[key] = _num(c, f"{where}/{key}", merged[key], positive=pos, nonneg=nonneg)
    if floats.get("scale") == 0.0:
        c.add(where + "/scale", "scale must not be 0")
    stuck_samples = merged.get("stuck_samples", 30)
    if isinstance(stuck_samples, bool) or not isinstance(stuck_samples, int) or stuck_samples < 2:
        c.add(where + "/stuck_samples", f"must be an integer >= 2, got {stuck_samples!r}")
    inst = _range(c, where + "/instrument_range", merged["instrument_range"]) \
        if merged.get("instrument_range") is not None else None
    eng = _range(c, where + "/engineering_range", merged["engineering_range"]) \
        if merged.get("engineering_range") is not None else None
    if inst and eng and (eng[0] < inst[0] or eng[1] > inst[1]):
        c.add(where + "/engineering_range", f"{list(eng)} must lie within instrument_range {list(inst)}")
    for key in ("unit_required", "may_be_constant"):
        if key in merged and not isinstance(merged[key], bool):
            c.add(f"{where}/{key}", f"must be true or false, got {merged[key]!r}")
    if typ not in ("double", "integer") and any(merged.get(k) is not None for k in (
            "instrument_range", "engineering_range", "max_rate", "unit")):
        c.add(where, f"ranges, max_rate and unit apply only to numeric points (type {typ!r})")
    if len(c.problems) > before:
        return None
    assert isinstance(pointer, str) and isinstance(twin, str) and isinstance(name, str)
    return PointSpec(
        twin_id=twin, name=name, pointer=pointer, unit_pointer=unit_pointer, kind=str(kind), type=str(typ),
        unit=unit, source_unit=source_unit, unit_required=bool(merged.get("unit_required", unit is not None
                                                                          and source_unit is None)),
        scale=floats.get("scale") or 1.0, offset=floats.get("offset") or 0.0,
        deadband=floats.get("deadband") or 0.0, instrument_range=inst, engineering_range=eng,
        max_rate=floats.get("max_rate"), may_be_constant=bool(merged.get("may_be_constant", True)),
        expected_period_s=floats.get("expected_period_s"), stale_k=floats.get("stale_k") or 3.0,
        stale_grace_s=_or(floats.get("stale_grace_s"), 1.0),
        stuck_samples=int(stuck_samples),
        stuck_seconds=_or(floats.get("stuck_seconds"), 300.0),
    )


def _or(value: float | None, default: float) -> float:
    return default if value is None else value


def _from_flat(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The flat form (one row per point, as in examples/bottling-plant/mappings.yaml) -> the grouped form.

    Rows are ``{topic, pointer, twin, property|name, unit, ...}``; topic-level keys in ``defaults``
    (``time_pointer``, ``seq_pointer``, ``device_pointer``, ``format``) apply to every topic."""
    defaults = dict(doc.get("defaults") or {}) if isinstance(doc.get("defaults"), Mapping) else {}
    topic_defaults = {k: defaults.pop(k) for k in list(defaults) if k in _TOPIC_DEFAULTS}
    topics: dict[str, dict[str, Any]] = {}
    rows = doc.get("mappings")
    for row in rows if isinstance(rows, list) else []:
        if not isinstance(row, Mapping):
            topics.setdefault("", {"topic": "", "points": []})["points"].append(row)
            continue
        if "sparkplug" in row:  # a Sparkplug B metric: {sparkplug: group/edge[/device], metric: name, ...}
            row = sparkplug_row(row)
        point = {("name" if k == "property" else k): v for k, v in row.items() if k not in ("topic", "node_id")}
        topic = row.get("topic")
        head: dict[str, Any] = {"topic": topic}
        if "node_id" in row:  # an OPC UA row: keyed by NodeId, the whole variant value is the point
            head = {"node_id": row["node_id"], **({"topic": topic} if topic is not None else {})}
            topic = row["node_id"] if topic is None else topic
        entry = topics.setdefault(str(topic), {**head, **topic_defaults, "points": []})
        entry["points"].append(point)
    out = {k: v for k, v in doc.items() if k not in ("mappings", "defaults")}
    out["defaults"] = defaults
    out["topics"] = list(topics.values())
    if not isinstance(rows, list):
        out["topics"] = None
    return out


SPARKPLUG_PREFIX = "sparkplug:"


def sparkplug_address(device: str) -> str:
    """The source address of a Sparkplug B edge node or device (``group/edge[/device]``) in a MappingSet."""
    return SPARKPLUG_PREFIX + device


def metric_pointer(metric: str) -> str:
    """A Sparkplug metric name as the point's pointer (RFC 6901 escaping: metric names often contain ``/``)."""
    return "/" + metric.replace("~", "~0").replace("/", "~1")


def sparkplug_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """A flat ``{sparkplug, metric, twin, property, …}`` row as a ``{topic, pointer, …}`` row."""
    out = {k: v for k, v in row.items() if k not in ("sparkplug", "metric")}
    out["topic"] = sparkplug_address(str(row["sparkplug"]))
    metric = row.get("metric")
    out["pointer"] = metric_pointer(metric) if isinstance(metric, str) and metric else metric
    return out


def parse_mappings(doc: Any) -> MappingSet:
    """Validate a mapping document (as loaded from YAML/JSON) as a whole; raise :class:`MappingError`.

    Two equivalent shapes are accepted: grouped by topic (``topics: [{topic, points: [...]}]``) or flat
    (``mappings: [{topic, pointer, twin, property, unit}]``)."""
    c = _Collector()
    if isinstance(doc, Mapping) and "mappings" in doc and "topics" not in doc:
        doc = _from_flat(doc)
    if not isinstance(doc, Mapping):
        raise MappingError("a mapping document must be a mapping with 'topics'",
                           problems=[Problem("a mapping document must be a mapping with 'topics'", "/")])
    if doc.get("version", 1) != 1:
        c.add("/version", f"unsupported version {doc.get('version')!r}", "this release reads version 1")
    for key in sorted(set(doc) - {"version", "tenant", "defaults", "topics"}):
        c.add(f"/{key}", f"unknown key {key!r}")
    tenant = doc.get("tenant", "default")
    if not isinstance(tenant, str) or not tenant:
        c.add("/tenant", "must be a non-empty string")
        tenant = "default"
    defaults = doc.get("defaults") or {}
    if not isinstance(defaults, Mapping):
        c.add("/defaults", "must be a mapping")
        defaults = {}
    topics_raw = doc.get("topics")
    if not isinstance(topics_raw, list):
        c.add("/topics", "must be a list")
        topics_raw = []
    topics: dict[str, TopicSpec] = {}
    seen_points: dict[tuple[str, str], str] = {}
    for i, traw in enumerate(topics_raw):
        where = f"/topics/{i}"
        if not isinstance(traw, Mapping):
            c.add(where, "a topic entry must be a mapping")
            continue
        for key in sorted(set(traw) - _TOPIC_KEYS):
            c.add(f"{where}/{key}", f"unknown key {key!r}")
        node_id = traw.get("node_id")
        if node_id is not None and (not isinstance(node_id, str) or not node_id or "topic" in traw):
            c.add(where + "/node_id", "node_id must be a non-empty string, and a row has topic or node_id, not both")
            continue
        address = traw.get("topic") if node_id is None else node_id
        if not isinstance(address, str) or not address:
            c.add(where + "/topic", "topic is required")
            continue
        if address in topics:
            c.add(where + "/topic", f"topic {address!r} is mapped twice", "merge the two entries")
        points: list[PointSpec] = []
        pointers: set[str] = set()
        for j, praw in enumerate(traw.get("points") or []):
            if node_id is not None and isinstance(praw, Mapping):
                praw = {"pointer": "", **praw}
            spec = _point(c, f"{where}/points/{j}", praw, defaults)
            if spec is None:
                continue
            if spec.pointer in pointers:
                c.add(f"{where}/points/{j}/pointer", f"pointer {spec.pointer!r} is mapped twice on this topic")
            if spec.key in seen_points:
                c.add(f"{where}/points/{j}", f"{spec.twin_id}.{spec.name} is already fed by {seen_points[spec.key]}",
                      "one point, one source")
            pointers.add(spec.pointer)
            seen_points[spec.key] = f"{address}{spec.pointer}"
            points.append(spec)
        tp = traw.get("time_pointer", "/source_ts")
        sp = traw.get("seq_pointer", "/seq")
        dp = traw.get("device_pointer", "/device_id")
        if traw.get("format", "json") != "json":
            c.add(where + "/format", f"unsupported payload format {traw.get('format')!r}", "this release reads json")
        device = traw.get("device")
        if device is not None and not isinstance(device, str):
            c.add(where + "/device", "must be a string")
        topics[address] = TopicSpec(address=address, points=tuple(points), device=device,
                                    time_pointer=_pointer(c, where + "/time_pointer", tp) or "/source_ts",
                                    seq_pointer=_pointer(c, where + "/seq_pointer", sp) or "/seq",
                                    device_pointer=_pointer(c, where + "/device_pointer", dp) or "/device_id",
                                    node_id=node_id)
    if c.problems:
        raise MappingError(f"{len(c.problems)} problem(s) in the mapping document", problems=c.problems)
    return MappingSet(tenant=tenant, topics=topics)
