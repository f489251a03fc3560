"""The dual-vigilance fuzzy ART memory of ARTime, step by step."""

from __future__ import annotations

import numpy as np
import pytest

from tvilling.ml.anomaly.dvfa import DualVigilanceART


def test_art_first_input_learning_and_new_clusters() -> None:
    art = DualVigilanceART(2, rho_lb=0.5, rho_ub=0.9)
    first = art.train(np.array([0.2, 0.4]))
    assert (first.similarity, art.n) == (0.0, 1) and art.weights.tolist() == [[1.0] * 4]
    # against the all-ones category every complement-coded input matches 0.5**3 * 0.5**2: a new cluster
    m = art.train(np.array([0.2, 0.4]))
    assert m.similarity == pytest.approx(0.5**5) and m.mismatch and art.n == 2
    again = art.train(np.array([0.2, 0.4]))  # its own box: similarity 1, resonance, learns (stays the same)
    assert again.similarity == pytest.approx(1.0) and not again.mismatch and art.n == 2
    near = art.match(np.array([0.25, 0.4]))  # grows the box a little: still resonant
    assert not near.mismatch and near.resonant is not None and near.resonant.tolist() == [False, True]
    art.commit(near)
    np.testing.assert_allclose(art.weights[1], [0.2, 0.4, 0.75, 0.6])
    far = art.match(np.array([0.9, 0.9]))
    assert far.mismatch and far.similarity < 0.5


def test_a_bounded_memory_replaces_the_category_unused_longest() -> None:
    art = DualVigilanceART(1, rho_lb=0.99, rho_ub=0.99, max_categories=3)

    def stored() -> list[float]:  # each category's box start (complement coding: [f, 1 - f])
        return sorted(round(float(w[0]), 6) for w in art.weights)

    for v in (0.5, 0.1, 0.9):  # the all-ones category, then 0.1 and 0.9: full, nothing replaced yet
        art.train(np.array([v]))
    assert stored() == [0.1, 0.9, 1.0] and art.replaced == 0
    assert not art.train(np.array([0.1])).mismatch  # 0.1 resonates: now the most recently used
    art.train(np.array([0.3]))  # replaces the all-ones category, unused since the first input
    assert stored() == [0.1, 0.3, 0.9] and art.replaced == 1
    art.train(np.array([0.7]))  # replaces 0.9 (created before 0.1 last learned and before 0.3)
    assert stored() == [0.1, 0.3, 0.7] and art.replaced == 2 and art.n == 3


def test_an_unbounded_memory_grows() -> None:
    art = DualVigilanceART(1, rho_lb=0.99, rho_ub=0.99)
    for v in np.linspace(0.0, 1.0, 40):
        art.train(np.array([v]))
    assert art.n > 30 and art.replaced == 0


def test_max_categories_must_hold_two() -> None:
    with pytest.raises(ValueError):
        DualVigilanceART(1, max_categories=1)
