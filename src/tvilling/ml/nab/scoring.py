"""NAB v1.1 scoring, vectorised with numpy but rule-for-rule the NAB repository's sweeper.

Per row ``i`` of a file with ``n`` rows (``sweeper.calcSweepScore``):

* inside a window ``[left, right]`` (inclusive, width ``w = right - left + 1``) the row would score
  ``tpWeight * sigma(-(right - i + 1) / w) / sigma(-1)`` if detected, with ``sigma(p) = 2 / (1 + e^{5p}) - 1``
  (and ``-1`` for ``p > 3``: at exactly 3 the sigmoid is used, as in NAB's ``sweeper.scaledSigmoid``);
* outside windows a detection costs ``fpWeight * sigma(|i - prev_right| / (prev_w - 1))`` after a window and
  ``-fpWeight`` before the first window;
* rows with ``i < min(floor(0.15 n), 750)`` are probationary and ignored.

For a threshold ``t`` every row with ``score >= t`` is a detection; each window contributes the best (earliest)
detection in it, or ``-fnWeight`` if none; false positives add up (``sweeper.calcScoreByThreshold``). The corpus
threshold is the one maximising the summed raw score over all files (``optimizer.optimizeThreshold``); the
reported score is ``100 * (raw - null) / (perfect - null)`` with ``perfect = windows * tpWeight`` and ``null`` the
raw score of a detector that never fires (``runner.normalize``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from tvilling.core.errors import ValidationError

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

PROBATION_PERCENT = 0.15
_OUTSIDE = -1  # window id of a row outside every window
_PROBATION = -2  # window id of a probationary row (ignored)
_START_THRESHOLD = 1.1  # NAB's first threshold: above every score, i.e. no detection at all


@dataclass(frozen=True)
class Profile:
    """One NAB cost matrix (``config/profiles.json``)."""

    name: str
    tp_weight: float
    fp_weight: float
    fn_weight: float


PROFILES: dict[str, Profile] = {
    "standard": Profile("standard", 1.0, 0.11, 1.0),
    "reward_low_fp": Profile("reward_low_fp", 1.0, 0.22, 1.0),
    "reward_low_fn": Profile("reward_low_fn", 1.0, 0.11, 2.0),
}
_NAB_PROFILE_NAMES = {"standard": "standard", "reward_low_FP_rate": "reward_low_fp",
                      "reward_low_FN_rate": "reward_low_fn"}


def load_profiles(text: str) -> dict[str, Profile]:
    """Parse NAB's ``profiles.json`` text into our short profile names.

    >>> sorted(load_profiles('{"standard": {"CostMatrix": {"tpWeight": 1, "fpWeight": 0.11, "fnWeight": 1}}}'))
    ['standard']
    """
    raw: dict[str, Any] = json.loads(text)
    out: dict[str, Profile] = {}
    for nab_name, body in raw.items():
        name = _NAB_PROFILE_NAMES.get(nab_name, nab_name)
        cm = body["CostMatrix"]
        out[name] = Profile(name, float(cm["tpWeight"]), float(cm["fpWeight"]), float(cm["fnWeight"]))
    return out


@dataclass
class FileData:
    """One corpus file: its length, its windows as inclusive row-index pairs, and a detector's scores."""

    name: str
    n: int
    windows: list[tuple[int, int]]
    scores: FloatArray = field(default_factory=lambda: np.zeros(0))


def scaled_sigmoid(position: FloatArray | float) -> FloatArray:
    """NAB's ``scaledSigmoid``: ``2 * sigmoid(-5 p) - 1``, and ``-1`` beyond ``p > 3``.

    The comparison is strict, as in NAB's ``sweeper.py``: a false positive exactly 3 window-widths past a
    window scores ``2 * sigmoid(-15) - 1 = -0.99999939`` (NAB's published per-row scores show this value).

    >>> [round(float(v), 5) for v in scaled_sigmoid(np.array([-1.0, -0.5, 0.0, 3.5]))]
    [0.98661, 0.84828, 0.0, -1.0]
    """
    p = np.asarray(position, dtype=np.float64)
    val = 2.0 / (1.0 + np.exp(5.0 * p)) - 1.0
    return np.where(p > 3.0, -1.0, val)


