"""The examples in the detectors' docstrings run and hold."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["tvilling.ml.anomaly.univariate", "tvilling.ml.anomaly.multivariate", "tvilling.ml.anomaly.wrappers",
           "tvilling.ml.drift", "tvilling.ml.nab.scoring"]


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name))
    assert result.attempted > 0 and result.failed == 0
