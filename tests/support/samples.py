"""The README's example data, loaded the way a newcomer runs it (the script in examples/), for tests."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pandas as pd

ROOT = Path(__file__).resolve().parents[2]


def pump_rig(seed: int = 7, load_step: float = 0.005, fault: str = "strainer") -> pd.DataFrame:
    """``examples/detect/make_sample.py``'s labelled pump rig: ``datetime``, seven signals, ``anomaly``."""
    spec = importlib.util.spec_from_file_location("make_sample", ROOT / "examples" / "detect" / "make_sample.py")
    assert spec is not None and spec.loader is not None
    module: Any = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    frame: pd.DataFrame = module.sample(seed, load_step, fault)
    return frame