def probationary_length(n: int) -> float:
    """``min(floor(0.15 n), 0.15 * 5000)`` rows, as ``sweeper._getProbationaryLength``."""
    return min(math.floor(PROBATION_PERCENT * n), PROBATION_PERCENT * 5000)


def sweep_scores(n: int, windows: Sequence[tuple[int, int]], profile: Profile) -> tuple[FloatArray, IntArray]:
    """Weighted score each row would earn if detected, and its window id (-1 outside, -2 probationary)."""
    sweep = np.empty(n, dtype=np.float64)
    wid = np.full(n, _OUTSIDE, dtype=np.int64)
    idx = np.arange(n, dtype=np.float64)
    max_tp = float(scaled_sigmoid(-1.0))
    prev_right: int | None = None
    prev_width = 0.0
    cursor = 0
    for k, (left, right) in enumerate(sorted(windows)):
        # rows between the previous window (or the file start) and this window are false-positive rows
        _fill_outside(sweep, idx, cursor, left, prev_right, prev_width, profile)
        width = float(right - left + 1)
        pos = -(right - idx[left:right + 1] + 1.0) / width
        sweep[left:right + 1] = scaled_sigmoid(pos) * profile.tp_weight / max_tp
        wid[left:right + 1] = k
        prev_right, prev_width, cursor = right, width, right + 1
    _fill_outside(sweep, idx, cursor, n, prev_right, prev_width, profile)
    wid[: math.ceil(probationary_length(n))] = _PROBATION
    return sweep, wid


def _fill_outside(sweep: FloatArray, idx: FloatArray, start: int, stop: int, prev_right: int | None,
                  prev_width: float, profile: Profile) -> None:
    if stop <= start:
        return
    if prev_right is None:
        sweep[start:stop] = -profile.fp_weight  # NAB sets -1 directly before the first window
        return
    # NAB divides by (width - 1); a one-row window would divide by zero there, so we floor it at 1
    pos = np.abs(prev_right - idx[start:stop]) / max(prev_width - 1.0, 1.0)
    sweep[start:stop] = scaled_sigmoid(pos) * profile.fp_weight


def _threshold_curve(scores: FloatArray, sweep: FloatArray, wid: IntArray,
                     fn_weight: float) -> tuple[FloatArray, FloatArray]:
    """Raw score for every distinct threshold, highest threshold first (``calcScoreByThreshold``)."""
    keep = wid != _PROBATION
    s, sw, g = scores[keep], sweep[keep], wid[keep]
    n_windows = len(np.unique(g[g >= 0]))
    base = -fn_weight * n_windows
    if s.size == 0:
        return np.array([_START_THRESHOLD]), np.array([base])
    order = np.argsort(-s, kind="stable")
    s, sw, g = s[order], sw[order], g[order]
    contrib = np.where(g < 0, sw, 0.0)
    for w in np.unique(g[g >= 0]):
        pos = np.flatnonzero(g == w)
        run = np.maximum.accumulate(np.maximum(sw[pos], -fn_weight))
        contrib[pos] = np.diff(np.concatenate(([-fn_weight], run)))
    cum = base + np.cumsum(contrib)
    # the score at threshold t counts every row with score >= t: the last row of each tie group
    last = np.flatnonzero(np.concatenate((s[1:] != s[:-1], [True])))
    return np.concatenate(([_START_THRESHOLD], s[last])), np.concatenate(([base], cum[last]))


def optimise_threshold(files: Sequence[FileData], profile: Profile) -> tuple[float, float]:
    """ONE threshold for the whole corpus maximising the summed raw score; returns ``(threshold, raw)``."""
    parts_s, parts_sw, parts_g = [], [], []
    offset = 0
    for f in files:
        sw, g = sweep_scores(f.n, f.windows, profile)
        parts_s.append(np.asarray(f.scores, dtype=np.float64))
        parts_sw.append(sw)
        parts_g.append(np.where(g >= 0, g + offset, g))
        offset += len(f.windows)
    thr, raw = _threshold_curve(np.concatenate(parts_s), np.concatenate(parts_sw), np.concatenate(parts_g),
                                profile.fn_weight)
    best = int(np.argmax(raw))  # first maximum = highest threshold among ties, as NAB's stable sort
    return float(thr[best]), float(raw[best])


