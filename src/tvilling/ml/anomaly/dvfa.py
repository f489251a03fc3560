"""The dual-vigilance fuzzy ART memory used by :mod:`tvilling.ml.anomaly.artime`.

A fuzzy ART (Carpenter, Grossberg & Rosen 1991) keeps one weight vector per *category*; inputs are
complement-coded (``[f, 1 - f]``), so a weight is a hyper-box and ``min(x, w)`` is the box grown to hold ``x``.
This is the compact variant ARTime uses (adapted there from AdaptiveResonance.jl's DVFA):

* match of category ``j``: ``M_j = fs_j**3 * es_j**2`` where ``fs_j = |min(x, w_j)|_1 / |w_j|_1`` (feature
  similarity) and ``es_j`` is the same ratio over the two *energy* components only: the last feature and its
  complement (ARTime puts the newest level of the series there);
* every category with ``M_j >= rho_ub`` learns ``w_j <- min(x, w_j)`` (fast learning) — a resonance;
* otherwise, when the best ``M`` reaches ``rho_lb``, ``x`` is stored as a new category of the same cluster;
* otherwise ``x`` is stored as a new category of a *new* cluster: a mismatch, what ARTime calls an anomaly.

The very first input is not learned: it creates one all-ones category instead (match ``0.5**5`` for every
complement-coded input until it learns). When an energy denominator is 0 the match is NaN, as in the Julia
original, and a NaN sorts first there, so the step is a mismatch with similarity 0: kept for fidelity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


@dataclass
class Match:
    """What one input does to the memory, computed before anything is stored.

    ``similarity`` is the best match ``M`` (0 when no category matches at all) and ``energy`` that category's
    energy similarity; ``mismatch`` is True when no category reached ``rho_lb`` (a new cluster)."""

    similarity: float
    energy: float
    mismatch: bool
    x: FloatArray  # the complement-coded input
    em: FloatArray | None = None  # min(x, w) of every category, rows = categories
    resonant: npt.NDArray[np.bool_] | None = None  # categories that learn (M >= rho_ub)


class DualVigilanceART:
    """Fuzzy ART with two vigilance levels; ``rho_lb``/``rho_ub`` are set from outside (ARTime adapts them).

    ``max_categories`` (default: none, as in the original) bounds the memory for streams that run for months: once
    it is full, a new category replaces the one that has gone longest without being created or learning (a pattern
    not seen for that long is the one a plant has most likely left behind). Until the memory is full the behaviour
    is the original's, step for step."""

    def __init__(self, dim: int, rho_lb: float = 0.0, rho_ub: float = 0.0,
                 max_categories: int | None = None) -> None:
        if dim < 1:
            raise ValueError("dim must be >= 1")
        if max_categories is not None and max_categories < 2:
            raise ValueError("max_categories must be >= 2 (or None: no bound)")
        self.dim = dim
        self.rho_lb = rho_lb
        self.rho_ub = rho_ub
        self.max_categories = max_categories
        self._w = np.empty((16, 2 * dim), dtype=np.float64)
        self._used = np.zeros(16, dtype=np.int64)  # per category: the commit that last created or taught it
        self._commits = 0
        self.n = 0  # categories in use (rows of _w)
        self.replaced = 0  # categories overwritten because the memory was full
        self._e = (dim - 1, 2 * dim - 1)  # the energy components: last feature and its complement

    @property
    def weights(self) -> FloatArray:
        return self._w[: self.n]

    def match(self, f: FloatArray, learning: bool = True) -> Match:
        """Score input ``f`` (features in ``[0, 1]``) against the memory; stores nothing."""
        x = np.concatenate((f, 1.0 - f))
        if self.n == 0:  # the first input only sets up the all-ones category (the original labels it 1)
            return Match(0.0, 0.0, False, x)
        w = self._w[: self.n]
        em = np.minimum(w, x)
        nw = w.sum(axis=1)
        nw[nw == 0.0] = 0.001
        fs = em.sum(axis=1) / nw
        e0, e1 = self._e
        with np.errstate(invalid="ignore", divide="ignore"):
            es = (em[:, e0] + em[:, e1]) / (w[:, e0] + w[:, e1])
        m = fs**3 * es**2
        nan = np.isnan(m)
        if nan.any():
            if learning:  # the NaN is visited first and ends the search: a mismatch, similarity 0
                return Match(0.0, 0.0, True, x, em)
            m = np.where(nan, -np.inf, m)
        best = int(np.argmax(m))  # first of equal maxima, as a stable descending sort visits them
        sim = float(m[best])
        if not sim > 0.0:  # the original tracks the maximum from 0 with a strict comparison
            sim, energy = 0.0, 0.0
        else:
            energy = float(es[best])
        if not learning:
            return Match(sim, energy, True, x)
        top = float(m[best])
        if top >= self.rho_ub:
            return Match(sim, energy, False, x, em, m >= self.rho_ub)
        return Match(sim, energy, not top >= self.rho_lb, x, em)

    def commit(self, m: Match) -> None:
        """Store what :meth:`match` decided (call only with a match made with ``learning=True``)."""
        self._commits += 1
        if self.n == 0:
            self._add(np.ones_like(m.x))
        elif m.resonant is not None and m.em is not None:
            self._w[: self.n][m.resonant] = m.em[m.resonant]
            self._used[: self.n][m.resonant] = self._commits
        else:  # a new category, of the same cluster (lower band) or of a new one (mismatch)
            self._add(m.x)

    def train(self, f: FloatArray, learning: bool = True) -> Match:
        m = self.match(f, learning)
        if learning or self.n == 0:  # the first input always sets up the all-ones category
            self.commit(m)
        return m

    def _add(self, row: FloatArray) -> None:
        if self.max_categories is not None and self.n >= self.max_categories:
            stale = int(np.argmin(self._used[: self.n]))  # first of equals: the oldest row
            self._w[stale] = row
            self._used[stale] = self._commits
            self.replaced += 1
            return
        if self.n == self._w.shape[0]:
            size = 2 * self.n if self.max_categories is None else min(2 * self.n, self.max_categories)
            grown = np.empty((size, self._w.shape[1]), dtype=np.float64)
            grown[: self.n] = self._w
            self._w = grown
            used = np.zeros(size, dtype=np.int64)
            used[: self.n] = self._used[: self.n]
            self._used = used
        self._w[self.n] = row
        self._used[self.n] = self._commits
        self.n += 1
