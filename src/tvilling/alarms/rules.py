"""Alarm rules as data (``alarms.yaml`` in a site package), parsed and validated as a whole.

A rule document::

    version: 1
    tenant: default                       # optional; the tenant the rules apply to
    rules:
      - id: bearing-temp-high             # unique; names the alarm's origin
        model: "dtmi:tvilling:bottling:Bearing;1"   # this model and every model extending it ...
        # twin: pump-1-bearing            # ... or one twin (exactly one of model / twin)
        property: temperature             # a property or telemetry name of the model
        type: threshold                   # threshold | rate | quality
        severity: major                   # critical | major | minor | warning
        high: 80.0                        # threshold: raise above high and/or below low (twin units)
        deadband: 2.0                     # clear only once back inside the limit by this much (hysteresis)
        on_delay_s: 5                     # the condition must hold this long (source time) before raising
        off_delay_s: 10                   # ... and be gone this long before clearing
      - id: flow-drop
        model: "dtmi:tvilling:bottling:Pump;1"
        property: flowRate
        type: rate
        max_rate: 5.0                     # |change| per ``per`` above which the alarm is raised
        per: minute                       # second | minute
        window_s: 30                      # the change is measured over this window
        direction: falling                # rising | falling | both
      - id: flow-quality
        model: "dtmi:tvilling:bottling:Pump;1"
        property: flowRate
        type: quality
        when: not_good                    # bad | uncertain | not_good | stale
        for_s: 60                         # longer than this (on-delay)

Parsing reports every structural problem at once (:func:`parse_rules`); :func:`check_rules` reports every
reference problem (unknown model, twin or property) against a model set the caller describes with plain mappings,
so this module stays an engine (no DTDL, no store).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tvilling.core.errors import Problem, ValidationError

SEVERITIES = ("critical", "major", "minor", "warning")
RULE_TYPES = ("threshold", "rate", "quality")
QUALITY_WHEN = ("bad", "uncertain", "not_good", "stale")
DIRECTIONS = ("rising", "falling", "both")
PER_S = {"second": 1.0, "minute": 60.0}

_COMMON = {"id", "model", "twin", "property", "type", "severity", "message", "on_delay_s", "off_delay_s"}
_KEYS = {
    "threshold": _COMMON | {"high", "low", "deadband"},
    "rate": _COMMON | {"max_rate", "per", "window_s", "direction"},
    "quality": _COMMON | {"when", "for_s"},
}


class AlarmRuleError(ValidationError):
    """An alarm rule document has problems; ``problems`` lists all of them."""


@dataclass(frozen=True, slots=True)
class AlarmRule:
    """One declarative rule. Limits are in the twin's unit; times are seconds of source time."""

    id: str
    type: str
    property: str
    severity: str = "major"
    model: str | None = None
    twin: str | None = None
    message: str = ""
    on_delay_s: float = 0.0
    off_delay_s: float = 0.0
    high: float | None = None
    low: float | None = None
    deadband: float = 0.0
    max_rate: float | None = None  # units per ``per``
    per: str = "second"
    window_s: float = 60.0
    direction: str = "both"
    when: str = "bad"

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "type": self.type, "property": self.property,
                               "severity": self.severity, "model": self.model, "twin": self.twin,
                               "message": self.message, "on_delay_s": self.on_delay_s,
                               "off_delay_s": self.off_delay_s}
        if self.type == "threshold":
            out.update(high=self.high, low=self.low, deadband=self.deadband)
        elif self.type == "rate":
            out.update(max_rate=self.max_rate, per=self.per, window_s=self.window_s, direction=self.direction)
        else:
            out.update(when=self.when)
        return {k: v for k, v in out.items() if v is not None}


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[AlarmRule, ...] = ()
    tenant: str = "default"
    by_property: Mapping[str, tuple[AlarmRule, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        index: dict[str, list[AlarmRule]] = {}
        for rule in self.rules:
            index.setdefault(rule.property, []).append(rule)
        object.__setattr__(self, "by_property", {k: tuple(v) for k, v in index.items()})

    def get(self, rule_id: str) -> AlarmRule | None:
        return next((r for r in self.rules if r.id == rule_id), None)

    def for_twin(self, twin_id: str, model_id: str, is_subtype: Callable[[str, str], bool]) -> tuple[AlarmRule, ...]:
        """The rules that apply to one twin: by its id, or by its model or any model it extends."""
        return tuple(r for r in self.rules if r.twin == twin_id or (
            r.model is not None and (r.model == model_id or is_subtype(model_id, r.model))))


def _num(raw: Mapping[str, Any], key: str, where: str, problems: list[Problem], *, default: float | None = None,
         minimum: float | None = None, positive: bool = False) -> float | None:
    value = raw.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        problems.append(Problem(f"{key} must be a finite number, got {value!r}", where=f"{where}.{key}"))
        return default
    if positive and value <= 0:
        problems.append(Problem(f"{key} must be > 0, got {value!r}", where=f"{where}.{key}"))
        return default
    if minimum is not None and value < minimum:
        problems.append(Problem(f"{key} must be >= {minimum:g}, got {value!r}", where=f"{where}.{key}"))
        return default
    return float(value)


def _choice(raw: Mapping[str, Any], key: str, options: tuple[str, ...], default: str, where: str,
            problems: list[Problem]) -> str:
    value = raw.get(key, default)
    if value not in options:
        problems.append(Problem(f"{key} must be one of {', '.join(options)}, got {value!r}", where=f"{where}.{key}"))
        return default
    return str(value)


def _rule(raw: Any, where: str, problems: list[Problem]) -> AlarmRule | None:
    if not isinstance(raw, Mapping):
        problems.append(Problem("a rule must be a mapping", where=where))
        return None
    before = len(problems)
    kind = raw.get("type")
    if kind not in RULE_TYPES:
        problems.append(Problem(f"type must be one of {', '.join(RULE_TYPES)}, got {kind!r}", where=f"{where}.type"))
        return None
    unknown = sorted(set(raw) - _KEYS[kind])
    if unknown:
        problems.append(Problem(f"unknown key(s) for a {kind} rule: {', '.join(map(str, unknown))}", where=where,
                                hint="known: " + ", ".join(sorted(_KEYS[kind]))))
    rule_id, prop = raw.get("id"), raw.get("property")
    if not isinstance(rule_id, str) or not rule_id.strip():
        problems.append(Problem("id (a non-empty string) is required", where=f"{where}.id"))
    if not isinstance(prop, str) or not prop:
        problems.append(Problem("property (a property or telemetry name) is required", where=f"{where}.property"))
    model, twin = raw.get("model"), raw.get("twin")
    if (model is None) == (twin is None):
        problems.append(Problem("exactly one of model or twin is required", where=where))
    if model is not None and (not isinstance(model, str) or not model.startswith("dtmi:")):
        problems.append(Problem(f"model must be a DTMI, got {model!r}", where=f"{where}.model"))
    if twin is not None and (not isinstance(twin, str) or not twin):
        problems.append(Problem(f"twin must be a twin id, got {twin!r}", where=f"{where}.twin"))
    message = raw.get("message", "")
    if not isinstance(message, str):
        problems.append(Problem("message must be a string", where=f"{where}.message"))
    common: dict[str, Any] = {
        "severity": _choice(raw, "severity", SEVERITIES, "major", where, problems),
        "on_delay_s": _num(raw, "on_delay_s", where, problems, default=0.0, minimum=0.0),
        "off_delay_s": _num(raw, "off_delay_s", where, problems, default=0.0, minimum=0.0),
    }
    extra: dict[str, Any] = {}
    if kind == "threshold":
        high, low = _num(raw, "high", where, problems), _num(raw, "low", where, problems)
        deadband = _num(raw, "deadband", where, problems, default=0.0, minimum=0.0) or 0.0
        if high is None and low is None:
            problems.append(Problem("a threshold rule needs high and/or low", where=where))
        if high is not None and low is not None and low + deadband >= high - deadband:
            problems.append(Problem(f"low ({low:g}) + deadband must stay below high ({high:g}) - deadband",
                                    where=where, hint="the clear bands must not overlap"))
        extra = {"high": high, "low": low, "deadband": deadband}
    elif kind == "rate":
        max_rate = _num(raw, "max_rate", where, problems, positive=True)
        if "max_rate" not in raw:
            problems.append(Problem("a rate rule needs max_rate (> 0)", where=f"{where}.max_rate"))
        extra = {"max_rate": max_rate, "per": _choice(raw, "per", tuple(PER_S), "second", where, problems),
                 "window_s": _num(raw, "window_s", where, problems, default=60.0, positive=True),
                 "direction": _choice(raw, "direction", DIRECTIONS, "both", where, problems)}
    else:
        extra = {"when": _choice(raw, "when", QUALITY_WHEN, "bad", where, problems)}
        for_s = _num(raw, "for_s", where, problems)
        if for_s is not None:  # ``for_s`` is the quality rule's name for its on-delay
            if for_s < 0:
                problems.append(Problem("for_s must be >= 0", where=f"{where}.for_s"))
            else:
                common["on_delay_s"] = for_s
    if len(problems) > before:
        return None
    return AlarmRule(id=str(rule_id).strip(), type=str(kind), property=str(prop), model=model, twin=twin,
                     message=str(message), **common, **extra)


def parse_rules(doc: Any, *, file: str = "") -> RuleSet:
    """A rule set from a parsed YAML/JSON document; raises :class:`AlarmRuleError` listing every problem."""
    if doc is None:
        return RuleSet()
    if not isinstance(doc, Mapping) or not isinstance(doc.get("rules", []), list):
        raise AlarmRuleError("an alarm document is a mapping with a 'rules' list", where=file or "alarms")
    problems: list[Problem] = []
    unknown = sorted(set(doc) - {"version", "tenant", "rules"})
    if unknown:
        problems.append(Problem(f"unknown top-level key(s): {', '.join(map(str, unknown))}", where="$"))
    if doc.get("version", 1) != 1:
        problems.append(Problem(f"version must be 1, got {doc.get('version')!r}", where="version"))
    tenant = doc.get("tenant", "default")
    if not isinstance(tenant, str) or not tenant:
        problems.append(Problem("tenant must be a non-empty string", where="tenant"))
        tenant = "default"
    rules: list[AlarmRule] = []
    seen: set[str] = set()
    for i, raw in enumerate(doc.get("rules") or []):
        rule = _rule(raw, f"rules[{i}]", problems)
        if rule is None:
            continue
        if rule.id in seen:
            problems.append(Problem(f"duplicate rule id {rule.id!r}", where=f"rules[{i}].id"))
            continue
        seen.add(rule.id)
        rules.append(rule)
    if problems:
        raise AlarmRuleError(f"{len(problems)} problem(s) in the alarm rules", where=file or "alarms",
                             problems=[Problem(p.message, p.where, p.hint, file) for p in problems])
    return RuleSet(tuple(rules), tenant)


def load_rules(path: str | Path) -> RuleSet:
    try:
        doc = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise AlarmRuleError(f"cannot read the alarm rules {path}: {exc}", where=str(path)) from None
    return parse_rules(doc, file=str(path))


def check_rules(rules: RuleSet, models: Mapping[str, frozenset[str]], twins: Mapping[str, str]) -> list[Problem]:
    """Every reference problem at once: unknown models or twins, and properties the target cannot have.

    ``models`` maps each model id to its property and telemetry names (inherited ones included); ``twins`` maps
    twin ids to their model id. A model rule must name a property its model declares; models extending it then
    have it too (DTDL inheritance), so one check covers the whole family.
    """
    problems: list[Problem] = []
    for i, rule in enumerate(rules.rules):
        where = f"rules[{i}] ({rule.id})"
        if rule.model is not None:
            names = models.get(rule.model)
            if names is None:
                problems.append(Problem(f"model {rule.model} is not defined", where=where,
                                        hint="upload the site's models first, or fix the DTMI"))
            elif rule.property not in names:
                problems.append(Problem(f"model {rule.model} has no property or telemetry {rule.property!r}",
                                        where=where, hint="known: " + ", ".join(sorted(names)[:20])))
        else:
            model = twins.get(str(rule.twin))
            if model is None:
                problems.append(Problem(f"twin {rule.twin} does not exist", where=where))
            elif rule.property not in models.get(model, frozenset()):
                problems.append(Problem(f"twin {rule.twin} (model {model}) has no property or telemetry "
                                        f"{rule.property!r}", where=where))
    return problems
