from tvilling.dashboard import twinview


def test_desired_pairs_by_naming_convention() -> None:
    names = ["position", "commandedPosition", "speed", "speedSetpoint", "desiredFlow", "temperature"]
    assert twinview.desired_pairs(names) == [("commandedPosition", "position"), ("speedSetpoint", "speed")]


def test_deviation_only_for_numbers() -> None:
    assert twinview.deviation(50, 47.5) == -2.5
    assert twinview.deviation("open", 3) is None
    assert twinview.deviation(True, 1) is None


def test_anomaly_summary_accepts_contribution_lists() -> None:
    score, why = twinview.anomaly_summary({"score": 0.91, "explanation": [
        {"feature": "vibrationRms", "contribution": 0.7}, {"feature": "temperature", "contribution": 0.2}]})
    assert score == 0.91
    assert why == "vibrationRms (0.70); temperature (0.20)"


def test_rul_summary_with_and_without_interval() -> None:
    assert twinview.rul_summary({"rul": 412, "lower": 300, "upper": 520, "level": 0.9}) == \
        "412 h (90% interval 300–520 h)"
    assert twinview.rul_summary({"rulHours": 12.4}) == "12 h"
    assert twinview.rul_summary({}) == "–"


def test_monitoring_layer_insights_are_summarised() -> None:
    # The shapes src/tvilling/app/monitoring_twin.py publishes.
    score, why = twinview.anomaly_summary({"score": 0.995, "contributions": [
        {"signal": "envelopeBpfo", "share": 0.72, "deviation": 5.13}, {"signal": "kurtosis", "share": 0.2,
                                                                        "deviation": -1.0}]})
    assert score == 0.995
    assert why == "envelopeBpfo 72% (+5.1σ); kurtosis 20% (-1.0σ)"
    text = twinview.rul_summary({"rul_hours": {"mean": 41.6, "lower": 20.2, "upper": 80.9, "level": 0.9},
                                 "p_failure": 0.63, "horizon_hours": 72})
    assert text == "42 h (90% interval 20–81 h); P(failure within 72 h) 63%"


def test_physics_summary_and_outputs() -> None:
    live = {"fmu": "fmu-0123456789abcdef", "phase": "learning", "modelTime": "2026-11-24T10:05:00Z",
            "reference": {"rows": 144, "learned": 12}, "error": None,
            "outputs": {"airTemperature": {"expected": 19.812, "measured": 20.1, "residual": 0.288, "ratio": None}}}
    assert twinview.physics_summary(live) == \
        "fmu-0123456789abcdef learning the healthy residuals (12 of 144 steps), model at 2026-11-24 10:05"
    assert twinview.physics_outputs(live) == ["airTemperature: expected 19.81, measured 20.10 (residual 0.29)"]
    watching = {**live, "phase": "watching", "outputs": {"airTemperature": {
        "expected": 19.8, "measured": None, "residual": None, "ratio": 0.0}}}
    assert twinview.physics_outputs(watching) == ["airTemperature: expected 19.80, measured – (residual –, 0.00× "
                                                  "its limit)"]
    stopped = {"fmu": "fmu-0123456789abcdef", "phase": "stopped", "error": "stopped: no FMU fmu-0123456789abcdef"}
    assert twinview.physics_summary(stopped).endswith("stopped — stopped: no FMU fmu-0123456789abcdef")
