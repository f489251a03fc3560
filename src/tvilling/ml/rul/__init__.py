"""Remaining-useful-life estimation: causal features, a LightGBM estimator with calibrated intervals, and
the scores used by the C-MAPSS benchmark."""

from tvilling.ml.ports import RulEstimate, RulEstimator
from tvilling.ml.rul.features import Featurizer, Schema
from tvilling.ml.rul.lgbm import LightGbmRul, TreeParams
from tvilling.ml.rul.metrics import interval_coverage, phm08_score, rmse

__all__ = ["Featurizer", "LightGbmRul", "RulEstimate", "RulEstimator", "Schema", "TreeParams",
           "interval_coverage", "phm08_score", "rmse"]
