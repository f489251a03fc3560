"""The pure parts of the drift policy and the registry's artifact format."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from tvilling.core.errors import ValidationError
from tvilling.ml.artifact import BASELINE_FORMAT, dump_baseline, load_baseline
from tvilling.ml.drift_policy import DriftPolicy, DriftWatch, error_metrics, refit_baseline, residual
from tvilling.ml.features import BaselineDetector


def fitted(rng: random.Random, level: float = 10.0, n: int = 200) -> BaselineDetector:
    det = BaselineDetector(["a", "b"], warmup=n, log=False, direction="both")
    det.learn_many([[rng.gauss(level, 1.0), rng.gauss(2 * level, 2.0)] for _ in range(n)])
    return det


def test_artifact_round_trip_is_exact_and_json() -> None:
    rng = random.Random(1)
    det = fitted(rng)
    data = dump_baseline(det, extra={"health_floor": {"a": 1.5}})
    doc = json.loads(data)
    assert doc["format"] == BASELINE_FORMAT and doc["signals"] == ["a", "b"]
    again, extra = load_baseline(data)
    assert extra == {"health_floor": {"a": 1.5}}
    probe = [{"a": rng.gauss(10, 3), "b": rng.gauss(20, 6)} for _ in range(50)]
    assert [again.score_one(x) for x in probe] == [det.score_one(x) for x in probe]


@pytest.mark.parametrize("mutate", [
    lambda d: d.update(format="pickle"),
    lambda d: d.update(center=[1.0]),
    lambda d: d.update(scale=[1.0, -1.0]),
    lambda d: d.update(center=["x", 1.0]),
    lambda d: d.update(signals=[]),
    lambda d: d["params"].pop("log"),
    lambda d: d["params"].update(direction="sideways"),
])
def test_tampered_artifacts_are_refused(mutate: object) -> None:
    doc = json.loads(dump_baseline(fitted(random.Random(2))))
    mutate(doc)  # type: ignore[operator]
    with pytest.raises(ValidationError):
        load_baseline(json.dumps(doc).encode())
    with pytest.raises(ValidationError):
        load_baseline(b"\x80\x04\x95 not json")  # e.g. a pickle: never loaded


def test_unfitted_detector_cannot_be_stored() -> None:
    with pytest.raises(ValidationError):
        dump_baseline(BaselineDetector(["a"], warmup=5))


def test_policy_validation_lists_every_problem() -> None:
    with pytest.raises(ValidationError) as err:
        DriftPolicy(action="panic", monitor="vibes", method="cusum", window=1)
    text = str(err.value)
    assert all(word in text for word in ("action", "monitor", "method", "window"))


def _stream(rng: random.Random, n: int, change_at: int, before: float, after: float) -> list[dict[str, float]]:
    return [{"a": rng.gauss(before if i < change_at else after, 1.0),
             "b": rng.gauss(2 * (before if i < change_at else after), 2.0)} for i in range(n)]


@pytest.mark.parametrize("monitor,method", [("residuals", "page_hinkley"), ("inputs", "adwin"),
                                            ("both", "adwin"), ("residuals", "adwin")])
def test_level_change_is_detected_within_bound_and_not_before(monitor: str, method: str) -> None:
    rng = random.Random(3)
    det = fitted(rng)
    watch = DriftWatch(DriftPolicy(action="recalibrate", monitor=monitor, method=method, window=100), ["a", "b"])
    found = []
    for i, x in enumerate(_stream(rng, 1500, 1000, 10.0, 14.0)):
        hit = watch.observe(x, residual(det, x) or 0.0)
        if hit is not None:
            found.append((i, hit.source))
    assert len(found) == 1, found  # no false detection in 1000 stationary vectors; collecting afterwards
    at, source = found[0]
    assert 1000 <= at < 1060
    assert source == "residuals" if monitor == "residuals" else source.startswith(("input:", "residuals"))
    assert watch.collecting and len(watch.window) == 1500 - at - 1
    rows = watch.take_window()
    assert not watch.collecting and watch.seen == 0 and len(rows) == 1500 - at - 1


def test_notify_keeps_watching() -> None:
    rng = random.Random(4)
    det = fitted(rng)
    watch = DriftWatch(DriftPolicy(action="notify"), ["a", "b"])
    hits = [i for i, x in enumerate(_stream(rng, 1200, 500, 10.0, 15.0)) if watch.observe(x, residual(det, x) or 0.0)]
    assert hits and 500 <= hits[0] < 540 and not watch.collecting


def test_refit_restores_the_error_level() -> None:
    rng = random.Random(5)
    det = fitted(rng)
    healthy = _stream(rng, 300, 10**9, 10.0, 10.0)
    shifted = _stream(rng, 600, 0, 14.0, 14.0)
    pre = error_metrics(det, healthy, 0.99)
    stale = error_metrics(det, shifted[300:], 0.99)
    new = refit_baseline(det, shifted[:300])
    post = error_metrics(new, shifted[300:], 0.99)  # out of sample: fitted on the first half only
    assert stale["residual_mae"] > 3 * pre["residual_mae"]
    assert post["residual_mae"] < 1.2 * pre["residual_mae"] and post["alarm_rate"] <= pre["alarm_rate"] + 0.01
    assert new.warmup == det.warmup and new.direction == det.direction
    assert np.allclose(new.center, [14.0, 28.0], atol=0.5)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        refit_baseline(det, shifted[:2])


@pytest.mark.parametrize("name", ["tvilling.ml.drift_policy", "tvilling.ml.artifact"])
def test_doctests(name: str) -> None:
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(name))
    assert result.attempted > 0 and result.failed == 0
