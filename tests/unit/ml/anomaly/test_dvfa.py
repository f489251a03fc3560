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
