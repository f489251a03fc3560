"""The long-running process settings: collector thresholds raised and applied by ``freeze_startup_heap``."""

from __future__ import annotations

import gc

from tvilling.app.runtime import GC_THRESHOLDS, freeze_startup_heap, tune_collector


def test_freeze_startup_heap_tunes_the_collector_and_freezes() -> None:
    before = gc.get_threshold()
    try:
        gc.set_threshold(700, 10, 10)
        freeze_startup_heap()
        assert gc.get_threshold() == GC_THRESHOLDS
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def test_thresholds_leave_young_passes_rarer_than_the_default() -> None:
    before = gc.get_threshold()
    try:
        tune_collector()
        assert gc.get_threshold()[0] > 700  # the point of the setting; cycles are still collected
        gc.collect()
        a: list[object] = []
        a.append(a)  # a reference cycle is still found by an explicit collection
        del a
        assert gc.collect() >= 1
    finally:
        gc.set_threshold(*before)
