"""A synthetic, NAB-*like* development corpus: where the detector's settings are chosen, instead of on NAB.

Nothing here is read from NAB's data or labels. The generator follows only NAB's published description
(Lavin & Ahmad 2015, the NAB README): streams of 1 000-8 000 rows at a 5-minute period, mostly one to four
labelled anomalies per stream, some streams without any, and windows made the way NAB makes them — centred on
the anomaly's onset, width = 10 % of the stream length / number of anomalies, anomalies placed after the
15 % probationary period. The scorer is the same NAB v1.1 scorer (:mod:`tvilling.ml.nab.scoring`).

Each stream = a base process + unlabelled nuisance + labelled anomalies:

* base processes: daily (288 rows) and weekly seasonality with a random shape, linear trend, random walk,
  bursty counts (Poisson with occasional *normal* bursts), quantised sensors, heavy-tailed noise, regime noise;
* anomalies: spike, dip, step change (level shift), variance change (noise regime), frequency change of the
  seasonality, drift (a new slope), flat-line (stuck sensor), seasonality loss, in-range shape change,
  and a transient burst.

``make_corpus(seed)`` is deterministic for a seed; seed 0 is the selection corpus, seed 1 a held-out check.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

DAY = 288  # rows per day at NAB's most common 5-minute period
ANOMALY_KINDS = ("spike", "dip", "step", "variance", "frequency", "drift", "flatline", "seasonality_loss",
                 "shape", "burst")
SEASONAL_BASES = ("seasonal", "seasonal_weekly", "counts", "quantised")
BASE_KINDS = ("seasonal", "seasonal_weekly", "random_walk", "counts", "quantised", "heavy_tail", "regimes")


@dataclass
class DevFile:
    name: str
    values: np.ndarray
    windows: list[tuple[int, int]]
    kinds: tuple[str, ...]


def _seasonal_shape(rng: np.random.Generator, period: int, n: int, phase0: float = 0.0) -> np.ndarray:
    """A smooth random periodic pattern (a few harmonics), unit amplitude."""
    t = np.arange(n) / period
    out = np.zeros(n)
    for h in range(1, 4):
        out += rng.normal(0.0, 1.0 / h) * np.sin(2 * np.pi * h * t + rng.uniform(0, 2 * np.pi) + phase0)
    return out / max(np.abs(out).max(), 1e-9)


def _base(rng: np.random.Generator, kind: str, n: int) -> tuple[np.ndarray, float]:
    """The normal behaviour of a stream, and its typical noise scale (anomaly sizes are drawn relative to it)."""
    level = rng.uniform(-50, 200)
    noise = rng.uniform(0.5, 5.0)
    if kind in ("seasonal", "seasonal_weekly"):
        amp = noise * rng.uniform(2, 15)
        v = level + amp * _seasonal_shape(rng, DAY, n) + rng.normal(0, noise, n)
        if kind == "seasonal_weekly":
            week = (np.arange(n) // DAY) % 7 >= 5  # quieter weekends
            v = v - week * amp * rng.uniform(0.3, 0.8)
        v += np.arange(n) * rng.normal(0, noise / 2000)
        return v, noise
    if kind == "random_walk":
        steps = rng.normal(0, noise * 0.2, n)
        return level + np.cumsum(steps) + rng.normal(0, noise, n), noise
    if kind == "counts":
        lam = rng.uniform(3, 40) * (1.0 + 0.5 * _seasonal_shape(rng, DAY, n) ** 2)
        v = rng.poisson(lam).astype(float)
        # normal bursts (unlabelled): the noise regime of tweet-like streams
        for _ in range(rng.integers(2, 8)):
            at = int(rng.integers(0, n - 5))
            v[at:at + int(rng.integers(1, 4))] += rng.poisson(lam[at] * rng.uniform(1, 3))
        return v, math.sqrt(float(lam.mean()))
    if kind == "quantised":
        step = noise
        v = level + noise * 4 * _seasonal_shape(rng, DAY * int(rng.integers(1, 3)), n) + rng.normal(0, noise, n)
        return np.round(v / step) * step, noise
    if kind == "heavy_tail":
        return level + noise * rng.standard_t(3, n), noise * 1.5
    # regimes: the noise level changes now and then without it being an anomaly (CPU-utilisation-like)
    v = np.empty(n)
    at = 0
    while at < n:
        length = int(rng.integers(DAY // 2, 3 * DAY))
        v[at:at + length] = rng.normal(level, noise * rng.uniform(0.5, 2.0), min(length, n - at))
        at += length
    return v, noise * 1.5


def _inject(rng: np.random.Generator, v: np.ndarray, kind: str, at: int, scale: float, gap: int) -> None:
    """Add one anomaly of ``kind`` starting at row ``at`` (``gap`` rows until the next one or the end)."""
    n = len(v)
    size = scale * rng.uniform(4, 12)
    sign = rng.choice([-1.0, 1.0])
    span = float(np.ptp(v[:at])) or 1.0
    if kind == "spike":
        v[at:at + int(rng.integers(1, 3))] += size * 1.5
    elif kind == "dip":
        v[at:at + int(rng.integers(1, 4))] -= size * 1.5
    elif kind == "step":
        v[at:] += sign * size
    elif kind == "variance":
        v[at:at + gap] += rng.normal(0, scale * rng.uniform(3, 6), min(gap, n - at))
    elif kind == "frequency":
        end = min(n, at + max(gap // 2, DAY))
        t = np.arange(end - at)
        v[at:end] += 0.3 * span * np.sin(2 * np.pi * t / rng.uniform(10, 40))
    elif kind == "drift":
        t = np.arange(n - at)
        v[at:] += sign * t * size / rng.uniform(50, 200)
    elif kind == "flatline":
        end = min(n, at + int(rng.integers(DAY // 4, DAY)))
        v[at:end] = v[at]
    elif kind == "seasonality_loss":
        end = min(n, at + max(gap // 2, DAY))
        v[at:end] = float(np.mean(v[max(0, at - DAY):at])) + rng.normal(0, scale, end - at)
    elif kind == "shape":
        end = min(n, at + int(rng.integers(DAY // 8, DAY // 2)))
        v[at:end] = v[at:end][::-1] if rng.random() < 0.5 else np.roll(v[at:end], (end - at) // 2)
    else:  # burst: a short noisy excursion that comes back
        end = min(n, at + int(rng.integers(5, 30)))
        v[at:end] += sign * size + rng.normal(0, scale * 3, end - at)


def make_file(rng: np.random.Generator, name: str) -> DevFile:
    n = int(rng.choice([1000, 2000, 4000, 4000, 5000, 6000, 8000]))
    base_kind = str(rng.choice(BASE_KINDS))
    v, scale = _base(rng, base_kind, n)
    count = int(rng.choice([0, 1, 1, 2, 2, 3, 4]))
    width = int(0.10 * n / count) if count else 0
    start = int(0.15 * n) + width // 2 + 1  # NAB: anomalies after the probationary period
    slots = np.linspace(start, n - width // 2 - 2, count + 1)[:count] if count else []
    onsets = sorted(int(s + rng.uniform(0, 0.5) * (slots[1] - slots[0] if count > 1 else n - s - width))
                    for s in slots)
    kinds = []
    windows: list[tuple[int, int]] = []
    # a seasonal anomaly needs a seasonal stream: elsewhere it would label a non-event
    allowed = ANOMALY_KINDS if base_kind in SEASONAL_BASES else tuple(
        k for k in ANOMALY_KINDS if k not in ("frequency", "seasonality_loss", "shape"))
    for i, at in enumerate(onsets):
        kind = str(rng.choice(allowed))
        gap = (onsets[i + 1] if i + 1 < count else n) - at
        _inject(rng, v, kind, at, scale, gap)
        kinds.append(kind)
        # NAB centres each window on the labelled anomaly
        windows.append((max(0, at - width // 2), min(n - 1, at + width // 2 - 1)))
    return DevFile(f"{base_kind}/dev_{name}.csv", v, windows, (base_kind, *kinds))


def make_corpus(seed: int = 0, n_files: int = 30) -> list[DevFile]:
    """``n_files`` streams; deterministic for ``seed``."""
    rng = np.random.default_rng(seed)
    return [make_file(rng, f"{seed}_{i:02d}") for i in range(n_files)]
