"""Streaming anomaly detectors (river-style ``learn_one`` / ``score_one`` plus batch forms).

* :class:`EnsembleDetector` — the default univariate detector (NAB harness: ``tvilling bench nab``).
* :class:`ContextOSEDetector` — CAD OSE (NAB 2016 winner) with its published defaults (``--detector context_ose``).
* :class:`ARTimeDetector` — ARTime (top of NAB's scoreboard) with its published defaults (``--detector artime``).
* :class:`MultivariateDetector` — per-asset, correlation-aware, explains which signals contributed.
* :class:`RiverDetector`, :class:`SklearnDetector` — wrappers for river and scikit-learn models.
* :class:`AlertTracker` — turns scores into :class:`Alert` episodes (signals and since when).
"""

from tvilling.ml.anomaly.artime import ARTimeDetector
from tvilling.ml.anomaly.base import Alert, Contribution, Explanation
from tvilling.ml.anomaly.context_ose import ContextOSEDetector
from tvilling.ml.anomaly.multivariate import MultivariateDetector
from tvilling.ml.anomaly.univariate import EnsembleDetector
from tvilling.ml.anomaly.wrappers import AlertTracker, RiverDetector, SklearnDetector

__all__ = [
    "ARTimeDetector",
    "Alert",
    "AlertTracker",
    "ContextOSEDetector",
    "Contribution",
    "EnsembleDetector",
    "Explanation",
    "MultivariateDetector",
    "RiverDetector",
    "SklearnDetector",
]
