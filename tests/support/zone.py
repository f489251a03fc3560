"""A synthetic heated and cooled zone for setpoint-loop tests: a known load and a proportional HVAC with a droop.

Net heat need in electricity ``D(T) = u·(T − T_out) + b·occ + c``; the heating loop holds ``k·(sp_h − T) = D(T)``,
the cooling loop ``k·(T − sp_c) = −D(T)``; otherwise the air floats where ``D = 0``. Quarter-hour buckets.
"""

from __future__ import annotations

import math

import numpy as np

STEP_S = 900.0
U, B, C, K = 0.5, -0.2, -2.0, 6.0


def weather(n: int, *, mean: float = 10.0, amp: float = 6.0, start_s: float = 0.0) -> np.ndarray:
    t = start_s + np.arange(n) * STEP_S
    return mean + amp * np.sin(2 * math.pi * (t / 86400.0 - 0.375))


def occupancy(n: int, *, start_s: float = 0.0) -> np.ndarray:
    hours = ((start_s + np.arange(n) * STEP_S) / 3600.0) % 24.0
    return np.where((hours >= 6) & (hours < 22), 12.0, 2.0)


def settle(outdoor: np.ndarray, occ: np.ndarray, h: np.ndarray | float, c: np.ndarray | float,
           *, u: float = U, b: float = B, c0: float = C, k: float = K) -> tuple[np.ndarray, np.ndarray]:
    """(air, electrical kW) per bucket at steady state."""
    n = len(outdoor)
    hs = np.broadcast_to(np.asarray(h, dtype=float), (n,))
    cs = np.broadcast_to(np.asarray(c, dtype=float), (n,))
    d = lambda temp: u * (temp - outdoor) + b * occ + c0  # noqa: E731
    air = outdoor + (-b * occ - c0) / u  # floating
    power = np.zeros(n)
    ph = d(hs) / (1 + u / k)
    heating = ph > 0
    air = np.where(heating, hs - ph / k, air)
    power = np.where(heating, ph, power)
    pc = -d(cs) / (1 + u / k)
    cooling = pc > 0
    air = np.where(cooling, cs + pc / k, air)
    power = np.where(cooling, pc, power)
    return air, power


def history(days: float, *, h: float = 19.0, c: float = 24.0, seed: int = 0, noise: float = 0.02,
            mean: float = 10.0, amp: float = 6.0) -> dict[str, np.ndarray]:
    n = round(days * 86400 / STEP_S)
    rng = np.random.default_rng(seed)
    # The setpoints wander a little (operators), so both loops show their droop at several operating points.
    hs = h + rng.choice([-1.0, 0.0, 1.0], size=n // 96 + 1).repeat(96)[:n]
    cs = c + rng.choice([-1.0, 0.0, 1.0], size=n // 96 + 1).repeat(96)[:n]
    out, occ = weather(n, mean=mean, amp=amp), occupancy(n)
    air, power = settle(out, occ, hs, cs)
    return {"air": air + rng.normal(0, noise, n), "outdoor": out, "power_kw": power * (1 + rng.normal(0, noise, n)),
            "occupancy": occ, "heating_sp": hs, "cooling_sp": cs}
