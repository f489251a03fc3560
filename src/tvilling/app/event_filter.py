"""What one event-stream subscriber asked for: twins (by id or model), property names and event kinds.

The tenant is never part of the filter: the bus only ever hands a subscription its own tenant's events, so a
filter can narrow what a token sees but never widen it. Empty/omitted criteria mean "no restriction".

Property names narrow events that carry per-property ``changes`` (``twin.telemetry``, ``twin.quality``) to those
properties (an event left with none is dropped) and alarm events to alarms about those properties; events
without property detail (``twin.created``, insights, ...) are not restricted by it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from tvilling.core.errors import Problem, ValidationError
from tvilling.core.events import Event

MAX_ITEMS = 1000
_LISTS = ("twins", "models", "properties", "kinds")


@dataclass(frozen=True)
class EventFilter:
    twins: frozenset[str] | None = None
    models: frozenset[str] | None = None
    properties: frozenset[str] | None = None
    kinds: frozenset[str] | None = None

    @classmethod
    def parse(cls, message: Mapping[str, Any]) -> EventFilter:
        """From a subscribe message ``{"type": "subscribe", "twins": [...], ...}``; every problem at once."""
        problems: list[Problem] = []
        unknown = sorted(set(message) - {"type", *_LISTS})
        if unknown:
            problems.append(Problem(f"unknown key(s): {', '.join(unknown)}", where="$",
                                    hint="known: type, " + ", ".join(_LISTS)))
        values: dict[str, frozenset[str] | None] = {}
        for key in _LISTS:
            raw = message.get(key)
            if raw is None:
                values[key] = None
            elif not isinstance(raw, list) or not all(isinstance(v, str) and v for v in raw):
                problems.append(Problem(f"{key} must be a list of non-empty strings", where=key))
            elif len(raw) > MAX_ITEMS:
                problems.append(Problem(f"{key} lists more than {MAX_ITEMS} items", where=key))
            else:
                values[key] = frozenset(raw) if raw else None
        if problems:
            raise ValidationError("invalid subscribe message: " + "; ".join(p.message for p in problems),
                                  where="subscribe", problems=problems)
        return cls(**values)

    def as_dict(self) -> dict[str, list[str] | None]:
        return {k: sorted(v) if (v := getattr(self, k)) is not None else None for k in _LISTS}

    @property
    def bus_subjects(self) -> frozenset[str] | None:
        """Subjects the bus can filter on by itself (only when no model criterion needs a lookup)."""
        return self.twins if self.models is None else None

    @property
    def needs_model(self) -> bool:
        return self.models is not None

    def kind_ok(self, kind: str) -> bool:
        return self.kinds is None or any(kind == k or kind.startswith(k + ".") for k in self.kinds)

    def apply(self, event: Event, model_of: Callable[[str], str | None],
              is_subtype: Callable[[str, str], bool]) -> Event | None:
        """The event as this subscriber should see it, or None. ``model_of`` is called only with a model filter."""
        if not self.kind_ok(event.kind):
            return None
        if self.twins is not None or self.models is not None:
            hit = self.twins is not None and event.subject in self.twins
            if not hit and self.models is not None:
                model = model_of(event.subject)
                hit = model is not None and any(is_subtype(model, m) for m in self.models)
            if not hit:
                return None
        if self.properties is None or not isinstance(event.data, dict):
            return event
        alarm = event.data.get("alarm")
        if event.kind.startswith("alarm.") and isinstance(alarm, dict):
            return event if alarm.get("source") in self.properties else None
        changes = event.data.get("changes")
        if isinstance(changes, dict):
            kept = {k: v for k, v in changes.items() if k in self.properties}
            if not kept:
                return None
            return event if len(kept) == len(changes) else replace(event, data={**event.data, "changes": kept})
        return event
