"""Raw vibration waveform for one bearing state, and the envelope spectrum used to check it.

The plant itself never streams kHz waveforms (accelerated time); this is for demos, tests and detectors that
want a real signal: impacts at the defect frequency excite a structural resonance, the classical model behind
envelope analysis.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import signal

from tvilling.virtual_plant.bearing import Bearing


def synthesize_waveform(bearing: Bearing, shaft_hz: float, rng: np.random.Generator, *, fs_hz: float = 25600.0,
                        duration_s: float = 2.0, resonance_hz: float = 3000.0, damping_ratio: float = 0.03,
                        slip_jitter: float = 0.01) -> np.ndarray:
    """Acceleration (g) sampled at ``fs_hz`` for ``duration_s`` seconds.

    Components: Gaussian background and 1x shaft line (background power), plus for a defective bearing an
    impulse train at BPFO (outer), BPFI amplitude-modulated by the shaft (inner) or 2xBSF modulated at FTF
    (ball), with a little random slip between impacts as real bearings show. Each impact rings the resonance.
    Component powers match ``Bearing.component_rms_g`` so the waveform agrees with the analytic features.
    """
    n = round(fs_hz * duration_s)
    t = np.arange(n) / fs_hz
    background, impulsive = bearing.component_rms_g(shaft_hz)
    shaft_line = 0.5 * background * math.sqrt(2.0) * np.sin(2 * math.pi * shaft_hz * t)
    noise = rng.normal(0.0, background * math.sqrt(0.75), n)
    x = shaft_line + noise
    if bearing.defect_mm <= 0.0 or impulsive <= 0.0 or shaft_hz <= 0.0:
        return x
    freqs = bearing.frequencies(shaft_hz)
    if bearing.defect_kind == "outer":
        rate_hz, mod_hz = freqs.bpfo_hz, 0.0
    elif bearing.defect_kind == "inner":
        rate_hz, mod_hz = freqs.bpfi_hz, shaft_hz
    else:
        rate_hz, mod_hz = 2.0 * freqs.bsf_hz, freqs.ftf_hz
    period = 1.0 / rate_hz
    times: list[float] = []
    tk = float(rng.uniform(0.0, period))
    while tk < duration_s:
        times.append(tk)
        tk += period * (1.0 + slip_jitter * float(rng.normal()))
    train = np.zeros(n)
    idx = np.clip(np.round(np.asarray(times) * fs_hz).astype(int), 0, n - 1)
    amps = np.ones(len(times))
    if mod_hz > 0.0:
        # The defect passes through the load zone once per modulation period.
        amps = 0.5 * (1.0 + np.cos(2 * math.pi * mod_hz * np.asarray(times)))
    train[idx] = amps
    # Impulse response of a lightly damped resonance, truncated where it has decayed.
    wn = 2 * math.pi * resonance_hz
    decay_s = 8.0 / (damping_ratio * wn)
    tr = np.arange(round(decay_s * fs_hz)) / fs_hz
    ring = np.exp(-damping_ratio * wn * tr) * np.sin(wn * math.sqrt(1 - damping_ratio**2) * tr)
    impacts = signal.fftconvolve(train, ring)[:n]
    rms = float(np.sqrt(np.mean(impacts**2)))
    if rms > 0.0:
        impacts *= impulsive / rms
    return np.asarray(x + impacts)


def envelope_spectrum(x: np.ndarray, fs_hz: float, band_hz: tuple[float, float] = (2000.0, 4500.0)
                      ) -> tuple[np.ndarray, np.ndarray]:
    """(frequencies Hz, amplitude g) of the envelope of ``x`` band-passed around the resonance."""
    sos = signal.butter(4, band_hz, btype="bandpass", fs=fs_hz, output="sos")
    band = signal.sosfiltfilt(sos, x)
    env = np.abs(signal.hilbert(band))
    env = env - env.mean()
    amp = np.abs(np.fft.rfft(env * np.hanning(len(env)))) * 2.0 / (0.5 * len(env))
    return np.fft.rfftfreq(len(env), 1.0 / fs_hz), amp
