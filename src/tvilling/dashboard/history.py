"""History for charts, read through the running ingestion service (``app.state.ingest.history``).

The dashboard is a front-end: it never imports the SQL adapter; it uses the history store the platform already
runs, found on the app state at request time (duck-typed: ``history(...)`` and ``bucketed(...)``).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

RANGES = {"15 min": 900, "1 h": 3600, "6 h": 21_600, "24 h": 86_400, "7 d": 604_800}
BUCKETS = {"raw": 0, "10 s": 10, "1 min": 60, "5 min": 300, "1 h": 3600}
AGGREGATES = ("mean", "min", "max", "last")
MAX_RAW = 5000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Series:
    points: list[tuple[int, float | None]]  # (epoch ms, value)
    band: list[tuple[int, float | None, float | None]]  # (epoch ms, min, max) for bucketed series
    truncated: bool = False
    start_ms: int | None = None
    end_ms: int | None = None


def to_us(dt: datetime) -> int:
    delta = dt - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def auto_bucket(range_s: int) -> int:
    """About 300 points per chart whatever the range (the screen cannot show more)."""
    for width in (10, 60, 300, 3600):
        if range_s / width <= 400:
            return width
    return 3600


async def load(app_state: Any, tenant: str, twin_id: str, name: str, range_s: int, bucket_s: int,
               agg: str, now: datetime | None = None) -> Series | None:
    runtime = getattr(app_state, "ingest", None)
    store = getattr(runtime, "history", None)
    if store is None:
        return None
    end = now or datetime.now(UTC)
    end_us = to_us(end)
    if bucket_s:
        # Bucket-aligned ends let the store answer from its rollups.
        end_us = (end_us // (bucket_s * 1_000_000) + 1) * bucket_s * 1_000_000
    start_us = end_us - range_s * 1_000_000
    if not bucket_s:
        rows = await asyncio.to_thread(store.history, tenant, twin_id, name, start_us, end_us, MAX_RAW + 1)
        pts = [(r["t"] // 1000, _num(r.get("value"))) for r in rows[:MAX_RAW]]
        return Series(pts, [], truncated=len(rows) > MAX_RAW, start_ms=start_us // 1000, end_ms=end_us // 1000)
    aggs = sorted({agg, "min", "max"})
    rows = await asyncio.to_thread(store.bucketed, tenant, twin_id, name, start_us, end_us, bucket_s, aggs)
    return Series([(r["t"] // 1000, _num(r.get(agg))) for r in rows],
                  [(r["t"] // 1000, _num(r.get("min")), _num(r.get("max"))) for r in rows],
                  start_ms=start_us // 1000, end_ms=end_us // 1000)


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def chart_options(series: Series | None, name: str, unit: str | None, agg: str, bucketed: bool) -> dict[str, Any]:
    data = [[t, v] for t, v in series.points] if series else []
    out: list[dict[str, Any]] = [{
        "name": f"{agg} per bucket" if bucketed else name, "type": "line", "data": data, "showSymbol": False,
        "lineStyle": {"width": 1.6, "color": "#1f4e79"}, "itemStyle": {"color": "#1f4e79"}, "sampling": "lttb"}]
    if bucketed and series:
        out.append({"name": "min", "type": "line", "data": [[t, lo] for t, lo, _ in series.band], "showSymbol": False,
                    "lineStyle": {"width": 0.8, "color": "#9ab3cc", "type": "dashed"}})
        out.append({"name": "max", "type": "line", "data": [[t, hi] for t, _, hi in series.band], "showSymbol": False,
                    "lineStyle": {"width": 0.8, "color": "#9ab3cc", "type": "dashed"}})
    return {
        "animation": False,
        "grid": {"left": 56, "right": 24, "top": 30, "bottom": 70},
        "tooltip": {"trigger": "axis"},
        "legend": {"top": 0, "right": 10, "textStyle": {"fontSize": 11}},
        "xAxis": {"type": "time", **({"min": series.start_ms, "max": series.end_ms} if series else {})},
        "yAxis": {"type": "value", "name": unit or "", "scale": True, "nameTextStyle": {"fontSize": 11}},
        "dataZoom": [{"type": "inside"}, {"type": "slider", "height": 22, "bottom": 12}],
        "series": out,
    }


def parse_time(value: str | None) -> datetime | None:
    """An ISO time as aware datetime, but never in the future (a clock-ahead source must not hide history)."""
    if not value:
        return None
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return min(t + timedelta(seconds=1), datetime.now(UTC))
