"""Contextual Anomaly Detector, Open Source Edition (CAD OSE; M. Smirnov and D. Rodionov, winner of the 2016
NAB competition), written from its published description for Tvilling's streaming contract.

The value is quantised into ``2**value_bits`` levels of a fixed range ``[min_value, max_value]``; each bit of
the level is one *fact* ("bit s is 0" or "bit s is 1"). A *context* is a pair (left facts, right facts) meaning
"after the facts on the left came the facts on the right". Every step:

1. the zero-level context (previous left group -> current value facts) is stored if it is new;
2. the contexts whose left side was fully present at the previous step are *selected*; each counts how much
   of its right side came true (its prediction record) and is *active* when all of it did;
3. partial matches of zero-level contexts yield candidate new contexts (the intersections), stored at
   step 5 when new (only while the zero-level context itself is new, and left sides of at most
   ``max_left_semicontexts`` facts);
4. the ``max_active_neurons`` most often active of the active contexts become *neuron* facts; the next left
   group is the value facts plus those neurons;
5. the next prediction is the union of the right sides of the fully matched contexts with the best
   prediction record.

The anomaly score is 0 when every current fact was predicted, else ``(1 - active/selected + new/candidates) / 2``.
A score is reported only if no score of the last ``rest_period`` points reached ``base_threshold`` (one alert
per episode; the history starts with one 1.0, so the first ``rest_period`` points report 0).

Range: CAD OSE as published is given the file's min/max by NAB's runner (``min_value``/``max_value``). For a
live stream that has no known range, leave them ``None``: the range is then the min/max of the first
``probation`` points, which are only buffered (scored 0) and replayed into the memory once the range is fixed.
Values outside the fixed range land in the edge level plus an extra "above"/"below" fact, so they stay new.

Deviations from the reference code (all deliberate): ties between equally active contexts are broken by
creation order instead of by Python tuple hashes; the reference's ``newContextID = False`` sentinel that also
hides context 0 from selection is not reproduced. Speed, same result: the reference visits every semi-context
every step; here the records live in (left, right) matrices, fully contained left sides are found through
their largest fact, and partly contained ones are looked for only when they can matter (a new zero-level
context) and only among left sides of zero-level contexts. Cost still grows with the memory: ~0.1-0.5 ms per
point on NAB's streams, more on noisy ones.

Score range: ``[0, 1]``; higher = more anomalous. Published defaults (NAB's ``cad_ose.py``): base_threshold
0.75, max_left_semicontexts 7, max_active_neurons 15, value_bits 3; NAB passes ``rest_period`` = probationary
length / 5.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from tvilling.ml.anomaly.base import SteppedUnivariate, univariate_column

FloatArray = npt.NDArray[np.float64]
Facts = tuple[int, ...]
_NEURON = 1 << 20  # neuron facts are _NEURON + context id; value facts are small ints


@dataclass
class _Left:
    facts: Facts
    fact_set: frozenset[int]
    contexts: dict[int, int] = field(default_factory=dict)  # right semi-context id -> context id


@dataclass
class _Outcome:
    """What one step computes before anything is stored."""

    score: float
    zero_key: tuple[Facts, Facts] | None
    zero_new: bool
    neurons: list[int]  # filled only when learning
    candidates: list[tuple[Facts, Facts]]


class ContextOSEDetector(SteppedUnivariate):
    """CAD OSE behind the ``AnomalyDetector`` contract (see module docstring).

    Parameters:
        min_value, max_value: the value range quantised into levels (None: learned over ``probation``).
        probation: points buffered to learn the range when it is not given.
        rest_period: points after a score >= ``base_threshold`` during which scores are reported as 0.
        base_threshold: score that starts a rest period.
        max_left_semicontexts: largest left side of a context created from an intersection.
        max_active_neurons: active contexts fed back as facts.
        value_bits: bits of the quantised level (``2**value_bits`` levels).
        key: the signal to read from ``x`` (default: the only one).

    >>> import math
    >>> det = ContextOSEDetector(min_value=-1.0, max_value=1.0, rest_period=10)
    >>> scores = det.score_learn_many([math.sin(i / 3.0) for i in range(600)])
    >>> float(scores[-100:].max()) < 0.5
    True
    """

    # Defaults: the published CAD OSE defaults; probation/rest_period = what NAB uses for a 5000-point file.
    def __init__(self, *, min_value: float | None = None, max_value: float | None = None,
                 probation: int = 750, rest_period: int = 150, base_threshold: float = 0.75,
                 max_left_semicontexts: int = 7, max_active_neurons: int = 15, value_bits: int = 3,
                 key: str | None = None) -> None:
        if (min_value is None) != (max_value is None):
            raise ValueError("give both min_value and max_value, or neither")
        if min_value is not None and max_value is not None and not min_value <= max_value:
            raise ValueError("min_value must not exceed max_value")
        if probation < 1 or rest_period < 1 or value_bits < 1 or max_active_neurons < 0:
            raise ValueError("probation, rest_period and value_bits must be >= 1, max_active_neurons >= 0")
        self.min_value = min_value
        self.max_value = max_value
        self.probation = probation
        self.rest_period = rest_period
        self.base_threshold = base_threshold
        self.max_left_semicontexts = max_left_semicontexts
        self.max_active_neurons = max_active_neurons
        self.value_bits = value_bits
        self.key = key
        self._max_level = 2**value_bits - 1
        self._lo = 0.0
        self._step_size = 1.0
        self._buffer: list[float] | None = None
        if min_value is not None and max_value is not None:
            self._fix_range(min_value, max_value)
        else:
            self._buffer = []
        self._lefts: list[_Left] = []
        self._left_ids: dict[Facts, int] = {}
        self._rights: list[Facts] = []
        self._right_ids: dict[Facts, int] = {}
        self._index: tuple[dict[int, list[int]], dict[int, list[int]]] = ({}, {})  # fact -> semi ids, per side
        self._ctx_lid: list[int] = []  # context id -> left semi id
        self._ctx_rid: list[int] = []  # context id -> right semi id
        # records per (left semi id, right semi id): context id (-1: none), facts predicted (total), of them
        # came true (hits), times wholly true (active), zero-level flag; rsize = facts of each right semi
        self._cid = np.full((0, 0), -1, dtype=np.int64)
        self._tot = np.zeros((0, 0), dtype=np.int64)
        self._hit = np.zeros((0, 0), dtype=np.int64)
        self._act = np.zeros((0, 0), dtype=np.int64)
        self._zero = np.zeros((0, 0), dtype=bool)
        self._rsize = np.zeros(0, dtype=np.int64)
        self._left_group: Facts = ()
        self._key_index: dict[int, list[int]] = {}  # largest fact -> left semi ids
        self._zero_ctx: dict[int, list[int]] = {}  # left semi id -> its zero-level context ids, ascending
        self._zero_index: dict[int, list[int]] = {}  # fact -> left semi ids that have zero-level contexts
        self._full = np.empty(0, dtype=np.int64)  # left semi ids contained in the left group, ascending
        self._predicted: frozenset[int] = frozenset()
        self._history: deque[float] = deque([1.0], maxlen=rest_period)

    # the contract (score_one, learn_one, batch forms) comes from SteppedUnivariate: _step and _score_value
    # -- internals ------------------------------------------------------------------------------------
    def _fix_range(self, lo: float, hi: float) -> None:
        span = hi - lo
        # a constant stream: any positive step works; every value then sits on level 0
        self._lo = lo
        self._step_size = (span if span > 0.0 else float(self._max_level)) / self._max_level

    def _facts(self, v: float) -> Facts:
        level = int((v - self._lo) / self._step_size)
        out = [2 * s + ((min(max(level, 0), self._max_level) >> s) & 1) for s in range(self.value_bits)]
        if level > self._max_level or level < 0:
            out.append(2 * self.value_bits + (1 if level > 0 else 0))  # above / below the fixed range
        return tuple(out)

    def _score_value(self, v: float) -> float:
        if self._buffer is not None or not np.isfinite(v):
            return 0.0
        return self._gate(self._evaluate(self._facts(v)).score)

    def _gate(self, score: float) -> float:
        return score if max(self._history) < self.base_threshold else 0.0

    def _step(self, v: float) -> float:
        if not np.isfinite(v):
            return 0.0
        if self._buffer is not None:
            self._buffer.append(v)
            if len(self._buffer) >= self.probation:
                values, self._buffer = self._buffer, None
                self._fix_range(min(values), max(values))
                for u in values:  # replayed into the memory; their scores were reported as 0
                    self._learn(self._facts(u))
            return 0.0
        return self._learn(self._facts(v))

    def _evaluate(self, facts: Facts, learn: bool = False) -> _Outcome:
        """Steps 1-3 and the score; with ``learn`` also the selected contexts' records (nothing else is stored).

        The records of all contexts sit in matrices indexed (left semi id, right semi id), so the selected
        contexts (every context of every left side contained in the previous left group) are updated with a
        few array operations instead of a Python loop over each of them.
        """
        sens = tuple(sorted(set(facts)))
        zero_key: tuple[Facts, Facts] | None = None
        zero_new = False
        zero_id = -1
        if self._left_group:
            zero_key = (self._left_group, sens)
            zero_id = self._context_id(zero_key)
            zero_new = zero_id < 0
        # right semi-contexts crossed with the current facts: id -> facts of it that are present
        right_cross: dict[int, list[int]] = {}
        for f in sens:
            for rid in self._index[1].get(f, ()):
                right_cross.setdefault(rid, []).append(f)
        n_r = len(self._rights)
        present = np.zeros(n_r, dtype=np.int64)
        for rid, got in right_cross.items():
            present[rid] = len(got)
        sizes = self._rsize[:n_r]
        whole = (present == sizes) & (present > 0)
        full = self._full
        selected = 0
        active = np.empty(0, dtype=np.int64)
        act_rows = act_cols = active
        if full.size:
            cid = self._cid[full, :n_r]
            exists = cid >= 0
            selected = int(exists.sum())
            act_mask = exists & whole
            act_rows, act_cols = np.nonzero(act_mask)
            active = cid[act_rows, act_cols]
            if learn:
                self._tot[full, :n_r] += exists * sizes
                self._hit[full, :n_r] += exists * present
                self._act[full, :n_r] += act_mask
        candidates: list[tuple[Facts, Facts]] = []
        if zero_new:
            found: list[tuple[int, int, Facts, Facts]] = []  # (left id, context id, left facts, right facts)
            for lid, left_present in self._partial_lefts():
                if len(left_present) <= self.max_left_semicontexts:
                    for c in self._zero_ctx[lid]:
                        hit = right_cross.get(self._ctx_rid[c])
                        if hit:
                            found.append((lid, c, tuple(left_present), tuple(hit)))
            if full.size:
                short = np.array([len(self._lefts[lid].facts) <= self.max_left_semicontexts for lid in full.tolist()])
                grow = exists & self._zero[full, :n_r] & (present > 0) & ~whole & short[:, None]
                for i, j in zip(*np.nonzero(grow), strict=True):
                    lid = int(full[i])
                    found.append((lid, int(cid[i, j]), self._lefts[lid].facts, tuple(right_cross[int(j)])))
            # creation order of the left side, then of the context: the order the reference visits them
            found.sort(key=lambda e: (e[0], e[1]))
            candidates = [(lf, rf) for _, _, lf, rf in found]
        unpredicted = any(f not in self._predicted for f in sens)
        score = 0.0
        if unpredicted:
            share_active = active.size / selected if selected else 0.0
            share_new = 0.0
            if zero_new and zero_key is not None:
                unique = set(candidates)
                unique.add(zero_key)
                new = sum(1 for c in unique if c != zero_key and self._context_id(c) < 0) + 1
                share_new = new / len(unique)
            score = (1.0 - share_active + share_new) / 2.0
        neurons: list[int] = []
        if learn and active.size:
            # the most often active contexts; (left, right) ids are unique per context, so there are no ties
            counts = self._act[full[act_rows], act_cols]
            order = np.lexsort((act_cols, full[act_rows], counts))
            neurons = active[order[-self.max_active_neurons:]].tolist() if self.max_active_neurons else []
        return _Outcome(score, zero_key, zero_new, neurons, candidates)

    def _partial_lefts(self) -> list[tuple[int, list[int]]]:
        """Left sides of zero-level contexts partly (not fully) contained in the previous left group, with the
        facts present: only these can yield candidates besides the fully present ones."""
        cross: dict[int, list[int]] = {}
        for f in self._left_group:
            for lid in self._zero_index.get(f, ()):
                cross.setdefault(lid, []).append(f)
        return [(lid, got) for lid, got in cross.items() if len(got) < len(self._lefts[lid].facts)]

    def _learn(self, facts: Facts) -> float:
        out = self._evaluate(facts, learn=True)
        reported = self._gate(out.score)
        sens = tuple(sorted(set(facts)))
        if out.zero_key is not None:
            self._mark_zero(self._store(out.zero_key))
        self._left_group = tuple(sorted({*sens, *(_NEURON + c for c in out.neurons)}))
        for cand in dict.fromkeys(out.candidates):  # duplicates are common; storing one twice is a no-op
            self._store(cand)
        self._cross_left()
        self._history.append(out.score)
        return reported

    def _cross_left(self) -> None:
        """The left semi-contexts the new left group contains fully, and the prediction of the best of them."""
        group = frozenset(self._left_group)
        full: list[int] = []
        for f in self._left_group:
            # each left semi-context is filed under its largest fact only: a neuron fact when it has one,
            # which few semi-contexts share, so this visits far fewer than the whole memory
            for lid in self._key_index.get(f, ()):
                if self._lefts[lid].fact_set <= group:
                    full.append(lid)
        full.sort()
        self._full = np.array(full, dtype=np.int64)
        predicted: set[int] = set()
        n_r = len(self._rights)
        if full:
            exists = self._cid[self._full, :n_r] >= 0
            tot = self._tot[self._full, :n_r]
            weight = np.where(tot > 0, self._hit[self._full, :n_r] / np.maximum(tot, 1), 0.0)
            weight[~exists] = -1.0
            best = max(float(weight.max()), 0.0)
            # every context at the best record predicts its right side (all of them when none has a record)
            for rid in np.nonzero((weight == best).any(axis=0))[0].tolist():
                predicted.update(self._rights[rid])
        self._predicted = frozenset(predicted)

    def _mark_zero(self, cid: int) -> None:
        lid, rid = self._ctx_lid[cid], self._ctx_rid[cid]
        ids = self._zero_ctx.get(lid)
        if ids is None:
            ids = self._zero_ctx[lid] = []
            for f in self._lefts[lid].facts:
                self._zero_index.setdefault(f, []).append(lid)
        if not self._zero[lid, rid]:
            self._zero[lid, rid] = True
            bisect.insort(ids, cid)  # creation order, as the left side's own context list

    def _context_id(self, key: tuple[Facts, Facts]) -> int:
        lid = self._left_ids.get(key[0])
        rid = self._right_ids.get(key[1])
        if lid is None or rid is None:
            return -1
        return self._lefts[lid].contexts.get(rid, -1)

    def _grow(self, rows: int, cols: int) -> None:
        """Make the record matrices at least ``rows`` x ``cols`` (doubling, so growth is amortised O(1))."""
        r0, c0 = self._cid.shape
        if rows <= r0 and cols <= c0:
            return
        r1, c1 = max(r0, 1), max(c0, 1)
        while r1 < rows:
            r1 *= 2
        while c1 < cols:
            c1 *= 2

        def bigger(a: npt.NDArray[np.int64], fill: int) -> npt.NDArray[np.int64]:
            out = np.full((r1, c1), fill, dtype=a.dtype)
            out[:r0, :c0] = a
            return out

        self._cid = bigger(self._cid, -1)
        self._tot = bigger(self._tot, 0)
        self._hit = bigger(self._hit, 0)
        self._act = bigger(self._act, 0)
        zero = np.zeros((r1, c1), dtype=bool)
        zero[:r0, :c0] = self._zero
        self._zero = zero
        rsize = np.zeros(c1, dtype=np.int64)
        rsize[:c0] = self._rsize
        self._rsize = rsize

    def _store(self, key: tuple[Facts, Facts]) -> int:
        left_facts, right_facts = key
        lid = self._left_ids.get(left_facts)
        if lid is None:
            lid = self._left_ids[left_facts] = len(self._lefts)
            self._lefts.append(_Left(left_facts, frozenset(left_facts)))
            for f in left_facts:
                self._index[0].setdefault(f, []).append(lid)
            self._key_index.setdefault(max(left_facts), []).append(lid)
        rid = self._right_ids.get(right_facts)
        if rid is None:
            rid = self._right_ids[right_facts] = len(self._rights)
            self._rights.append(right_facts)
            for f in right_facts:
                self._index[1].setdefault(f, []).append(rid)
        self._grow(len(self._lefts), len(self._rights))
        self._rsize[rid] = len(right_facts)
        left = self._lefts[lid]
        cid = left.contexts.get(rid)
        if cid is None:
            cid = left.contexts[rid] = len(self._ctx_lid)
            self._ctx_lid.append(lid)
            self._ctx_rid.append(rid)
            self._cid[lid, rid] = cid
        return cid




def nab_context_ose_scores(values: npt.ArrayLike, *, causal: bool = False) -> FloatArray:
    """Scores of one NAB file with CAD OSE set up as NAB's own runner sets it up: a fresh detector, published
    defaults, ``rest_period`` = NAB's probationary length ``min(floor(0.15 n), 750)`` / 5 and the file's min/max
    (NAB hands every detector ``inputMin``/``inputMax``). ``causal=True`` withholds the min/max: the range is
    learned over the probationary length instead (the scores of those rows are 0, and NAB ignores them)."""
    v = univariate_column(values)
    probation = max(1, int(min(math.floor(0.15 * len(v)), 750.0)))
    rest = max(1, int(probation / 5.0))
    finite = v[np.isfinite(v)]
    if causal or finite.size == 0:
        det = ContextOSEDetector(probation=probation, rest_period=rest)
    else:
        det = ContextOSEDetector(min_value=float(finite.min()), max_value=float(finite.max()), rest_period=rest)
    return det.score_learn_many(v)
