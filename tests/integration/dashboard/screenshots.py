"""Capture the dashboard screenshots for the README: ``make screenshots`` (needs Debian Chromium).

The platform runs on loopback with the bottling plant's twins; this script feeds it synthetic readings (30 min of
history, then live values, with a slowly rising bearing vibration) and raises two alarms through the alarm
service, so every page has something to show. Usage: python -m tests.integration.dashboard.screenshots OUT_DIR
"""

from __future__ import annotations

import math
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from tests.integration.dashboard.rig import CHROMIUM, SITE, Rig, chromium, running_platform, sign_in
from tvilling.core.roles import Role

PAGES = [("overview", "/ui/", "asset-table"), ("explorer", "/ui/explorer", "twin-results"),
         ("twin", "/ui/twin/pump-1-bearing?prop=vibrationRms", "history-chart"), ("scene", "/ui/scene", "plant-scene"),
         ("heatmap", "/ui/heatmap", "heatmap"), ("alarms", "/ui/alarms", "alarm-table"),
         ("models", "/ui/models", "model-table")]


def value(i: int, name: str, twin: str, t: float) -> float:
    base = 10.0 + (i % 7) * 3.0
    wave = math.sin(t / 60.0 + i) * 0.8 + math.sin(t / 7.0 + 2 * i) * 0.2
    drift = max(0.0, (t % 3600) / 600.0) if twin == "pump-1-bearing" and name == "vibrationRms" else 0.0
    return round(base + wave + drift, 3)


def readings_at(points: list[dict[str, Any]], when: datetime) -> list[dict[str, Any]]:
    t = when.timestamp()
    stamp = when.isoformat().replace("+00:00", "Z")
    return [{"twinId": m["twin"], "name": m["property"], "value": value(i, m["property"], m["twin"], t),
             "unit": m.get("unit"), "sourceTime": stamp} for i, m in enumerate(points)]


def feed(rig: Rig, stop: threading.Event) -> None:
    points = yaml.safe_load((SITE / "mappings.yaml").read_text())["mappings"]
    now = datetime.now(UTC)
    batch: list[dict[str, Any]] = []
    for s in range(1800, 0, -5):  # 30 min of history at 0.2 Hz
        batch += readings_at(points, now - timedelta(seconds=s))
        if len(batch) > 4000:
            rig.post(batch)
            batch = []
    if batch:
        rig.post(batch)
    while not stop.is_set():
        rig.post(readings_at(points, datetime.now(UTC)))
        stop.wait(1.0)


def capture(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    saved = []
    with tempfile.TemporaryDirectory() as tmp, running_platform(Path(tmp)) as rig, chromium() as browser:
        stop = threading.Event()
        feeder = threading.Thread(target=feed, args=(rig, stop), daemon=True)
        feeder.start()
        time.sleep(6)
        alarms = rig.platform.app.state.alarms
        alarms.raise_alarm("default", "pump-1-bearing", "vibrationRms", "major", "vibrationRms rising above limit")
        acked = alarms.raise_alarm("default", "filler-1-motor", "current", "minor", "current above engineering range")
        alarms.acknowledge("default", acked.id, role=Role.OPERATOR, actor="operator")
        time.sleep(4)
        page = browser.new_page(viewport={"width": 1366, "height": 800})
        sign_in(page, rig, Role.OPERATOR)
        for name, path, marker in PAGES:
            page.goto(rig.url(path))
            page.get_by_test_id(marker).first.wait_for(state="visible", timeout=15_000)
            page.wait_for_timeout(2500)  # live updates and chart animations settle
            target = out / f"{name}.png"
            page.screenshot(path=str(target))
            saved.append(target)
        stop.set()
        feeder.join(10)
    return saved


def main() -> int:
    if not CHROMIUM.exists():
        sys.stderr.write(f"error: Debian Chromium is needed at {CHROMIUM} (apt-get install chromium)\n")
        return 1
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/screenshots")
    for path in capture(out):
        print(f"{path} {path.stat().st_size // 1024} KB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
