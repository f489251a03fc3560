"""Work-order rules as data (``maintenance.yaml`` beside a site's ``mappings.yaml``), parsed as a whole.

A document::

    version: 1
    mode: auto                  # off | approve | auto: caps every rule (off: nothing is created, the kill switch)
    max_auto_per_day: 10        # work orders released per tenant in any 24 h; beyond, new ones are proposed
    rules:
      - id: bearing-failure-72h
        model: "dtmi:tvilling:bottling:Bearing;1"   # this model and every model extending it
        trigger: rul            # rul: an insight.rul at or above p_failure | anomaly: an anomaly episode opened
        p_failure: 0.5          # rul only: P(failure within the insight's horizon)
        mode: auto              # auto: released at once | approve: proposed, a person approves or rejects
        priority: high          # low | medium | high | urgent
        title: "Replace the bearing of {twin}"   # {twin} {p_failure} {horizon_hours} {signals}
        description: ""         # optional, same placeholders
        cooldown_hours: 24      # after one closes, the same rule waits this long before another on the twin

Every problem in the document is reported at once (one ``ValidationError`` listing them).
"""

from __future__ import annotations

import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from tvilling.core.errors import ValidationError
from tvilling.policy.work_orders import MODES, PRIORITIES, Limits, Trigger

TRIGGERS = ("rul", "anomaly")
PLACEHOLDERS = ("twin", "p_failure", "horizon_hours", "signals")
DEFAULT_TITLES = {"rul": "Inspect {twin}: P(failure within {horizon_hours} h) = {p_failure}",
                  "anomaly": "Inspect {twin}: abnormal {signals}"}
_KEYS = {"id", "model", "trigger", "p_failure", "mode", "priority", "title", "description", "cooldown_hours"}


@dataclass(frozen=True, slots=True)
class WorkOrderRule:
    id: str
    model: str
    trigger: str = "rul"
    p_failure: float = 0.5
    mode: str = "approve"
    priority: str = "high"
    title: str = ""
    description: str = ""
    cooldown_hours: float = 24.0

    @property
    def cooldown(self) -> timedelta:
        return timedelta(hours=self.cooldown_hours)

    def matches(self, trigger: Trigger) -> bool:
        if trigger.kind != self.trigger:
            return False
        return self.trigger != "rul" or (trigger.p_failure is not None and trigger.p_failure >= self.p_failure)

    def render(self, text: str, trigger: Trigger) -> str:
        values = {"twin": trigger.twin_id,
                  "p_failure": "?" if trigger.p_failure is None else f"{trigger.p_failure:.0%}",
                  "horizon_hours": "?" if trigger.horizon_hours is None else f"{trigger.horizon_hours:g}",
                  "signals": ", ".join(trigger.signals) or "signals"}
        return text.format_map(values)

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "model": self.model, "trigger": self.trigger,
                "pFailure": self.p_failure if self.trigger == "rul" else None, "mode": self.mode,
                "priority": self.priority, "title": self.title, "cooldownHours": self.cooldown_hours}


@dataclass(frozen=True, slots=True)
class WorkOrderPolicy:
    rules: tuple[WorkOrderRule, ...] = ()
    limits: Limits = field(default_factory=Limits)
    file: str = ""

    def for_model(self, model_id: str, is_subtype: Callable[[str, str], bool]) -> list[WorkOrderRule]:
        """The rules whose model is ``model_id`` or one it extends."""
        return [r for r in self.rules if r.model == model_id or is_subtype(model_id, r.model)]


def _template(raw: Mapping[str, Any], key: str, default: str, where: str, problems: list[str]) -> str:
    text = raw.get(key, default)
    if not isinstance(text, str):
        problems.append(f"{where}.{key}: text is required, got {text!r}")
        return default
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
    except ValueError as exc:
        problems.append(f"{where}.{key}: {exc} (write {{{{ and }}}} for literal braces)")
        return default
    unknown = sorted(names - set(PLACEHOLDERS))
    if unknown:
        problems.append(f"{where}.{key}: unknown placeholder(s) {', '.join(unknown)}; use "
                        + ", ".join("{" + p + "}" for p in PLACEHOLDERS))
    return text


