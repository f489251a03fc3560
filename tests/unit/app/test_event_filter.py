"""WebSocket subscription filters: twins or models (with inheritance), property narrowing, kinds, validation."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tvilling.app.event_filter import EventFilter
from tvilling.core.errors import ValidationError
from tvilling.core.events import Event

MODELS = {"pump-1": "dtmi:x:Pump;1", "m-1": "dtmi:x:Motor;1"}
SUB = {("dtmi:x:Pump;1", "dtmi:x:Machine;1")}


def ev(kind: str, subject: str, data: dict[str, Any]) -> Event:
    return Event(kind=kind, tenant="t", subject=subject, time=datetime.now(UTC), context_id="c", data=data)


def apply(f: EventFilter, e: Event) -> Event | None:
    lookups: list[str] = []

    def model_of(twin: str) -> str | None:
        lookups.append(twin)
        return MODELS.get(twin)

    out = f.apply(e, model_of, lambda m, b: m == b or (m, b) in SUB)
    if not f.needs_model:
        assert lookups == []  # no model criterion: never a lookup
    return out


def test_default_filter_passes_everything() -> None:
    e = ev("twin.created", "x", {})
    assert apply(EventFilter.parse({"type": "subscribe"}), e) is e


def test_models_follow_inheritance_and_combine_with_twin_ids() -> None:
    f = EventFilter.parse({"type": "subscribe", "models": ["dtmi:x:Machine;1"], "twins": ["m-1"]})
    assert f.bus_subjects is None  # a model criterion needs lookups: the bus cannot pre-filter
    assert apply(f, ev("twin.updated", "pump-1", {})) is not None  # Pump extends Machine
    assert apply(f, ev("twin.updated", "m-1", {})) is not None  # listed by id
    assert apply(f, ev("twin.updated", "ghost", {})) is None
    assert EventFilter.parse({"twins": ["a"]}).bus_subjects == frozenset({"a"})


def test_properties_narrow_changes_and_alarms() -> None:
    f = EventFilter.parse({"properties": ["flow"], "kinds": ["twin.telemetry", "alarm"]})
    both = ev("twin.telemetry", "pump-1", {"changes": {"flow": {"new": 1}, "head": {"new": 2}}})
    shaped = apply(f, both)
    assert shaped is not None and shaped.data["changes"] == {"flow": {"new": 1}}
    assert both.data["changes"].keys() == {"flow", "head"}  # the shared event is not modified
    assert apply(f, ev("twin.telemetry", "pump-1", {"changes": {"head": {"new": 2}}})) is None
    assert apply(f, ev("alarm.raised", "pump-1", {"alarm": {"source": "flow"}})) is not None
    assert apply(f, ev("alarm.raised", "pump-1", {"alarm": {"source": "head"}})) is None
    assert apply(f, ev("twin.created", "pump-1", {})) is None  # kind not subscribed


@pytest.mark.parametrize("message", [{"twins": "pump-1"}, {"kinds": [1]}, {"colour": ["red"]},
                                     {"properties": [""]}, {"models": ["x"] * 1001}])
def test_invalid_messages_are_refused(message: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        EventFilter.parse({"type": "subscribe", **message})


def test_kinds_must_name_platform_events() -> None:
    EventFilter.parse({"kinds": ["workorder", "alarm.raised", "insight.rul", "ml.model"]}).check_kinds()
    with pytest.raises(ValidationError) as caught:
        EventFilter.parse({"kinds": ["work_order", "alarms", "nonsense"]}).check_kinds(where="filter.kinds")
    err = caught.value
    assert err.where == "filter.kinds" and "work_order" in err.message and "nonsense" in err.message
    assert "did you mean alarm, workorder?" in err.hint
