"""Acceptance (issue 6): a synthetic regime change is detected, the live monitor recalibrates and its error
returns to the pre-drift level; without the policy the error stays high. Then the registry round trip."""

from __future__ import annotations

import random
from dataclasses import replace
from statistics import fmean
from typing import Any

import pytest

from tests.support import dtdl_samples
from tests.unit.app.test_monitoring import changes
from tvilling.app.monitoring_config import MonitorSpec, parse_config
from tvilling.app.monitoring_twin import TwinMonitor
from tvilling.core.errors import ValidationError
from tvilling.ml.drift_policy import DriftPolicy, residual

WARMUP, CHANGE_AT, N = 200, 800, 2400
GAIN = 2.0  # the transmitter is replaced by one with twice the gain (or the machine moves operating point)
SPEC = MonitorSpec(model=dtdl_samples.ROOM, signals=("temperature",), warmup=WARMUP, threshold=0.99,
                   open_after=3, quiet_hours=12.0, smooth=1)
POLICY = DriftPolicy(action="recalibrate", monitor="residuals", method="page_hinkley", window=200)
DETECTION_BOUND = 50  # vectors after the change
RECOVERY_AT = CHANGE_AT + DETECTION_BOUND + POLICY.window  # by then the re-fitted model is live


def value(i: int, rng: random.Random) -> float:
    return 20.0 * (GAIN if i >= CHANGE_AT else 1.0) * rng.lognormvariate(0.0, 0.05)


def run(spec: MonitorSpec, seed: int) -> tuple[TwinMonitor, list[tuple[int, Any]], dict[str, list[float]]]:
    """Feed the stream; per vector, the live model's error: |standardised residual| and alarm (score ≥ thr)."""
    rng = random.Random(seed)
    monitor = TwinMonitor(spec)
    insights: list[tuple[int, Any]] = []
    errors: dict[str, list[float]] = {"residual": [], "alarm": []}
    for i in range(N):
        v = value(i, rng)
        insights.extend((i, ins) for ins in monitor.update(changes(i, v)))
        if monitor.warmed_up and i >= WARMUP:
            errors["residual"].append(residual(monitor.detector, {"temperature": v}) or 0.0)
            errors["alarm"].append(float(monitor.last_score >= spec.threshold))
    return monitor, insights, errors


def window(errors: dict[str, list[float]], start: int, stop: int) -> dict[str, float]:
    return {k: fmean(v[start - WARMUP:stop - WARMUP]) for k, v in errors.items()}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_regime_change_is_detected_recalibrated_and_error_returns(seed: int) -> None:
    monitor, insights, errors = run(replace(SPEC, drift=POLICY), seed)
    drifts = [(i, ins.data) for i, ins in insights if ins.kind == "insight.drift"]
    recals = [(i, ins.data) for i, ins in insights if ins.kind == "insight.recalibrated"]
    assert len(drifts) == 1 and len(recals) == 1, (drifts, recals)
    detected = drifts[0][0]
    assert CHANGE_AT <= detected < CHANGE_AT + DETECTION_BOUND
    assert drifts[0][1]["source"] == "residuals" and drifts[0][1]["action"] == "recalibrate"
    assert recals[0][0] == detected + POLICY.window  # a fresh window of the new regime, then the re-fit
    pre = window(errors, WARMUP, CHANGE_AT)
    stale = window(errors, CHANGE_AT, detected + POLICY.window)  # the old model until the re-fit
    post = window(errors, RECOVERY_AT, N)
    assert stale["residual"] > 5 * pre["residual"] and stale["alarm"] > 0.9
    assert post["residual"] < 1.25 * pre["residual"]  # the error is back to its pre-drift level
    assert post["alarm"] <= pre["alarm"] + 0.005
    # recorded before/after metrics tell the same story
    metrics = recals[0][1]["metrics"]
    assert metrics["before"]["residual_mae"] > 5 * metrics["after"]["residual_mae"]
    assert metrics["after"]["alarm_rate"] <= 0.01
    assert abs(metrics["pre_drift"]["residual_mae"] - pre["residual"]) < 0.5
    # the warm-up fit and the re-fit are queued for registration, the second with the window's span
    assert [t.reason for t in monitor.trained] == ["warmup", "recalibrate"]
    assert monitor.trained[1].points == POLICY.window and monitor.trained[1].insight is recals[0][1]


@pytest.mark.parametrize("seed", [1, 2])
def test_control_without_policy_the_error_stays_high(seed: int) -> None:
    monitor, insights, errors = run(SPEC, seed)
    assert not [ins for _i, ins in insights if ins.kind in ("insight.drift", "insight.recalibrated")]
    pre = window(errors, WARMUP, CHANGE_AT)
    post = window(errors, RECOVERY_AT, N)
    assert post["residual"] > 5 * pre["residual"] and post["alarm"] > 0.9
    assert [t.reason for t in monitor.trained] == ["warmup"]


def test_notify_raises_the_insight_and_keeps_the_model() -> None:
    _monitor, insights, errors = run(replace(SPEC, drift=replace(POLICY, action="notify")), 1)
    kinds = [ins.kind for _i, ins in insights]
    assert kinds.count("insight.drift") >= 1 and "insight.recalibrated" not in kinds
    assert window(errors, RECOVERY_AT, N)["alarm"] > 0.9  # still alarming: nobody re-fitted
    assert "insight.anomaly" in kinds  # notify does not suppress alerts


def test_drift_policy_in_the_monitoring_document() -> None:
    doc = {"monitors": [{"model": dtdl_samples.ROOM, "signals": ["temperature"],
                         "drift": {"action": "recalibrate", "method": "adwin", "params": {"delta": 0.01},
                                   "window": 150}}]}
    spec = parse_config(doc).monitors[0]
    assert spec.drift == DriftPolicy(action="recalibrate", method="adwin", params={"delta": 0.01}, window=150)
    assert spec.register
    bad = {"monitors": [{"model": dtdl_samples.ROOM, "signals": ["t"], "detector": "multivariate",
                         "drift": {"action": "recalibrate", "params": {"bogus": 1}}}]}
    with pytest.raises(ValidationError) as err:
        parse_config(bad)
    assert "params" in str(err.value) and "retrain or notify" in str(err.value)


def test_retrain_fits_a_new_detector_on_a_warmup_length_window() -> None:
    monitor, insights, errors = run(replace(SPEC, drift=replace(POLICY, action="retrain")), 2)
    drift = next(i for i, ins in insights if ins.kind == "insight.drift")
    recal = [(i, ins.data) for i, ins in insights if ins.kind == "insight.recalibrated"]
    assert len(recal) == 1 and recal[0][0] == drift + SPEC.warmup and recal[0][1]["action"] == "retrain"
    assert [t.reason for t in monitor.trained] == ["warmup", "retrain"]
    assert window(errors, drift + SPEC.warmup + 1, N)["alarm"] <= window(errors, WARMUP, CHANGE_AT)["alarm"] + 0.005
