from tvilling.dashboard import health


def test_all_good_is_full_health() -> None:
    assert health.twin_health(["good", "good", None]) == 100.0


def test_worst_quality_counts_not_the_average() -> None:
    many_good = health.twin_health(["good"] * 50 + ["bad"])
    assert many_good == 100.0 - health.QUALITY_PENALTY["bad"]
    assert health.twin_health(["uncertain"]) > many_good


def test_alarms_and_anomaly_lower_health_and_clamp_at_zero() -> None:
    assert health.twin_health([], ["major"]) == 100.0 - health.SEVERITY_PENALTY["major"]
    assert health.twin_health([], [], anomaly=0.5) == 100.0 - health.ANOMALY_WEIGHT / 2
    assert health.twin_health(["bad"], ["critical", "critical"], anomaly=5.0) == 0.0


def test_rollup_and_bands() -> None:
    assert health.rollup(90.0, [100.0, 40.0]) == 40.0
    assert [health.band(s) for s in (None, 100, 85, 84.9, 60, 59.9)] == [
        "unknown", "good", "good", "warning", "warning", "critical"]
    assert health.color(10) == health.COLORS["critical"]
