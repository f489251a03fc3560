"""Similarity-based remaining useful life: trajectory matching against the training fleet.

The approach that won the PHM08 challenge (Wang, Yu, Siegel, Lee: "A similarity-based prognostics approach
for remaining useful life estimation of engineered systems", PHM 2008): a unit's recent health-index
trajectory is slid along every run-to-failure trajectory of the training fleet; each training unit's best
alignment says how long that unit still lived from the matching point, and the estimate is the mean of those
remaining lives over the ``k`` closest training units. It looks at the *shape* of the whole recent trajectory,
where the trees see a handful of summary statistics of it (levels and 30/80-cycle slopes).

The estimate at row ``t`` uses the query's rows ``<= t`` only (the last ``min(t + 1, window)`` of them), so it
is causal like every feature of :mod:`tvilling.ml.rul.features`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from tvilling.core.errors import ValidationError


class TrajectoryLibrary:
    """Run-to-failure trajectories (one 1-D array per training unit, last row = failure)."""

    def __init__(self, series: Sequence[np.ndarray], window: int = 30, k: int = 10) -> None:
        if window < 1:
            raise ValidationError(f"similarity window must be >= 1, got {window}")
        if k < 1:
            raise ValidationError(f"similarity k must be >= 1, got {k}")
        self.series = [np.asarray(s, dtype=float).ravel() for s in series if len(s) > 0]
        if not self.series:
            raise ValidationError("the trajectory library is empty")
        self.window, self.k = int(window), int(k)
        self._full = self._windows(self.window)

    def _windows(self, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Every length-``m`` window of every library series, stacked: windows, their squared norms, the
        remaining life after each window's last row, and the start offset of each series' block."""
        blocks, remaining, starts = [], [], [0]
        for s in self.series:
            if len(s) >= m:
                blocks.append(sliding_window_view(s, m))
                remaining.append(np.arange(len(s) - m, -1, -1, dtype=float))
            else:  # too short to align with: no window, the unit cannot be matched at this length
                blocks.append(np.empty((0, m)))
                remaining.append(np.empty(0))
            starts.append(starts[-1] + len(blocks[-1]))
        w = np.vstack(blocks)
        return w, np.einsum("ij,ij->i", w, w), np.concatenate(remaining), np.asarray(starts)

    def _nearest(self, dist: np.ndarray, remaining: np.ndarray, starts: np.ndarray) -> np.ndarray:
        """Mean remaining life of the ``k`` library units whose best alignment is closest, per query row
        (``dist``: query rows × stacked windows)."""
        n_lib = len(starts) - 1
        best = np.full((dist.shape[0], n_lib), np.inf)
        life = np.zeros((dist.shape[0], n_lib))
        for i in range(n_lib):
            a, b = starts[i], starts[i + 1]
            if a == b:
                continue
            j = np.argmin(dist[:, a:b], axis=1)
            best[:, i] = dist[np.arange(dist.shape[0]), a + j]
            life[:, i] = remaining[a + j]
        k = min(self.k, int(np.isfinite(best[0]).sum()))
        if k == 0:
            return np.full(dist.shape[0], np.nan)
        top = np.argpartition(best, k - 1, axis=1)[:, :k]
        return np.asarray(np.take_along_axis(life, top, axis=1).mean(axis=1))

    def estimate(self, queries: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Remaining-life estimate at every row of each unit's trajectory (one array per unit, rows in time
        order). Rows before the window fills are matched on the rows there are, all units at once."""
        qs = [np.asarray(q, dtype=float).ravel() for q in queries]
        out = [np.full(len(q), np.nan) for q in qs]
        m = self.window
        for t in range(m - 1):  # fewer rows than the window: match what there is
            which = [i for i, q in enumerate(qs) if len(q) > t]
            if not which:
                break
            w, w2, remaining, starts = self._windows(t + 1)
            part = np.stack([qs[i][: t + 1] for i in which])
            dist = np.einsum("ij,ij->i", part, part)[:, None] - 2.0 * part @ w.T + w2[None, :]
            for i, value in zip(which, self._nearest(dist, remaining, starts).tolist(), strict=True):
                out[i][t] = value
        w, w2, remaining, starts = self._full
        for q, est in zip(qs, out, strict=True):
            if len(q) >= m:
                rows = sliding_window_view(q, m)
                dist = np.einsum("ij,ij->i", rows, rows)[:, None] - 2.0 * rows @ w.T + w2[None, :]
                est[m - 1:] = self._nearest(dist, remaining, starts)
        return out
