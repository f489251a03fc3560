"""ARTime's feature extraction: the Haar transform convention, down-sampling, discretisation, median."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tvilling.ml.anomaly.artime_features import FeatureFront, haar_dwt


def test_haar_transform_follows_wavelets_jl() -> None:
    # one level: approximation (a + b)/sqrt 2, detail (b - a)/sqrt 2
    np.testing.assert_allclose(haar_dwt(np.array([1.0, 3.0])), [4 / math.sqrt(2), 2 / math.sqrt(2)])
    x = np.array([1.0, 2.0, 4.0, 8.0, 8.0, 4.0, 2.0, 1.0])
    y = haar_dwt(x)
    assert y[0] == pytest.approx(x.sum() / math.sqrt(8))  # full depth: the overall mean, scaled
    assert y[1] == pytest.approx(((8 + 4 + 2 + 1) - (1 + 2 + 4 + 8)) / math.sqrt(8))  # symmetric: 0
    np.testing.assert_allclose(y[4:], [(2 - 1) / math.sqrt(2), (8 - 4) / math.sqrt(2), (4 - 8) / math.sqrt(2),
                                       (1 - 2) / math.sqrt(2)])
    assert np.linalg.norm(y) == pytest.approx(np.linalg.norm(x))  # orthogonal


def test_down_sampling_keeps_spikes_and_the_median_flattens_noise() -> None:
    front = FeatureFront(step=4, window=2, levels=10, chomp=0.15, lo=0.0, span=10.0)
    assert [front.push(v) is None for v in (5.0, 5.0, 5.0)] == [True] * 3
    f = front.push(5.0)  # step 1: mean 5 -> level 5; window 2 not yet full -> zero features
    assert f is not None and not f.any() and front.recent[-1] == pytest.approx(0.5)
    for v in (5.0, 5.0, 9.0, 5.0):  # mean 6, max 9 differs by >= 10 %: the spike is kept -> level 9
        f = front.push(v)
    assert f is not None and front.recent[-1] == pytest.approx(0.9)
    assert f[2:].tolist() == pytest.approx([0.5, 0.9])  # the raw levels follow the wavelet part
    for v in (5.2, 5.2, 5.2, 5.2):  # level 5 (rounded) is within chomp of the median level: flattened to it
        front.push(v)
    assert front.recent[-1] == pytest.approx(0.5)
