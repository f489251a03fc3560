"""NAB's "windowed Gaussian" detector, for ranking checks on the development corpora (round 5).

Written from NAB's published detector (``nab/detectors/gaussian``): the score of a value is
``1 - Q(|x - mean| / std)`` (Q = the normal tail probability) against the mean and standard deviation of a
window of earlier values; the window grows to 6 400 values, then slides forward 100 values at a time; a zero
standard deviation is replaced by 1e-6; the first value scores 0. Scoreboard: standard 39.6.
"""

from __future__ import annotations

import math

import numpy as np

WINDOW = 6400
STEP = 100


def windowed_gaussian_scores(values: np.ndarray) -> np.ndarray:
    """One file's scores, row t scored against the window state built from rows < t."""
    v = np.asarray(values, dtype=np.float64)
    out = np.zeros(len(v))
    window: list[float] = []
    buffer: list[float] = []
    mean, std = 0.0, 1.0
    for i, x in enumerate(v.tolist()):
        if window:
            z = abs(x - mean) / std
            out[i] = 1.0 - 0.5 * math.erfc(z / math.sqrt(2.0))
        if len(window) < WINDOW:
            window.append(x)
        else:
            buffer.append(x)
            if len(buffer) < STEP:
                continue
            window = window[STEP:] + buffer
            buffer = []
        arr = np.asarray(window)
        mean, std = float(arr.mean()), float(arr.std())
        if std == 0.0:
            std = 1e-6
    return out
