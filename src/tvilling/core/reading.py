"""A telemetry reading on its way from a source to the twin and the history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tvilling.core.quality import Quality, Reason


@dataclass(frozen=True, slots=True)
class Reading:
    """One sample of one twin property/telemetry, after mapping. Times are timezone-aware UTC."""

    twin_id: str
    name: str
    value: float | int | bool | str | None
    source_time: datetime
    quality: Quality = Quality.GOOD
    reason: Reason = Reason.NONE
    unit: str | None = None
