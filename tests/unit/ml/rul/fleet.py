"""A small synthetic run-to-failure fleet in the C-MAPSS layout, generated in memory (fast, no files)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def make_fleet(n_units: int, seed: int, *, regimes: int = 1, min_life: int = 60, max_life: int = 110,
               truncate: bool = False) -> tuple[pd.DataFrame, np.ndarray]:
    """Units whose sensors drift exponentially towards failure, with unit-to-unit offsets and noise.

    Returns (histories, true RUL at each unit's last row). ``truncate`` cuts every unit at a random cycle,
    like a test file; otherwise histories run to failure (true RUL 0).
    ``regimes`` > 1 draws each cycle's operating condition from that many distinct setting combinations
    which shift the sensors strongly (as in FD002/FD004).
    """
    # The plant (its operating conditions and their effect on the sensors) is the same for every fleet;
    # only the units differ with ``seed``.
    plant = np.random.default_rng(12345)
    conditions = plant.uniform(0, 40, size=(regimes, 3)) if regimes > 1 else np.zeros((1, 3))
    cond_gain = plant.normal(0, 3.0, size=(3, 6))
    rng = np.random.default_rng(seed)
    rows: list[np.ndarray] = []
    truth: list[float] = []
    for unit in range(1, n_units + 1):
        life = int(rng.integers(min_life, max_life + 1))
        end = int(rng.integers(max(10, life // 3), life)) if truncate else life
        t = np.arange(1, end + 1, dtype=float)
        offset = rng.normal(0, 0.3, size=6)
        wear = np.exp(3.0 * t / life) - 1.0  # 0 at start, ≈ 19 at failure
        reg = rng.integers(0, len(conditions), size=len(t))
        settings = conditions[reg] + rng.normal(0, 0.002, size=(len(t), 3))
        direction = np.array([1.0, 0.8, -0.6, 0.5, 0.0, 0.0])  # the last two sensors do not degrade
        sensors = (10.0 + offset + 0.15 * wear[:, None] * direction + settings @ cond_gain / 40.0
                   + rng.normal(0, 0.25, size=(len(t), 6)))
        constant = np.full((len(t), 2), 5.0)  # carries no information: must be dropped
        rows.append(np.column_stack([np.full(len(t), unit), t, settings, sensors, constant]))
        truth.append(float(life - end))
    columns = ["unit", "cycle", "setting_1", "setting_2", "setting_3", *[f"sensor_{i}" for i in range(1, 9)]]
    frame = pd.DataFrame(np.vstack(rows), columns=columns)
    frame[["unit", "cycle"]] = frame[["unit", "cycle"]].astype(int)
    return frame, np.array(truth)
