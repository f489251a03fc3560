"""Interpreter settings for long-running platform processes."""

from __future__ import annotations

import gc

# Generation thresholds of the cyclic collector. Python's defaults (700, 10, 10) start a young-generation pass every
# 700 net allocations; ingest allocates a few dozen short-lived objects per message (decoded document, assessments,
# rows), almost none of them in reference cycles, so at 10 000 messages/s the default runs ~500 passes a second and
# cost ~17 % of the ingest process's CPU in the benchmark (101 -> 84 µs per 10-point message with these values).
# Cycles are still collected, just in larger, rarer passes: at most ~50 000 young objects wait for one.
GC_THRESHOLDS = (50_000, 20, 100)


def tune_collector() -> None:
    """Set :data:`GC_THRESHOLDS` (idempotent; also used by the MQTT receiver child process)."""
    gc.set_threshold(*GC_THRESHOLDS)


def freeze_startup_heap() -> None:
    """Move everything alive now (modules, models, settings: the start-up heap) out of the collector's view, and
    tune the collector for a long-running ingest process (:func:`tune_collector`).

    A full (generation 2) collection scans every tracked object; with the start-up heap in it, one took ~60 ms in
    the ingest benchmark, which is a p99 ack latency all by itself. Frozen objects are never scanned again (they
    are not leaked either: they simply live as long as the process, as start-up objects do anyway).
    """
    gc.collect()
    gc.freeze()
    tune_collector()
