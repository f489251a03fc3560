"""Sample quality, following OPC UA's Good / Uncertain / Bad classes, with a machine-readable reason."""

from __future__ import annotations

from enum import StrEnum


class Quality(StrEnum):
    GOOD = "good"
    UNCERTAIN = "uncertain"
    BAD = "bad"

    @property
    def usable_for_control(self) -> bool:
        """Only Good samples may feed autonomous control (reliability promise G5)."""
        return self is Quality.GOOD


class Reason(StrEnum):
    """Why a sample is not Good, or why it was quarantined. Values are stable API strings."""

    NONE = ""
    NON_FINITE = "non_finite"
    OUT_OF_RANGE = "out_of_range"
    OUTSIDE_ENGINEERING_RANGE = "engineering_units_exceeded"
    STUCK = "stuck"
    SPIKE = "spike"
    CLOCK_AHEAD = "clock_ahead"
    TOO_OLD = "too_old"
    LATE = "late"
    DUPLICATE = "duplicate"
    CONFLICT = "conflict"
    UNIT_MISMATCH = "unit_mismatch"
    UNIT_MISSING = "unit_missing"
    STALE = "stale"
    DECODE_ERROR = "decode_error"
    WRONG_TYPE = "wrong_type"
    UNMAPPED = "unmapped"
    OVERSIZE = "oversize"
    IDENTITY_MISMATCH = "identity_mismatch"
    SOURCE_STATUS = "source_status"
    PROCESSING_ERROR = "processing_error"  # the platform failed on this input (a bug): kept, not dropped
