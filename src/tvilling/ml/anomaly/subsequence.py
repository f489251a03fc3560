"""Streaming subsequence novelty: how far the recent shape of a signal is from every shape seen before.

The last ``length`` points are summarised by their piecewise aggregate approximation (PAA: the means of
``length / segment`` consecutive segments), scaled by the signal's range so far. Every ``stride`` points the
current PAA vector is compared with a ring buffer of the last ``memory`` stored vectors (the ``length / stride``
most recent ones, which overlap the current window, are excluded: they would match trivially). The novelty is
the nearest-neighbour distance divided by the running mean of those distances, so "1" means "as unusual as
usual" whatever the signal's scale or noise. This is the discord idea of matrix-profile methods, made causal
and bounded in memory.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


class SubsequenceMemory:
    """Nearest-neighbour novelty of the latest window of ``length`` points (see module docstring)."""

    def __init__(self, length: int = 128, segment: int = 16, stride: int = 4, memory: int = 4000,
                 mean_horizon: int = 500) -> None:
        if length % segment:
            raise ValueError("length must be a multiple of segment")
        self.length = length
        self.segment = segment
        self.stride = stride
        self.memory = memory
        self.mean_horizon = mean_horizon
        dims = length // segment
        self._win: deque[float] = deque(maxlen=length)
        self._vecs: FloatArray = np.zeros((memory, dims))
        self._norms: FloatArray = np.full(memory, np.inf)  # |v|^2 of each stored vector; inf = empty slot
        self._stored = 0
        self._dist_mean = 0.0
        self._dist_n = 0
        self._last_ratio = 0.0

    def _paa(self, values: list[float], lo: float, hi: float) -> FloatArray:
        a = np.asarray(values).reshape(-1, self.segment).mean(axis=1)
        span = hi - lo
        return a / span if span > 0 else np.zeros_like(a)

    def novelty(self, v: float, step: int, lo: float, hi: float) -> tuple[float, FloatArray | None, float]:
        """Novelty ratio for ``v`` arriving at ``step`` (nothing is learned), plus what :meth:`learn` needs: the
        window's PAA vector and raw distance when a comparison was made at this step."""
        if len(self._win) < self.length - 1 or self._stored < 50:
            return 0.0, None, 0.0
        if step % self.stride:
            return self._last_ratio, None, 0.0  # between strides the last comparison stands
        recent = self.length // self.stride
        if min(self._stored, self.memory) - recent <= 10:
            return 0.0, None, 0.0
        vec = self._paa([*self._win, v][-self.length:], lo, hi)
        # squared distance = |b|^2 - 2 b.v + |v|^2; the constant |v|^2 is added after the minimum
        d2 = self._norms - 2.0 * (self._vecs @ vec)
        # the most recent vectors overlap the current window: they would match trivially
        end = self._stored % self.memory
        d2[max(end - recent, 0):end] = np.inf
        if end < recent:
            d2[self.memory - (recent - end):] = np.inf
        dist = math.sqrt(max(float(d2.min()) + float(vec @ vec), 0.0))
        ratio = dist / self._dist_mean if self._dist_mean > 0 else 0.0
        return ratio, vec, dist

    def learn(self, v: float, step: int, lo: float, hi: float, ratio: float, vec: FloatArray | None,
              dist: float) -> None:
        """Take ``v`` (and the comparison made for it, if any) into the memory."""
        self._last_ratio = ratio
        if vec is not None:
            self._dist_n += 1
            self._dist_mean += (dist - self._dist_mean) / min(self._dist_n, self.mean_horizon)
        self._win.append(v)
        if len(self._win) == self.length and step % self.stride == 0:
            slot = self._stored % self.memory
            if vec is None:  # no comparison at this step: summarise the window now
                vec = self._paa(list(self._win), lo, hi)
            self._vecs[slot] = vec
            self._norms[slot] = float(vec @ vec)
            self._stored += 1
