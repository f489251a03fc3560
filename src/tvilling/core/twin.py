"""Twins, relationships and per-property state (ADT semantics, Home Assistant-style immutable snapshots)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tvilling.core.context import Context
from tvilling.core.quality import Quality, Reason

JSON = Any  # a value as produced by json.loads


@dataclass(frozen=True, slots=True)
class PropertyState:
    """The last known state of one property or telemetry value.

    Frozen so that an event can carry the old and the new snapshot without either changing under it.
    ``observed_at`` is when the platform received it; staleness is computed from it, never stored.
    """

    value: JSON
    unit: str | None = None
    quality: Quality = Quality.GOOD
    reason: Reason = Reason.NONE
    source_time: datetime | None = None
    observed_at: datetime | None = None
    changed_at: datetime | None = None
    context: Context | None = None


@dataclass(frozen=True, slots=True)
class PropertyMetadata:
    """ADT's ``$metadata.<prop>``: when it was last updated, where from, how good, and desired vs reported."""

    last_update_time: datetime
    source_time: datetime | None = None
    quality: Quality = Quality.GOOD
    desired_value: JSON = None
    desired_version: int | None = None
    ack_version: int | None = None


@dataclass(frozen=True, slots=True)
class Twin:
    """A digital twin: an instance of a DTDL interface, owned by one tenant."""

    id: str
    model_id: str
    tenant: str
    contents: dict[str, JSON] = field(default_factory=dict)
    metadata: dict[str, PropertyMetadata] = field(default_factory=dict)
    etag: str = ""
    last_update_time: datetime | None = None


@dataclass(frozen=True, slots=True)
class Relationship:
    id: str
    name: str
    source_id: str
    target_id: str
    tenant: str
    properties: dict[str, JSON] = field(default_factory=dict)
    etag: str = ""
