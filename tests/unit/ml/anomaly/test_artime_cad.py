"""max(ARTime, w * CAD OSE): contract, equality with its two parts as the NAB harness runs them, CLI name."""

from __future__ import annotations

import doctest
from pathlib import Path

import numpy as np
import pytest

from tests.unit.ml.anomaly.conformance import check_detector
from tests.unit.ml.anomaly.nab_cli import run_bench_nab
from tvilling.cli.bench_nab import DETECTORS
from tvilling.ml.anomaly import artime_cad
from tvilling.ml.anomaly.artime import nab_artime_scores
from tvilling.ml.anomaly.artime_cad import ARTimeCADDetector, nab_artime_cad_scores
from tvilling.ml.anomaly.context_ose import nab_context_ose_scores


def test_conforms_with_a_given_range() -> None:
    check_detector(lambda: ARTimeCADDetector(min_value=-1.5, max_value=1.5, probation=100), n_train=250)


def test_conforms_with_a_learned_range() -> None:
    check_detector(lambda: ARTimeCADDetector(probation=100))


def test_docstring_examples() -> None:
    result = doctest.testmod(artime_cad)
    assert result.attempted > 0 and result.failed == 0


def test_nab_scores_are_the_max_of_the_weighted_parts() -> None:
    # a 1 200-row stream with a level shift: both parts report something, so the maximum is not one of them
    rng = np.random.default_rng(3)
    v = np.sin(np.arange(1200) / 7.0) + rng.normal(0, 0.1, 1200)
    v[900:] += 2.5
    got = nab_artime_cad_scores(v)
    a, c = nab_artime_scores(v), nab_context_ose_scores(v)
    np.testing.assert_array_equal(got, np.maximum(a, 0.25 * c))
    assert (got > 0).sum() > (a > 0).sum()  # CAD OSE adds reports ARTime alone does not make


def test_weight_is_checked_and_kept() -> None:
    with pytest.raises(ValueError):
        ARTimeCADDetector(weight=1.5)
    assert ARTimeCADDetector().weight == artime_cad.WEIGHT == 0.25


def test_cli_detector_name(tmp_path: Path) -> None:
    assert DETECTORS["artime_cad"] is nab_artime_cad_scores
    summary, df = run_bench_nab(tmp_path, "artime_cad")
    assert summary["detected_windows"] >= 1
    assert df["anomaly_score"].between(0, 1).all()
