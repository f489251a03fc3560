"""Command mappings as data: (tenant, twin, DTDL command) -> transport + address + value scaling.

A site package's ``commands.yaml`` (format in docs/commands.md)::

    version: 1
    tenant: default
    defaults: {timeout_s: 30}
    commands:
      - {twin: pump-1, command: set_speed_pct, transport: mqtt, topic: plant/pump-1/commands}
      - {twin: line-1, command: set_speed_bpm, transport: opcua, node_id: "ns=2;s=line-1.line_speed"}
      - {twin: line-1, command: start, transport: opcua, object: "ns=2;s=line-1", method: "ns=2;s=line-1.Start"}

Parsing checks the document's shape; :func:`check_against_models` checks it against the twins and their DTDL
models (the command exists in the twin's model; scaling and limits only on numeric requests). Both report every
problem at once. The device-side value is ``value * scale + offset``; ``min``/``max`` are in platform units.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tvilling.core.errors import Problem, ValidationError
from tvilling.policy.command_guard import CommandGuard, parse_guard
from tvilling.ports.commands import CommandTarget

NUMERIC = {"double", "float", "integer", "long"}
_COMMON = {"twin", "command", "transport", "scale", "offset", "min", "max", "timeout_s", "guard"}
_PER_TRANSPORT: dict[str, set[str]] = {
    "mqtt": {"topic", "device_command"},
    "opcua": {"node_id", "object", "method", "variant"},
    "sparkplug": {"address", "metric", "datatype"},
}
_GENERIC = {"address", "device_command", "kind", "options"}


class CommandMappingError(ValidationError):
    """A command mapping document has problems; ``problems`` lists all of them."""


@dataclass(frozen=True, slots=True)
class CommandMapping:
    twin_id: str
    command: str
    target: CommandTarget
    scale: float = 1.0
    offset: float = 0.0
    min: float | None = None
    max: float | None = None
    timeout_s: float | None = None
    guard: CommandGuard = field(default_factory=CommandGuard)

    @property
    def scaled(self) -> bool:
        return self.scale != 1.0 or self.offset != 0.0 or self.min is not None or self.max is not None

    def device_value(self, value: Any) -> Any:
        """Platform value -> device value (numbers only; anything else passes through)."""
        if isinstance(value, int | float) and not isinstance(value, bool) and self.scaled:
            return value * self.scale + self.offset
        return value


@dataclass(frozen=True)
class CommandMappingSet:
    tenant: str = "default"
    entries: Mapping[tuple[str, str], CommandMapping] = field(default_factory=dict)
    default_timeout_s: float = 30.0

    def get(self, tenant: str, twin_id: str, command: str) -> CommandMapping | None:
        if tenant != self.tenant:
            return None
        return self.entries.get((twin_id, command))

    def transports(self) -> set[str]:
        return {m.target.transport for m in self.entries.values()}

    def __len__(self) -> int:
        return len(self.entries)


def _target(row: Mapping[str, Any], where: str, problems: list[Problem]) -> CommandTarget | None:
    transport = row.get("transport")
    command = str(row.get("command", ""))

    def need(key: str) -> str:
        v = row.get(key)
        if not isinstance(v, str) or not v:
            problems.append(Problem(f"{key} is required for transport {transport}", f"{where}/{key}"))
            return ""
        return v

    if transport == "mqtt":
        dc = row.get("device_command", command)
        return CommandTarget("mqtt", need("topic"), str(dc), "publish")
    if transport == "opcua":
        options = {"variant": row["variant"]} if "variant" in row else {}
        if "node_id" in row and ("object" in row or "method" in row):
            problems.append(Problem("an OPC UA row has node_id (write) or object + method (call), not both", where))
            return None
        if "node_id" in row:
            return CommandTarget("opcua", need("node_id"), "", "write", options)
        return CommandTarget("opcua", need("object"), need("method"), "call", options)
    if transport == "sparkplug":
        options = {"datatype": row["datatype"]} if "datatype" in row else {}
        return CommandTarget("sparkplug", need("address"), str(row.get("metric", command)), "dcmd", options)
    options = row.get("options") or {}
    if not isinstance(options, Mapping):
        problems.append(Problem("options must be a mapping", f"{where}/options"))
        options = {}
    return CommandTarget(str(transport), need("address"), str(row.get("device_command", command)),
                         str(row.get("kind", "publish")), dict(options))


def _number(row: Mapping[str, Any], key: str, where: str, problems: list[Problem]) -> float | None:
    v = row.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int | float):
        problems.append(Problem(f"{key} must be a number", f"{where}/{key}"))
        return None
    return float(v)


def parse_command_mappings(doc: Any, source: str = "") -> CommandMappingSet:
    """Validate a mapping document as a whole; raise :class:`CommandMappingError` listing every problem."""
    problems: list[Problem] = []
    if not isinstance(doc, Mapping):
        raise CommandMappingError("a command mapping document must be a mapping with 'commands'",
                                  problems=[Problem("must be a mapping", "/", file=source)])
    for key in sorted(set(doc) - {"version", "tenant", "defaults", "commands"}):
        problems.append(Problem(f"unknown key {key!r}", f"/{key}"))
    if doc.get("version", 1) != 1:
        problems.append(Problem(f"unsupported version {doc.get('version')!r}", "/version",
                                "this release reads version 1"))
    tenant = doc.get("tenant", "default")
    if not isinstance(tenant, str) or not tenant:
        problems.append(Problem("must be a non-empty string", "/tenant"))
        tenant = "default"
    defaults = doc.get("defaults") or {}
    if not isinstance(defaults, Mapping):
        problems.append(Problem("must be a mapping", "/defaults"))
        defaults = {}
    default_timeout = _number(defaults, "timeout_s", "/defaults", problems) or 30.0
    rows = doc.get("commands")
    if not isinstance(rows, list):
        problems.append(Problem("must be a list", "/commands"))
        rows = []
    entries: dict[tuple[str, str], CommandMapping] = {}
    for i, raw in enumerate(rows):
        where = f"/commands/{i}"
        if not isinstance(raw, Mapping):
            problems.append(Problem("a command row must be a mapping", where))
            continue
        row = {**{k: v for k, v in defaults.items() if k != "timeout_s"}, **raw}
        transport = row.get("transport")
        if not isinstance(transport, str) or not transport:
            problems.append(Problem("transport is required (mqtt, opcua, sparkplug, ...)", f"{where}/transport"))
            continue
        allowed = _COMMON | _PER_TRANSPORT.get(transport, _GENERIC)
        for key in sorted(set(raw) - allowed):
            problems.append(Problem(f"unknown key {key!r} for transport {transport}", f"{where}/{key}"))
        twin, command = row.get("twin"), row.get("command")
        if not isinstance(twin, str) or not twin or not isinstance(command, str) or not command:
            problems.append(Problem("twin and command (non-empty strings) are required", where))
            continue
        target = _target(row, where, problems)
        scale = _number(row, "scale", where, problems)
        offset = _number(row, "offset", where, problems)
        lo, hi = _number(row, "min", where, problems), _number(row, "max", where, problems)
        timeout = _number(row, "timeout_s", where, problems)
        guard = parse_guard(row.get("guard"), f"{where}/guard", problems)
        if scale == 0.0:
            problems.append(Problem("scale must not be 0", f"{where}/scale"))
        if lo is not None and hi is not None and lo > hi:
            problems.append(Problem("min is above max", where))
        if timeout is not None and timeout <= 0:
            problems.append(Problem("timeout_s must be positive", f"{where}/timeout_s"))
        if (twin, command) in entries:
            problems.append(Problem(f"{twin}/{command} is mapped twice", where, "one row per (twin, command)"))
            continue
        if target is not None:
            entries[(twin, command)] = CommandMapping(
                twin, command, target, 1.0 if scale is None else scale, offset or 0.0, lo, hi, timeout, guard)
    if problems:
        raise CommandMappingError(f"{len(problems)} problem(s) in the command mappings"
                                  + (f" ({source})" if source else ""),
                                  where=source, problems=[_in(p, source) for p in problems])
    return CommandMappingSet(tenant, entries, default_timeout)


def _in(p: Problem, source: str) -> Problem:
    return Problem(p.message, p.where, p.hint, p.file or source)


def load_command_mappings(path: Path) -> CommandMappingSet:
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise CommandMappingError(f"cannot read command mappings: {exc}", where=str(path)) from exc
    return parse_command_mappings(doc, str(path))


def check_against_models(mappings: CommandMappingSet, twin_model: Callable[[str], str | None],
                         model_set: Any) -> list[Problem]:
    """Every problem of ``mappings`` against the tenant's twins (``twin_model(id)`` -> model id or None) and its
    resolved model set (:class:`tvilling.dtdl.ModelSet`): missing twins, commands not in the twin's model,
    scaling or limits on a request that is not numeric."""
    problems: list[Problem] = []
    for (twin, command), m in sorted(mappings.entries.items()):
        where = f"{twin}/{command}"
        model_id = twin_model(twin)
        if model_id is None:
            problems.append(Problem(f"twin {twin!r} does not exist", where))
            continue
        if model_id not in model_set:
            problems.append(Problem(f"model {model_id} of twin {twin!r} is not defined", where))
            continue
        cdef = model_set.get(model_id).commands.get(command)
        if cdef is None:
            problems.append(Problem(f"model {model_id} has no command {command!r}", where,
                                    "add a DTDL Command element, or fix the mapping"))
            continue
        schema_name = getattr(getattr(cdef.request, "schema", None), "name", None)
        if m.scaled and schema_name not in NUMERIC:
            problems.append(Problem("scale/offset/min/max need a numeric request schema", where))
        if m.guard.max_step is not None and schema_name not in NUMERIC:
            problems.append(Problem("guard max_step needs a numeric request schema", where))
        iface = model_set.get(model_id)
        known = {*iface.properties, *iface.telemetry}
        named = [m.guard.prop] if m.guard.prop else []
        for name in [*named, *(lock.property for lock in m.guard.interlocks)]:
            if name not in known:
                problems.append(Problem(f"guard names {name!r}, which model {model_id} has as neither property "
                                        "nor telemetry", f"{where}/guard", "name a property of the twin"))
    return problems
