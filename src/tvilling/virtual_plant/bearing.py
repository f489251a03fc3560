"""Rolling-element bearing: kinematic defect frequencies, defect growth and analytic vibration features.

Accelerated time (90 days in minutes) rules out simulating kHz waveforms every step, so the features a
condition-monitoring system would compute from the raw signal (RMS, kurtosis, envelope amplitude at the defect
frequencies) are derived in closed form from the defect state; ``vibration.synthesize_waveform`` produces the raw
signal for one state when a real waveform is wanted, with the same component powers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

DefectKind = Literal["outer", "inner", "ball"]


@dataclass(frozen=True)
class BearingGeometry:
    """Bearing geometry. Defaults are a 6205-class deep-groove ball bearing (9 balls)."""

    n_balls: int = 9
    ball_diameter_mm: float = 7.94
    pitch_diameter_mm: float = 39.04
    contact_angle_deg: float = 0.0

    def frequencies(self, shaft_hz: float) -> DefectFrequencies:
        """Textbook kinematic defect frequencies (outer race stationary, no slip) for a shaft speed in Hz."""
        ratio = self.ball_diameter_mm / self.pitch_diameter_mm * math.cos(math.radians(self.contact_angle_deg))
        n = self.n_balls
        return DefectFrequencies(
            bpfo_hz=n / 2.0 * shaft_hz * (1.0 - ratio),
            bpfi_hz=n / 2.0 * shaft_hz * (1.0 + ratio),
            bsf_hz=self.pitch_diameter_mm / (2.0 * self.ball_diameter_mm) * shaft_hz * (1.0 - ratio**2),
            ftf_hz=shaft_hz / 2.0 * (1.0 - ratio),
        )


@dataclass(frozen=True)
class DefectFrequencies:
    """Ball-pass frequency outer/inner race, ball spin frequency and fundamental train (cage) frequency, Hz."""

    bpfo_hz: float
    bpfi_hz: float
    bsf_hz: float
    ftf_hz: float


@dataclass(frozen=True)
class VibrationFeatures:
    """What a vibration transmitter reports for one measurement window."""

    rms_g: float  # overall acceleration RMS, g
    kurtosis: float  # 3.0 for Gaussian vibration; impulsive defects raise it
    env_bpfo_g: float  # envelope-spectrum amplitude at BPFO, g
    env_bpfi_g: float  # envelope-spectrum amplitude at BPFI, g
    env_bsf_g: float  # envelope-spectrum amplitude at 2xBSF, g


@dataclass
class BearingParams:
    """Degradation and vibration parameters. Rates are per simulated day."""

    initial_defect_mm: float = 0.005  # incipient spall: its envelope line starts just under the noise floor
    failure_defect_mm: float = 2.0  # spall size at which the bearing is declared failed (ground truth)
    growth_per_day: float = 0.15  # mean growth rate of ln(defect size), 1/day (Paris-law-like exponential)
    growth_noise_days: float = 0.5  # gamma-process noise scale: larger = rougher growth
    rate_spread: float = 0.3  # log-normal spread of the per-defect growth rate (bearing-to-bearing scatter)
    base_rms_g: float = 0.08  # healthy background vibration at rated speed
    defect_rms_g_per_mm: float = 0.6  # impulsive component RMS per mm of spall at rated speed
    rated_shaft_hz: float = 24.6  # reference shaft speed (the machine's usual speed) for the speed scaling
    ref_load: float = 0.5  # the machine's usual load (fraction of motor rating): growth_per_day applies there
    env_floor_g: float = 0.004  # envelope-spectrum noise floor
    thermal_tau_s: float = 1200.0  # bearing housing thermal time constant
    rise_rated_c: float = 18.0  # housing temperature rise over ambient at rated speed and load, healthy
    rise_per_mm_c: float = 6.0  # extra friction heating per mm of spall (late-stage temperature rise)


@dataclass
class Bearing:
    """One bearing with its defect state. ``defect_mm == 0`` means healthy."""

    name: str
    geometry: BearingGeometry = field(default_factory=BearingGeometry)
    params: BearingParams = field(default_factory=BearingParams)
    defect_kind: DefectKind = "outer"
    defect_mm: float = 0.0
    rate_factor: float = 1.0
    temperature_c: float = 25.0
    failed: bool = False
    elapsed_s: float = 0.0
    onset_s: float | None = None
    failure_at_s: float | None = None

    def start_defect(self, kind: DefectKind, rng: np.random.Generator) -> None:
        """Initiate a spall now; its growth rate gets a seeded random bearing-to-bearing factor."""
        self.defect_kind = kind
        self.defect_mm = self.params.initial_defect_mm
        self.rate_factor = float(rng.lognormal(0.0, self.params.rate_spread))
        self.onset_s = self.elapsed_s

    def replace(self) -> None:
        """Maintenance: a new healthy bearing."""
        self.defect_mm = 0.0
        self.failed = False
        self.onset_s = None
        self.failure_at_s = None

    def step(self, dt_s: float, inputs: dict[str, float], rng: np.random.Generator) -> None:
        """Advance by ``dt_s``. Inputs: ``shaft_hz``, ``load`` (0..1+ of rated), ``ambient_c``."""
        shaft_hz = inputs.get("shaft_hz", 0.0)
        load = max(0.0, inputs.get("load", 0.0))
        ambient_c = inputs.get("ambient_c", 25.0)
        p = self.params
        if self.defect_mm > 0.0 and not self.failed and shaft_hz > 0.0:
            dt_days = dt_s / 86400.0
            # Gamma-process increments of ln(size): strictly positive, so growth is monotone; mean rate scales
            # with load (higher contact stress) and with how much the shaft actually turned.
            speed_frac = shaft_hz / p.rated_shaft_hz
            load_factor = (0.3 + 0.7 * load) / (0.3 + 0.7 * p.ref_load)
            mean = p.growth_per_day * self.rate_factor * load_factor * speed_frac * dt_days
            shape = dt_days / p.growth_noise_days
            if mean > 0.0:
                self.defect_mm *= math.exp(float(rng.gamma(shape, mean / shape)))
            if self.defect_mm >= p.failure_defect_mm:
                self.failed = True
                self.failure_at_s = self.elapsed_s + dt_s
        speed_frac = shaft_hz / p.rated_shaft_hz
        target_c = ambient_c + p.rise_rated_c * speed_frac * (0.5 + 0.5 * load) + p.rise_per_mm_c * self.defect_mm
        # Exact solution of the first-order lag: stable for any step size.
        self.temperature_c = target_c + (self.temperature_c - target_c) * math.exp(-dt_s / p.thermal_tau_s)
        self.elapsed_s += dt_s

    def frequencies(self, shaft_hz: float) -> DefectFrequencies:
        return self.geometry.frequencies(shaft_hz)

    def component_rms_g(self, shaft_hz: float, extra_broadband_g: float = 0.0) -> tuple[float, float]:
        """(background Gaussian RMS, impulsive defect RMS) in g, the powers both the features and the raw
        waveform synthesis use."""
        p = self.params
        speed_frac = max(shaft_hz, 0.0) / p.rated_shaft_hz
        background = math.hypot(p.base_rms_g * speed_frac**1.5, extra_broadband_g)
        impulsive = p.defect_rms_g_per_mm * self.defect_mm * speed_frac**2
        return background, impulsive

    def impulse_kurtosis(self) -> float:
        """Kurtosis of the impulse train alone: sharp, sparse impacts from a small spall are very impulsive;
        as the spall widens impacts smear and overlap, so it falls (the classical late-stage kurtosis drop)."""
        return 3.0 + 30.0 / (1.0 + self.defect_mm / 0.3)

    def features(self, shaft_hz: float, extra_broadband_g: float = 0.0) -> VibrationFeatures:
        """Analytic features of the window; ``extra_broadband_g`` adds e.g. cavitation noise."""
        background, impulsive = self.component_rms_g(shaft_hz, extra_broadband_g)
        vb, vd = background**2, impulsive**2
        total = vb + vd
        rms = math.sqrt(total)
        # Kurtosis of a sum of independent zero-mean parts: E[x^4] = 3vb^2 + 6 vb vd + k_d vd^2.
        kurt = (3.0 * vb * vb + 6.0 * vb * vd + self.impulse_kurtosis() * vd * vd) / total**2 if total > 0 else 3.0
        # The envelope line at the defect frequency carries roughly half of the impulsive component's power.
        line = impulsive / math.sqrt(2.0)
        floor = self.params.env_floor_g * (1.0 + background / max(self.params.base_rms_g, 1e-9)) / 2.0
        env = {"outer": floor, "inner": floor, "ball": floor}
        if self.defect_mm > 0.0:
            env[self.defect_kind] = math.hypot(floor, line)
        return VibrationFeatures(rms_g=rms, kurtosis=kurt, env_bpfo_g=env["outer"], env_bpfi_g=env["inner"],
                                 env_bsf_g=env["ball"])
