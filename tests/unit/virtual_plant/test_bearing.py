import itertools
import math

import numpy as np
import pytest

from tvilling.virtual_plant.bearing import Bearing, BearingGeometry, BearingParams
from tvilling.virtual_plant.vibration import envelope_spectrum, synthesize_waveform


def test_defect_frequencies_match_published_6205_factors() -> None:
    # SKF 6205 (the CWRU bearing data set geometry): published multiples of shaft speed.
    f = BearingGeometry(9, 7.94, 39.04, 0.0).frequencies(shaft_hz=29.95)
    assert f.bpfo_hz / 29.95 == pytest.approx(3.5848, abs=2e-3)
    assert f.bpfi_hz / 29.95 == pytest.approx(5.4152, abs=2e-3)
    assert 2 * f.bsf_hz / 29.95 == pytest.approx(4.7135, abs=2e-3)
    assert f.ftf_hz / 29.95 == pytest.approx(0.39828, abs=2e-4)


@pytest.mark.parametrize(("n", "d", "pd", "angle", "fr"), [(8, 9.53, 46.0, 0.0, 20.0), (13, 12.0, 70.0, 15.0, 24.5)])
def test_defect_frequencies_equal_textbook_formulas(n: int, d: float, pd: float, angle: float, fr: float) -> None:
    c = math.cos(math.radians(angle))
    f = BearingGeometry(n, d, pd, angle).frequencies(fr)
    assert f.bpfo_hz == pytest.approx(n * fr / 2 * (1 - d / pd * c))
    assert f.bpfi_hz == pytest.approx(n * fr / 2 * (1 + d / pd * c))
    assert f.bsf_hz == pytest.approx(pd * fr / (2 * d) * (1 - (d / pd * c) ** 2))
    assert f.ftf_hz == pytest.approx(fr / 2 * (1 - d / pd * c))


def _peak_hz(freqs: np.ndarray, amp: np.ndarray, lo: float = 20.0, hi: float = 400.0) -> float:
    band = (freqs >= lo) & (freqs <= hi)
    return float(freqs[band][np.argmax(amp[band])])


def test_outer_race_waveform_envelope_peaks_at_bpfo() -> None:
    b = Bearing("b", BearingGeometry(9, 7.94, 39.04, 0.0), BearingParams(rated_shaft_hz=24.5))
    b.defect_kind, b.defect_mm = "outer", 0.3
    shaft_hz = 24.5
    x = synthesize_waveform(b, shaft_hz, np.random.default_rng(1), fs_hz=25600.0, duration_s=2.0)
    freqs, amp = envelope_spectrum(x, 25600.0)
    bpfo = b.frequencies(shaft_hz).bpfo_hz
    assert _peak_hz(freqs, amp) == pytest.approx(bpfo, abs=1.0)
    # The line stands well out of the envelope spectrum's median level.
    band = (freqs >= 20) & (freqs <= 400)
    assert amp[band].max() > 5 * np.median(amp[band])


def test_inner_race_waveform_envelope_peaks_at_bpfi_not_bpfo() -> None:
    b = Bearing("b", BearingGeometry(9, 7.94, 39.04, 0.0), BearingParams(rated_shaft_hz=24.5))
    b.defect_kind, b.defect_mm = "inner", 0.3
    freqs, amp = envelope_spectrum(synthesize_waveform(b, 24.5, np.random.default_rng(2)), 25600.0)
    f = b.frequencies(24.5)
    assert _peak_hz(freqs, amp, 100.0, 400.0) == pytest.approx(f.bpfi_hz, abs=1.0)


def test_healthy_waveform_has_no_defect_line() -> None:
    b = Bearing("b")
    freqs, amp = envelope_spectrum(synthesize_waveform(b, 24.5, np.random.default_rng(3)), 25600.0)
    band = (freqs >= 20) & (freqs <= 400)
    assert amp[band].max() < 5 * np.median(amp[band])


def test_waveform_rms_matches_analytic_features() -> None:
    b = Bearing("b")
    b.defect_kind, b.defect_mm = "outer", 0.5
    x = synthesize_waveform(b, 24.6, np.random.default_rng(4))
    assert float(np.sqrt(np.mean(x**2))) == pytest.approx(b.features(24.6).rms_g, rel=0.1)


def _grow(seed: int, days: int = 40) -> list[float]:
    rng = np.random.default_rng(seed)
    b = Bearing("b", params=BearingParams(growth_per_day=0.12))
    b.start_defect("outer", rng)
    series = []
    for _ in range(days * 24):
        b.step(3600.0, {"shaft_hz": 24.6, "load": 0.8, "ambient_c": 25.0}, rng)
        series.append(b.defect_mm)
    return series


def test_degradation_is_monotone_and_reproducible_by_seed() -> None:
    a, again, other = _grow(11), _grow(11), _grow(12)
    assert a == again
    assert a != other
    assert all(y >= x for x, y in itertools.pairwise(a))
    assert a[-1] > 5 * a[0]


def test_bearing_fails_at_threshold_and_records_time() -> None:
    rng = np.random.default_rng(5)
    b = Bearing("b", params=BearingParams(growth_per_day=1.0))
    b.start_defect("outer", rng)
    t = 0.0
    while not b.failed and t < 60 * 86400:
        b.step(600.0, {"shaft_hz": 24.6, "load": 1.0}, rng)
        t += 600.0
    assert b.failed
    assert b.failure_at_s == pytest.approx(t)
    assert b.defect_mm >= b.params.failure_defect_mm
    size = b.defect_mm
    b.step(600.0, {"shaft_hz": 24.6, "load": 1.0}, rng)
    assert b.defect_mm == size  # a failed bearing no longer "grows"


def test_features_respond_to_defect() -> None:
    b = Bearing("b")
    healthy = b.features(24.6)
    assert healthy.kurtosis == pytest.approx(3.0)
    b.defect_kind, b.defect_mm = "outer", 0.1
    early = b.features(24.6)
    b.defect_mm = 1.5
    late = b.features(24.6)
    assert healthy.rms_g < early.rms_g < late.rms_g
    assert early.kurtosis > 3.5
    assert early.env_bpfo_g > 3 * healthy.env_bpfo_g
    assert early.env_bpfi_g == pytest.approx(healthy.env_bpfi_g)