def _number(raw: Mapping[str, Any], key: str, default: float, where: str, problems: list[str], *,
            low: float, high: float) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= float(value) <= high:
        problems.append(f"{where}.{key}: a number in [{low:g}, {high:g}] is required, got {value!r}")
        return default
    return float(value)


def _choice(raw: Mapping[str, Any], key: str, default: str, options: tuple[str, ...], where: str,
            problems: list[str]) -> str:
    value = raw.get(key, default)
    if value not in options:
        problems.append(f"{where}.{key}: one of {', '.join(options)} is required, got {value!r}")
        return default
    return str(value)


def _rule(raw: Any, where: str, seen: set[str], problems: list[str]) -> WorkOrderRule | None:
    if not isinstance(raw, Mapping):
        problems.append(f"{where}: a mapping is required")
        return None
    for key in sorted(set(raw) - _KEYS):
        problems.append(f"{where}.{key}: unknown key; known: {', '.join(sorted(_KEYS))}")
    rule_id, model = raw.get("id"), raw.get("model")
    if not isinstance(rule_id, str) or not rule_id.strip():
        problems.append(f"{where}.id: a non-empty name is required")
        rule_id = ""
    elif rule_id in seen:
        problems.append(f"{where}.id: {rule_id!r} is used twice")
    seen.add(str(rule_id))
    if not isinstance(model, str) or not model.startswith("dtmi:"):
        problems.append(f"{where}.model: a DTMI is required, got {model!r}")
    trigger = _choice(raw, "trigger", "rul", TRIGGERS, where, problems)
    if trigger != "rul" and "p_failure" in raw:
        problems.append(f"{where}.p_failure: applies to trigger rul only")
    return WorkOrderRule(
        id=str(rule_id), model=str(model), trigger=trigger,
        p_failure=_number(raw, "p_failure", 0.5, where, problems, low=0.0, high=1.0),
        mode=_choice(raw, "mode", "approve", ("approve", "auto"), where, problems),
        priority=_choice(raw, "priority", "high", PRIORITIES, where, problems),
        title=_template(raw, "title", DEFAULT_TITLES[trigger], where, problems),
        description=_template(raw, "description", "", where, problems),
        cooldown_hours=_number(raw, "cooldown_hours", 24.0, where, problems, low=0.0, high=24.0 * 366))


def parse_policy(doc: Any, *, file: str = "") -> WorkOrderPolicy:
    if not isinstance(doc, Mapping) or not isinstance(doc.get("rules"), list):
        raise ValidationError("a maintenance document needs a 'rules' list", where=file or "rules",
                              hint="see docs/work-orders.md for the format")
    problems: list[str] = []
    for key in sorted(set(doc) - {"version", "mode", "max_auto_per_day", "rules"}):
        problems.append(f"{key}: unknown key; known: version, mode, max_auto_per_day, rules")
    if doc.get("version", 1) != 1:
        problems.append(f"version: 1 is required, got {doc.get('version')!r}")
    mode = _choice(doc, "mode", "auto", MODES, "(document)", problems)
    limit = _number(doc, "max_auto_per_day", 10, "(document)", problems, low=0, high=1_000_000)
    seen: set[str] = set()
    rules = [_rule(raw, f"rules[{i}]", seen, problems) for i, raw in enumerate(doc["rules"])]
    if problems:
        raise ValidationError(f"{len(problems)} problem(s) in the maintenance rules: " + "; ".join(problems),
                              where=file or "rules", hint="see docs/work-orders.md for the format")
    return WorkOrderPolicy(rules=tuple(r for r in rules if r is not None),
                           limits=Limits(mode=mode, max_auto_per_day=int(limit)), file=file)


def load_policy(path: str | Path) -> WorkOrderPolicy:
    try:
        doc = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ValidationError(f"cannot read the maintenance rules {path}: {exc}", where=str(path)) from None
    return parse_policy(doc, file=str(path))
