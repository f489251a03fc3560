"""Steps 1-3 of ARTime (see :mod:`tvilling.ml.anomaly.artime`): raw values -> down-sampled, normalised,
discretised levels -> feature vectors (Haar wavelet of the last window next to its levels)."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

SPIKE_SHARE = 0.1  # an extreme replaces the mean only when it differs from it by >= 10 % of the mean (ARTime)
_SQRT_HALF = math.sqrt(0.5)


def haar_dwt(x: FloatArray) -> FloatArray:
    """Full-depth periodic Haar transform, laid out ``[approximation, coarsest detail, ..., finest details]``
    with detail = (second - first) / sqrt(2), the convention of Wavelets.jl that ARTime uses."""
    out = np.empty_like(x)
    s = x
    end = len(x)
    while len(s) > 1 and len(s) % 2 == 0:
        first, second = s[0::2], s[1::2]
        out[end - len(first): end] = (second - first) * _SQRT_HALF
        end -= len(first)
        s = (first + second) * _SQRT_HALF
    out[:end] = s
    return out


def _unit(x: FloatArray) -> FloatArray:
    """Shift to min 0 and scale to max 1 (a constant vector stays all zeros)."""
    y: FloatArray = x - x.min()
    top = float(y.max())
    return y / top if top != 0.0 else y


@dataclass
class FeatureFront:
    """Steps 1-3: raw values -> feature vectors, one per down-sampled step. Small, so it is copied to score a
    value without learning it."""

    step: int
    window: int
    levels: int
    chomp: float
    lo: float
    span: float
    i: int = 0  # raw values seen
    dsi: int = 0  # down-sampled steps done
    raw: deque[float] = field(default_factory=deque)
    average: float = 0.0
    medbin: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    medlevel: int = 0
    below: int = 0
    above: int = 0
    recent: FloatArray = field(default_factory=lambda: np.zeros(0))

    def __post_init__(self) -> None:
        self.raw = deque([0.0] * self.step, maxlen=self.step)
        self.medbin = np.zeros(self.levels + 1, dtype=np.int64)
        self.recent = np.zeros(self.window)

    def copy(self) -> FeatureFront:
        new = FeatureFront(self.step, self.window, self.levels, self.chomp, self.lo, self.span, self.i, self.dsi)
        new.raw = deque(self.raw, maxlen=self.step)
        new.average, new.medlevel, new.below, new.above = self.average, self.medlevel, self.below, self.above
        new.medbin = self.medbin.copy()
        new.recent = self.recent.copy()
        return new

    def push(self, v: float) -> FloatArray | None:
        """Take one raw value; the next feature vector when this value completes a down-sampled step."""
        self.raw.append(v)
        self.i += 1
        if self.i % self.step:
            return None
        self.dsi += 1
        vals = list(self.raw)
        mean = sum(vals) / len(vals)
        hi, lo = max(vals), min(vals)
        if self.dsi == 1:
            self.average = mean
        self.average = (self.average + mean) / 2.0
        ds = lo if abs(hi - self.average) < abs(lo - self.average) else hi
        if abs(ds - mean) < SPIKE_SHARE * mean:
            ds = mean
        ds = (ds - self.lo) / self.span if self.span != 0.0 else ds - self.lo
        level = min(max(round(ds * self.levels), 0), self.levels)
        ds = level / self.levels
        med = self._median(level) / self.levels
        if abs(ds - med) < self.chomp:
            ds = med
        self.recent = np.roll(self.recent, -1)
        self.recent[-1] = ds
        if self.dsi < self.window:
            return np.zeros(2 * self.window)
        return np.concatenate((_unit(haar_dwt(_unit(self.recent))), self.recent))

    def _median(self, level: int) -> int:
        """ARTime's approximate running median of the levels: a histogram and a pointer moved one occupied
        level at a time."""
        bins = self.medbin
        bins[level] += 1
        if self.dsi == 1:
            self.medlevel = level
        if self.medlevel > level:
            self.below += 1
        elif self.medlevel < level:
            self.above += 1
        half = self.dsi // 2
        if half < self.above:
            self.below += int(bins[self.medlevel])
            self.medlevel += 1
            while bins[self.medlevel] == 0:
                self.medlevel += 1
            self.above -= int(bins[self.medlevel])
        elif half < self.below:
            self.above += int(bins[self.medlevel])
            self.medlevel -= 1
            while bins[self.medlevel] == 0:
                self.medlevel -= 1
            self.below -= int(bins[self.medlevel])
        return self.medlevel