@dataclass(frozen=True)
class FileScore:
    raw: float
    windows: int
    detected: int
    false_positives: int


def score_file_at_threshold(f: FileData, profile: Profile, threshold: float) -> FileScore:
    """Raw NAB score of one file with detections ``score >= threshold`` (``sweeper.scoreDataSet``)."""
    sw, g = sweep_scores(f.n, f.windows, profile)
    hit = (np.asarray(f.scores) >= threshold) & (g != _PROBATION)
    raw = float(sw[hit & (g == _OUTSIDE)].sum())
    windows = np.unique(g[g >= 0])
    detected = 0
    for w in windows:
        got = sw[hit & (g == w)]
        if got.size:
            detected += 1
            raw += float(max(got.max(), -profile.fn_weight))
        else:
            raw -= profile.fn_weight
    return FileScore(raw, len(windows), detected, int((hit & (g == _OUTSIDE)).sum()))


@dataclass(frozen=True)
class CorpusScore:
    profile: str
    threshold: float
    raw: float
    null: float
    perfect: float
    score: float
    windows: int
    detected: int
    false_positives: int
    per_file: dict[str, float]


def normalise(raw: float, null: float, perfect: float) -> float:
    """``100 * (raw - null) / (perfect - null)``: null detector = 0, perfect detector = 100.

    >>> normalise(-116.0, -116.0, 116.0), normalise(116.0, -116.0, 116.0)
    (0.0, 100.0)
    """
    return 100.0 * (raw - null) / (perfect - null)


def score_corpus(files: Sequence[FileData], profile: Profile, *, total_windows: int | None = None) -> CorpusScore:
    """Optimise one threshold over ``files``, score each file at it, and normalise the total.

    ``total_windows`` is the number of windows in the labels file (NAB's ``tpCount``); by default the windows
    of ``files``.
    """
    threshold, _ = optimise_threshold(files, profile)
    per_file: dict[str, float] = {}
    detected = fps = n_windows = 0
    for f in files:
        fs = score_file_at_threshold(f, profile, threshold)
        per_file[f.name] = fs.raw
        detected += fs.detected
        fps += fs.false_positives
        n_windows += fs.windows
    raw = float(sum(per_file.values()))
    # the null detector never fires, so every window is a false negative (its optimiser keeps threshold 1.1)
    null_files = [FileData(f.name, f.n, f.windows, np.zeros(f.n)) for f in files]
    _, null = optimise_threshold(null_files, profile)
    tp_count = total_windows if total_windows is not None else sum(len(f.windows) for f in files)
    perfect = tp_count * profile.tp_weight
    score = normalise(raw, null, perfect) if perfect != null else 0.0
    return CorpusScore(profile.name, threshold, raw, null, perfect, score, n_windows, detected, fps, per_file)


def windows_to_indices(timestamps: Sequence[Any] | npt.NDArray[Any],
                       windows: Sequence[Sequence[Any]], *, name: str = "") -> list[tuple[int, int]]:
    """Map ``[[start, end], ...]`` timestamps (numpy datetime64 comparable) to inclusive row-index pairs.

    NAB enters a window on the row whose timestamp equals the window start; labels always sit on rows, so a
    window bound that is not a row is a labels/data mismatch and raised as such.
    """
    ts = np.asarray(timestamps)
    lookup: Mapping[Any, int] = {t: i for i, t in enumerate(ts.tolist())}
    out: list[tuple[int, int]] = []
    for w in windows:
        a, b = np.datetime64(w[0], "ns"), np.datetime64(w[1], "ns")
        ia, ib = lookup.get(a.astype(ts.dtype).tolist()), lookup.get(b.astype(ts.dtype).tolist())
        if ia is None or ib is None:
            raise ValidationError(f"window {w[0]} .. {w[1]} does not start and end on rows of the data",
                                  where=name)
        out.append((ia, ib))
    return out
