"""The health heat map's cells (pure): worst health per time bucket per asset, carried forward between changes."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from tvilling.dashboard.live import TenantState


def matrix(state: TenantState, assets: list[str], span_s: int, bucket_s: int,
           now_s: float | None = None) -> tuple[list[str], list[list[Any]]]:
    """x labels and [x, y, value] cells; each asset's value carries forward until it changes."""
    now = int(now_s if now_s is not None else time.time())
    end = now // bucket_s * bucket_s
    starts = list(range(end - span_s + bucket_s, end + 1, bucket_s))
    labels = [datetime.fromtimestamp(s, UTC).strftime("%H:%M:%S" if bucket_s < 60 else "%H:%M") for s in starts]
    cells: list[list[Any]] = []
    for y, asset in enumerate(assets):
        series = list(state.history.get(asset, ()))
        i, last = 0, None
        while i < len(series) and series[i][0] < starts[0]:
            last = series[i][1]
            i += 1
        for x, s in enumerate(starts):
            worst = None
            while i < len(series) and series[i][0] < s + bucket_s:
                worst = series[i][1] if worst is None else min(worst, series[i][1])
                i += 1
            value = worst if worst is not None else last
            if worst is not None:
                last = worst
            if value is not None:
                cells.append([x, y, round(value)])
    return labels, cells
