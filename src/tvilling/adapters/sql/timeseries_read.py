"""Read side of the history store: raw history, bucketed aggregates, quarantine listing."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tvilling.adapters.sql.schema import quarantine, raw_samples, rollups
from tvilling.adapters.sql.series import series_id_of
from tvilling.core.errors import ValidationError

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
IN_CHUNK = 400  # keys per IN (...) lookup; well under SQLite's parameter limit
ROLLUP_WIDTHS_S = (60, 3600)  # the writer folds minutes into hours: keep 3600 a multiple of 60
AGGREGATES = ("min", "max", "mean", "last", "count")
MAX_BUCKETS = 100_000


def iso_us(t_us: int) -> str:
    return (_EPOCH + timedelta(microseconds=t_us)).isoformat().replace("+00:00", "Z")



class HistoryReader:
    engine: Engine

    # -- read -----------------------------------------------------------------------------------------------
    def history(self, tenant: str, twin_id: str, name: str, start_us: int, end_us: int,
                limit: int = 10_000) -> list[dict[str, Any]]:
        """Raw samples in [start, end), oldest first, at most ``limit``."""
        c = raw_samples().c
        q = (sa.select(c.source_time, c.value, c.value_json, c.quality, c.reason, c.unit)
             .where(c.series_id == series_id_of(tenant, twin_id, name), c.source_time >= start_us,
                    c.source_time < end_us).order_by(c.source_time).limit(limit))
        with self.engine.connect() as conn:
            return [{"t": r[0], "value": r[1] if r[1] is not None else _numeric_json(r[2]), "quality": r[3],
                     "reason": r[4], "unit": r[5], **_original(r[2], r[1])} for r in conn.execute(q)]

    def bucketed(self, tenant: str, twin_id: str, name: str, start_us: int, end_us: int, bucket_s: int,
                 aggs: Sequence[str] = AGGREGATES) -> list[dict[str, Any]]:
        """Aggregates per epoch-aligned bucket of ``bucket_s`` seconds over [start, end).

        Uses the 1 h or 1 min rollups when the bucket and both range ends are multiples of their width (then the
        answer is exactly what raw samples give); otherwise aggregates raw samples."""
        bad = [a for a in aggs if a not in AGGREGATES]
        if bad or bucket_s <= 0 or end_us <= start_us:
            raise ValidationError("invalid bucketed query", hint=f"aggregates: {', '.join(AGGREGATES)}; "
                                  "bucket > 0; end after start")
        b_us = bucket_s * 1_000_000
        if (end_us - start_us) // b_us > MAX_BUCKETS:
            raise ValidationError(f"more than {MAX_BUCKETS} buckets requested", hint="use a larger bucket")
        width = next((w for w in reversed(ROLLUP_WIDTHS_S) if bucket_s % w == 0
                      and start_us % (w * 1_000_000) == 0 and end_us % (w * 1_000_000) == 0), None)
        out: dict[int, list[Any]] = {}
        with self.engine.connect() as conn:
            if width is not None:
                r = rollups.c
                q = (sa.select(r.bucket_start, r.count, r.sum, r.min, r.max, r.last, r.last_time)
                     .where(r.tenant == tenant, r.twin_id == twin_id, r.name == name, r.width_s == width,
                            r.bucket_start >= start_us, r.bucket_start < end_us))
                rows: Iterable[Sequence[Any]] = conn.execute(q)
            else:
                c = raw_samples().c
                q2 = (sa.select(c.source_time, sa.literal(1), c.value, c.value, c.value, c.value, c.source_time)
                      .where(c.series_id == series_id_of(tenant, twin_id, name), c.value.is_not(None),
                             c.source_time >= start_us, c.source_time < end_us))
                rows = conn.execute(q2)
            for bs, cnt, sm, mn, mx, last, last_t in rows:
                key = (bs // b_us) * b_us
                a = out.get(key)
                if a is None:
                    out[key] = [cnt, sm, mn, mx, last, last_t]
                else:
                    a[0] += cnt
                    a[1] += sm
                    a[2] = min(a[2], mn)
                    a[3] = max(a[3], mx)
                    if last_t >= a[5]:
                        a[4], a[5] = last, last_t
        result = []
        for key in sorted(out):
            cnt, sm, mn, mx, last, _ = out[key]
            full = {"min": mn, "max": mx, "mean": sm / cnt if cnt else None, "last": last, "count": cnt}
            result.append({"t": key, **{a: full[a] for a in aggs}})
        return result

    def quarantined(self, tenant: str, *, reason: str | None = None, limit: int = 100,
                    before_id: int | None = None) -> list[dict[str, Any]]:
        q = quarantine.c
        stmt = sa.select(q.id, q.source, q.address, q.twin_id, q.name, q.reason, q.detail, q.received_at,
                         sa.func.length(q.raw)).where(q.tenant == tenant)
        if reason:
            stmt = stmt.where(q.reason == reason)
        if before_id is not None:
            stmt = stmt.where(q.id < before_id)
        stmt = stmt.order_by(q.id.desc()).limit(limit)
        with self.engine.connect() as conn:
            return [{"id": r[0], "source": r[1], "address": r[2], "twin_id": r[3], "name": r[4], "reason": r[5],
                     "detail": r[6], "received_at": iso_us(r[7]), "raw_bytes": r[8]} for r in conn.execute(stmt)]


def _numeric_json(v: Any) -> Any:
    if isinstance(v, dict) and "original" in v:
        return None
    return v


def _original(value_json: Any, value: Any) -> dict[str, Any]:
    # Numeric samples converted from another unit keep what arrived in value_json {"original": {value, unit}}.
    if value is not None and isinstance(value_json, dict) and "original" in value_json:
        return {"original": value_json["original"]}
    return {}
