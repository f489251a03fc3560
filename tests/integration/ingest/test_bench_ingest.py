"""``tvilling bench ingest`` end to end on a tiny stream: every phase delivers everything, the JSON carries the
contract keys plus the load average, and the raw baseline comes from the same run."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.support.services import unavailable
from tvilling.cli.bench_ingest import run_bench

CONTRACT_KEYS = {"raw_msgs_per_s", "msgs_per_s", "points_per_s", "ratio", "p99_latency_ms", "acked", "stored", "lost"}


def test_bench_ingest_small_run_accounts_for_every_message() -> None:
    if not (shutil.which("mosquitto") or Path("/usr/sbin/mosquitto").exists()):
        unavailable("mosquitto is not installed")
    out = run_bench(None, messages=300, points=4, devices=3, latency_s=2.0, latency_rate=400)
    assert out.keys() >= CONTRACT_KEYS
    assert out["acked"] == out["stored"] == 300 and out["lost"] == 0
    assert out["latency_messages"] == 200 and out["latency_lost"] == 0
    assert out["receiver"] == "process"  # the platform's default MQTT receiver
    assert out["warmup_s"] == 1.0 and out["warmup_max_latency_ms"] is not None  # the first second, reported apart
    assert out["raw_msgs_per_s"] > 0 and out["msgs_per_s"] > 0
    assert len(out["raw_runs_msgs_per_s"]) == 2
    assert abs(out["raw_msgs_per_s"] - max(out["raw_runs_msgs_per_s"])) <= 0.11  # each rounded on its own
    # As many platform phases as raw ones, alternating; each side counts its better phase, and every phase
    # must account for every message.
    assert len(out["platform_runs_msgs_per_s"]) == 2 and out["platform_lost_per_run"] == [0, 0]
    assert abs(out["msgs_per_s"] - max(out["platform_runs_msgs_per_s"])) <= 0.11
    # Figures are rounded from unrounded rates, so compare within the rounding.
    assert abs(out["ratio"] - out["msgs_per_s"] / out["raw_msgs_per_s"]) < 0.002
    assert abs(out["points_per_s"] - out["msgs_per_s"] * 4) < 0.5
    assert out["p50_latency_ms"] is not None and 0 < out["p50_latency_ms"] <= out["p99_latency_ms"]
    assert len(out["load_avg_start"]) == len(out["load_avg_end"]) == 3
