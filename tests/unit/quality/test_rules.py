"""Q-01…Q-10 on the pure rules: a clean labelled stream with injected faults, scored as a confusion matrix."""

from __future__ import annotations

import math
import random
from collections import Counter

import pytest

from tvilling.core.quality import Quality, Reason
from tvilling.quality.mapping import PointSpec
from tvilling.quality.rules import QualityEngine, QualitySettings

US = 1_000_000
T0 = 1_800_000_000 * US


def spec(i: int, **kw: object) -> PointSpec:
    base: dict[str, object] = {"twin_id": f"t{i}", "name": "temp", "pointer": "/points/temp", "unit": "degreeCelsius",
                               "unit_required": True, "instrument_range": (-100.0, 200.0),
                               "engineering_range": (-50.0, 150.0), "max_rate": 10.0, "may_be_constant": False,
                               "expected_period_s": 1.0}
    base.update(kw)
    return PointSpec(**base)  # type: ignore[arg-type]


def clean(i: int, k: int, rnd: random.Random) -> float:
    return 50.0 + 20.0 * math.sin(2 * math.pi * (k + 37 * i) / 600.0) + rnd.gauss(0.0, 0.5)


def test_confusion_matrix_q01_to_q09() -> None:
    rnd = random.Random(7)
    eng = QualityEngine(QualitySettings(future_tolerance_s=30, max_age_s=86_400))
    points, n = 50, 2000  # 100k samples
    confusion: Counter[tuple[str, str]] = Counter()
    clean_flags = clean_total = 0
    for i in range(points):
        sp = spec(i)
        stuck_from = 400 if i % 10 == 3 else None  # a 600-sample frozen run on some points
        frozen = None
        for k in range(n):
            t = T0 + k * US
            now = t + 50_000
            value: object = clean(i, k, rnd)
            unit: object = "CEL"
            label = ""
            if stuck_from is not None and stuck_from <= k < stuck_from + 600:
                frozen = value if k == stuck_from else frozen
                value = frozen
                # flagged from the sample that crosses 30 samples AND 300 s (the 301st), not before
                label = "stuck" if k - stuck_from >= 300 else ""
            elif k % 97 == 5:
                value, label = rnd.choice([float("nan"), float("inf"), float("-inf"), None, "NaN"]), "non_finite"
            elif k % 97 == 15:
                value, label = 500.0, "out_of_range"
            elif k % 97 == 25:
                value, label = 160.0, "engineering_units_exceeded"
            elif k % 97 == 35:
                value, label = float(value) + 60.0, "spike"  # type: ignore[arg-type]
            elif k % 97 == 45:
                t, label = t + 600 * US, "clock_ahead"
            elif k % 97 == 55:
                t, label = 0, "too_old"
            elif k % 97 == 65:
                unit, label = "KPA", "unit_mismatch"
            elif k % 97 == 75:
                unit, label = None, "unit_missing"
            elif k % 97 == 85:
                value, unit = float(value) * 9 / 5 + 32, "FAH"  # type: ignore[arg-type]  # converted, Good
            latest_before = eng.latest_time_us(sp.twin_id, sp.name)
            a = eng.assess(sp, value, unit, t, now)
            got = a.reason.value
            confusion[(label or "clean", got or "clean")] += 1
            if label == "":
                clean_total += 1
                clean_flags += got != ""
                if unit == "FAH":
                    assert a.original == {"value": value, "unit": "FAH"}
                    assert a.quality is Quality.GOOD
            if a.quarantine:
                assert a.quality is Quality.BAD and not a.store
                assert eng.latest_time_us(sp.twin_id, sp.name) == latest_before  # "latest" unchanged
            else:
                assert a.quality is not Quality.BAD
    wrong = {k: v for k, v in confusion.items() if k[0] != k[1]}
    assert sum(v for (lbl, _), v in confusion.items() if lbl != "clean") > 8000
    assert clean_total > 90_000
    assert clean_flags / clean_total <= 0.001, wrong
    assert not {k: v for k, v in wrong.items() if k[0] != "clean"}, wrong  # 100 % of injected faults caught


def test_stuck_flags_at_crossing_and_clears_and_spares_constant_points() -> None:
    eng = QualityEngine()
    varying, constant = spec(1, stuck_samples=30, stuck_seconds=300.0), spec(2, may_be_constant=True)
    reasons = [eng.assess(varying, 5.0, "CEL", T0 + k * 10 * US, T0 + k * 10 * US).reason for k in range(40)]
    assert reasons[:30] == [Reason.NONE] * 30  # 30 samples reached at k=29, but only 290 s
    assert reasons[30] is Reason.STUCK and reasons[39] is Reason.STUCK  # k=30: 31 samples over 300 s
    assert eng.assess(varying, 5.5, "CEL", T0 + 400 * US, T0 + 400 * US).reason is Reason.NONE  # cleared
    assert all(eng.assess(constant, 1.0, "CEL", T0 + k * 10 * US, T0 + k * 10 * US).reason is Reason.NONE
               for k in range(100))


def test_late_data_never_moves_latest_and_spike_step_is_accepted_after_three() -> None:
    eng = QualityEngine()
    sp = spec(3)
    assert eng.assess(sp, 10.0, "CEL", T0 + 10 * US, T0 + 10 * US).updates_latest
    late = eng.assess(sp, 11.0, "CEL", T0 + 5 * US, T0 + 11 * US)
    assert late.store and late.late and not late.updates_latest
    assert eng.latest_time_us("t3", "temp") == T0 + 10 * US
    steps = [eng.assess(sp, 100.0, "CEL", T0 + (11 + k) * US, T0 + (11 + k) * US).reason for k in range(5)]
    assert steps == [Reason.SPIKE, Reason.SPIKE, Reason.NONE, Reason.NONE, Reason.NONE]


@pytest.mark.parametrize("value", [True, "12.5", [1], {"a": 1}])
def test_wrong_types_are_bad(value: object) -> None:
    a = QualityEngine().assess(spec(4), value, "CEL", T0, T0)
    assert a.quarantine and a.reason is Reason.WRONG_TYPE


def test_stale_after_k_periods_plus_grace_from_observed_at() -> None:
    eng = QualityEngine()
    sp = spec(5, expected_period_s=2.0, stale_k=3.0, stale_grace_s=1.0)
    eng.assess(sp, 1.0, "CEL", T0, T0)
    assert eng.stale_points([sp], T0 + 7 * US) == []  # 3 × 2 + 1 = 7 s: not yet
    assert eng.stale_points([sp], T0 + 7 * US + 1) == [sp]
    assert eng.stale_points([sp], T0 + 9 * US) == []  # reported once
    assert eng.is_stale("t5", "temp")
    eng.assess(sp, 1.5, "CEL", T0 + 10 * US, T0 + 10 * US)
    assert not eng.is_stale("t5", "temp")
