"""The synthetic development corpus (bench/nab_dev) on which the detector's settings are chosen."""

from __future__ import annotations

import numpy as np
from bench.nab_dev.corpus import make_corpus
from bench.nab_dev.select_settings import PREVIOUS_DEFAULT, SPACE, evaluate


def test_corpus_is_deterministic_and_seeds_differ() -> None:
    a, b, c = make_corpus(0, 6), make_corpus(0, 6), make_corpus(1, 6)
    for fa, fb in zip(a, b, strict=True):
        np.testing.assert_array_equal(fa.values, fb.values)
        assert fa.windows == fb.windows
    assert any(len(fa.values) != len(fc.values) or not np.array_equal(fa.values, fc.values)
               for fa, fc in zip(a, c, strict=True))


def test_windows_are_made_the_nab_way() -> None:
    corpus = make_corpus(0, 40)
    assert sum(len(f.windows) for f in corpus) > 30
    assert any(not f.windows for f in corpus)  # NAB has anomaly-free streams too
    for f in corpus:
        n, k = len(f.values), len(f.windows)
        assert np.isfinite(f.values).all()
        prev_right = -1
        for left, right in f.windows:
            # width = 10 % of the length / number of anomalies; after the probationary 15 %; no overlap
            assert abs((right - left + 1) - 0.10 * n / k) <= 2
            assert left > 0.15 * n and right < n and left > prev_right
            prev_right = right


def test_evaluate_scores_a_setting_with_the_nab_scorer() -> None:
    corpus = make_corpus(0, 4)
    res = evaluate(PREVIOUS_DEFAULT, corpus, None)
    assert set(res) == {"standard", "reward_low_fp", "reward_low_fn", "us_per_point"}
    assert all(-200.0 < res[p] <= 100.0 for p in ("standard", "reward_low_fp", "reward_low_fn"))
    assert set(PREVIOUS_DEFAULT) == set(SPACE)
