"""Pure ML engines (no I/O, no asyncio, no clock reads).

* :mod:`tvilling.ml.anomaly` — streaming anomaly detectors, alerts with contributing signals.
* :mod:`tvilling.ml.drift` — concept-drift detection (ADWIN / Page-Hinkley via river).
* :mod:`tvilling.ml.nab` — NAB v1.1 scoring.
* :mod:`tvilling.ml.rul` — remaining-useful-life estimation.
* :mod:`tvilling.ml.ports` — the contracts (``AnomalyDetector``, ``DriftDetector``, ``RulEstimator``).
"""
