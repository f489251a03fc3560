from datetime import UTC, datetime

import numpy as np
import pytest

from tvilling.virtual_plant.sensors import Sensor, SensorReading, SensorSpec

START = datetime(2026, 5, 4, tzinfo=UTC)


def _run(spec: SensorSpec, seconds: float, dt: float = 1.0, value: float = 20.0,
         seed: int = 0) -> list[SensorReading | None]:
    s = Sensor(spec, np.random.default_rng(seed))
    out: list[SensorReading | None] = []
    t = 0.0
    while t < seconds:
        t += dt
        if s.due(t):
            out.append(s.sample(t, value, START))
    return out


def test_each_sensor_samples_at_its_own_period() -> None:
    fast = _run(SensorSpec("d", "a", "k", "degC", period_s=10.0, dropout_prob=0.0), 3600.0)
    slow = _run(SensorSpec("d", "b", "k", "degC", period_s=300.0, dropout_prob=0.0), 3600.0)
    assert len(fast) == pytest.approx(360, abs=1)
    assert len(slow) == pytest.approx(12, abs=1)


def test_coarse_physics_step_does_not_burst_samples() -> None:
    out = _run(SensorSpec("d", "a", "k", "degC", period_s=30.0, dropout_prob=0.0), 3600.0, dt=60.0)
    assert len(out) == pytest.approx(60, abs=1)  # at most one per step, never a backlog


def test_noise_quantisation_dropouts_nan_and_spikes() -> None:
    spec = SensorSpec("d", "a", "k", "degC", period_s=1.0, noise_sd=0.2, resolution=0.1, dropout_prob=0.05,
                      nan_prob=0.02, spike_prob=0.02, spike_scale=5.0)
    out = _run(spec, 20000.0)
    dropped = sum(r is None for r in out)
    nans = [r for r in out if r is not None and r.value is None]
    values = np.array([r.value for r in out if r is not None and r.value is not None])
    assert dropped / len(out) == pytest.approx(0.05, abs=0.01)
    assert len(nans) / len(out) == pytest.approx(0.02, abs=0.007)
    spikes = np.abs(values - 20.0) > 50.0
    assert spikes.mean() == pytest.approx(0.02, abs=0.007)
    normal = values[~spikes]
    assert np.std(normal) == pytest.approx(0.2, rel=0.1)
    assert np.allclose(np.round(values / 0.1) * 0.1, values, atol=1e-6)


def test_injected_drift_ramps_the_reading() -> None:
    spec = SensorSpec("d", "a", "k", "degC", period_s=600.0, dropout_prob=0.0, nan_prob=0.0, spike_prob=0.0)
    s = Sensor(spec, np.random.default_rng(0))
    s.start_drift(0.5, 0.0)
    t, last = 0.0, None
    while t < 10 * 86400:
        t += 600.0
        if s.due(t):
            last = s.sample(t, 20.0, START)
    assert last is not None and last.value == pytest.approx(25.0, abs=0.05)


def test_reading_carries_name_unit_and_source_time() -> None:
    spec = SensorSpec("d", "a", "k", "bar", period_s=60.0, dropout_prob=0.0, nan_prob=0.0, spike_prob=0.0)
    s = Sensor(spec, np.random.default_rng(0))
    r = s.sample(120.0, 1.3, START)
    assert r is not None
    assert r.as_dict() == {"name": "a", "value": 1.3, "unit": "bar", "source_time": "2026-05-04T00:02:00Z"}
