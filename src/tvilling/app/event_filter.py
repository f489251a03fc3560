"""What one event-stream subscriber asked for: twins (by id or model), property names and event kinds.

The tenant is never part of the filter: the bus only ever hands a subscription its own tenant's events, so a
filter can narrow what a token sees but never widen it. Empty/omitted criteria mean "no restriction".

Property names narrow events that carry per-property ``changes`` (``twin.telemetry``, ``twin.quality``) to those
properties (an event left with none is dropped) and alarm events to alarms about those properties; events
without property detail (``twin.created``, insights, ...) are not restricted by it.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from tvilling.core.errors import NotFoundError, Problem, ValidationError
from tvilling.core.events import Event

MAX_ITEMS = 1000
_LISTS = ("twins", "models", "properties", "kinds")
# The first part of every event kind the platform publishes (twin.updated, workorder.created, ml.model.promoted, …).
KIND_ROOTS = ("twin", "relationship", "model", "alarm", "insight", "workorder", "command", "fmu", "ml",
              "eventroute")


@dataclass(frozen=True)
class EventFilter:
    twins: frozenset[str] | None = None
    models: frozenset[str] | None = None
    properties: frozenset[str] | None = None
    kinds: frozenset[str] | None = None

    @classmethod
    def parse(cls, message: Mapping[str, Any], *, what: str = "subscribe message", where: str = "subscribe",
              prefix: str = "") -> EventFilter:
        """From a subscribe message ``{"type": "subscribe", "twins": [...], ...}`` (or an event route's filter:
        ``what``, ``where`` and ``prefix`` name it in problems); every problem at once."""
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
                problems.append(Problem(f"{key} must be a list of non-empty strings", where=prefix + key))
            elif len(raw) > MAX_ITEMS:
                problems.append(Problem(f"{key} lists more than {MAX_ITEMS} items", where=prefix + key))
            else:
                values[key] = frozenset(raw) if raw else None
        if problems:
            raise ValidationError(f"invalid {what}: " + "; ".join(p.message for p in problems),
                                  where=where, problems=problems)
        return cls(**values)

    def check_kinds(self, where: str = "kinds") -> None:
        """Refuse kinds no platform event can match (a typo would otherwise silently match nothing)."""
        unknown = sorted(k for k in self.kinds or () if k.split(".", 1)[0] not in KIND_ROOTS or "" in k.split("."))
        if unknown:
            alias = {"work_order": "workorder", "work_orders": "workorder", "workorders": "workorder",
                     "alarms": "alarm", "twins": "twin", "insights": "insight", "commands": "command"}
            guesses = sorted({alias[k] for k in unknown if k in alias})
            raise ValidationError(f"unknown event kind(s): {', '.join(unknown)}", where=where,
                                  hint=(f"did you mean {', '.join(guesses)}? " if guesses else "")
                                  + "a kind is a prefix of an event kind, starting with one of "
                                  + ", ".join(KIND_ROOTS) + " (e.g. workorder, alarm, insight.rul)")

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


class TwinModels:
    """Twin id -> model id lookups for model filters, cached (bounded), and model-subtype checks, for one tenant.

    A stream that sees every ``twin.*`` event calls :meth:`forget` on them; a reader that does not (an event route
    narrowed to other kinds) bounds staleness with ``max_age_s`` instead.
    """

    def __init__(self, services: Any, tenant: str, *, max_age_s: float | None = None, size: int = 10_000) -> None:
        self._services = services
        self.tenant = tenant
        self._max_age_s = max_age_s
        self._size = size
        self._cache: OrderedDict[str, tuple[float, str | None]] = OrderedDict()

    def model_of(self, twin_id: str) -> str | None:
        now = time.monotonic()
        hit = self._cache.get(twin_id)
        if hit is not None and (self._max_age_s is None or now - hit[0] < self._max_age_s):
            return hit[1]
        try:  # scoped to the tenant: another tenant's twin looks missing
            doc = self._services.twins.get(self.tenant, twin_id)
            model = str(doc.get("$metadata", {}).get("$model", "")) or None
        except NotFoundError:
            model = None
        self._cache[twin_id] = (now, model)
        self._cache.move_to_end(twin_id)
        while len(self._cache) > self._size:
            self._cache.popitem(last=False)
        return model

    def forget(self, twin_id: str) -> None:
        self._cache.pop(twin_id, None)

    def apply(self, flt: EventFilter, event: Event) -> Event | None:
        """``flt.apply`` with this tenant's lookups (the model set is read only when a model filter needs it)."""
        ms = self._services.models.model_set(self.tenant) if flt.needs_model else None

        def is_subtype(model: str, base: str) -> bool:
            return ms is not None and model in ms and ms.is_subtype(model, base)

        return flt.apply(event, self.model_of, is_subtype)
