"""Capture the dashboard screenshots for the README: ``make screenshots`` (needs Debian Chromium).

The platform runs on loopback with the bottling plant's twins; this script feeds it synthetic readings (30 min of
history, then live values, with a slowly rising bearing vibration) and raises two alarms through the alarm
service, sends commands to chiller-1 (answered by a recording device) and, when the live monitor registered no
model, registers a synthetic one, so every page has something to show. Last, the work-order service gets the
plant's ``maintenance.yaml`` and real ``insight.anomaly`` / ``insight.rul`` events for two bearings (as the live
monitors write them), which raise work orders by its rules; one more is made by hand. The maintenance plan (the
plant's ``planning.yaml``) is captured after that, so one bearing is planned on its live RUL estimate.
Usage: python -m tests.integration.dashboard.screenshots OUT_DIR [PAGE ...]  (PAGEs: only these, e.g. maintenance)
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from tests.integration.dashboard.rig import (
    CHROMIUM,
    SITE,
    TENANT,
    Rig,
    attach_device,
    chromium,
    field,
    publish_insight,
    running_platform,
    sign_in,
)
from tests.integration.dashboard.test_dashboard_residuals import analyse_faulty_week
from tests.support.fmus import thermal_zone_bytes
from tvilling.app.fmus import fmu_library
from tvilling.app.maintenance_planning import MaintenancePlanner, load_planning
from tvilling.app.registry import registry_for
from tvilling.app.work_orders import work_order_service
from tvilling.core.context import Context
from tvilling.core.errors import ConflictError
from tvilling.core.roles import Role
from tvilling.policy.work_order_rules import load_policy
from tvilling.policy.work_orders import WorkOrder
from tvilling.ports.commands import CommandOutcome

PAGES = [("overview", "/ui/", "asset-table"), ("explorer", "/ui/explorer", "twin-results"),
         ("twin", "/ui/twin/pump-1-bearing?prop=vibrationRms", "history-chart"), ("scene", "/ui/scene", "plant-scene"),
         ("heatmap", "/ui/heatmap", "heatmap"), ("alarms", "/ui/alarms", "alarm-table"),
         ("models", "/ui/models", "model-table"), ("commands", "/ui/twin/chiller-1", "commands-panel"),
         ("registry", "/ui/registry", "registry-table"), ("scenarios", "/ui/scenarios", "fmu-table"),
         ("scenarios-residuals", "/ui/scenarios", "fmu-table"),
         ("maintenance", "/ui/maintenance", "wo-table"),  # last two: their insights raise anomaly alarms too
         ("maintenance-plan", "/ui/maintenance/plan", "plan-table")]


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


def commands(rig: Rig) -> None:
    """A few commands to chiller-1 through the command service; a recording device answers (ack, refusal), one
    stays unanswered. Also a registered model with a promoted second version, if the monitor registered none."""
    device, service, ctx = attach_device(rig), rig.platform.app.state.commands, Context.new(actor="operator")
    for name, payload, answer in [("set_setpoint_c", 7.0, "acked"), ("clean_condenser", None, "failed"),
                                  ("start", None, None)]:
        count = len(device.sent) + 1
        rig.run(service.request("default", "chiller-1", name, payload, ctx))
        sent = device.wait_sent(count)
        if answer is not None:
            reason = "" if answer == "acked" else "compressor running: stop the chiller first"
            rig.run(device.answer(CommandOutcome(sent.command_id, answer, reason)))  # type: ignore[arg-type]
    registry = registry_for(rig.platform.services)
    if not registry.list_models("default"):
        start = datetime.now(UTC) - timedelta(days=30)
        training = {"start": start.isoformat(), "end": (start + timedelta(days=20)).isoformat(), "points": 28800,
                    "twins": ["pump-1-bearing"]}
        first = registry.register("default", "pump-1-bearing:rul", "rul", b"{}", "json", ctx,
                                  metrics={"rmse_h": 41.0}, training=training, lineage={"reason": "train"},
                                  promote=True)
        registry.register("default", "pump-1-bearing:rul", "rul", b"{}", "json", ctx, metrics={"rmse_h": 33.5},
                          training={**training, "end": datetime.now(UTC).isoformat()},
                          lineage={"reason": "retrain", "parent_version": first.version})


def stamp(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def work_orders(rig: Rig) -> WorkOrder:
    """The plant's maintenance rules on the platform's work-order service, then insights that trigger them:
    wear on conveyor-1-bearing (``bearing-inspect``: proposed), wear and P(failure within 72 h) = 87 % on
    filler-1-bearing (``bearing-inspect`` proposes, ``bearing-replace`` releases at once), and one made by hand.
    Returns the released one."""
    service = work_order_service(rig.platform.app.state, rig.platform.services)
    service.configure(load_policy(os.path.relpath(SITE / "maintenance.yaml")))  # the page names the file
    now = datetime.now(UTC)
    publish_insight(rig, "insight.anomaly", "conveyor-1-bearing", {
        "score": 0.9961, "threshold": 0.99, "detected_at": stamp(now), "since": stamp(now - timedelta(minutes=40)),
        "signals": ["envelopeBpfo"], "contributions": [{"signal": "envelopeBpfo", "share": 0.83, "deviation": 4.4}],
        "detector": "baseline"})
    publish_insight(rig, "insight.anomaly", "filler-1-bearing", {
        "score": 0.9987, "threshold": 0.99, "detected_at": stamp(now), "since": stamp(now - timedelta(hours=3)),
        "signals": ["envelopeBpfo", "kurtosis"],
        "contributions": [{"signal": "envelopeBpfo", "share": 0.71, "deviation": 6.2},
                          {"signal": "kurtosis", "share": 0.26, "deviation": 3.1}], "detector": "baseline"})
    publish_insight(rig, "insight.rul", "filler-1-bearing", {
        "at": stamp(now), "rul_hours": {"mean": 61.5, "lower": 30.0, "upper": 95.0, "level": 0.9}, "p_failure": 0.87,
        "horizon_hours": 72.0, "health_indicator": 4.1, "failure_threshold": 5.0})
    service.create(TENANT, "chiller-1", "Clean the condenser coils before the summer peak", role=Role.OPERATOR,
                   actor="token:planner", priority="low", due=now + timedelta(days=9))
    deadline = time.monotonic() + 15
    while True:  # the rules run on the service's worker: wait for the released one
        released = [o for o in service.list(TENANT, states=["open"]) if o.rule_id == "bearing-replace"]
        if released:
            return released[0]
        if time.monotonic() > deadline:
            raise RuntimeError("the maintenance rules raised no work order")
        time.sleep(0.05)


def capture(out: Path, only: list[str] | None = None) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    saved = []
    with tempfile.TemporaryDirectory() as tmp, running_platform(Path(tmp), commands=True) as rig, chromium() as browser:
        stop = threading.Event()
        feeder = threading.Thread(target=feed, args=(rig, stop), daemon=True)
        feeder.start()
        time.sleep(6)
        alarms = rig.platform.app.state.alarms
        alarms.raise_alarm("default", "pump-1-bearing", "vibrationRms", "major", "vibrationRms rising above limit")
        acked = alarms.raise_alarm("default", "filler-1-motor", "current", "minor", "current above engineering range")
        alarms.acknowledge("default", acked.id, role=Role.OPERATOR, actor="operator", comment="load spike, checked")
        commands(rig)
        time.sleep(4)
        page = browser.new_page(viewport={"width": 1366, "height": 800})
        sign_in(page, rig, Role.ENGINEER)  # engineer: the registry's promote / roll back buttons show too
        seeded: WorkOrder | None = None  # the work orders' insights, published once (the plan uses them too)
        for name, path, marker in PAGES:
            if only and name not in only:
                continue
            if name in ("maintenance", "maintenance-plan") and seeded is None:
                seeded = work_orders(rig)
            released = seeded if name == "maintenance" else None
            if name == "maintenance-plan":  # the plant's planning.yaml, under the path the page names
                rig.platform.app.state.planner = MaintenancePlanner(  # its `line: impact` needs impact.yaml's
                    rig.platform.services, load_planning(os.path.relpath(SITE / "planning.yaml")),
                    impact=rig.platform.app.state.impact)
            page.goto(rig.url(path))
            page.get_by_test_id(marker).first.wait_for(state="visible", timeout=15_000)
            if name == "scenarios":  # the example FMU, a what-if with half the insulation and heating, run
                what_if(rig, page)
            if name == "scenarios-residuals":  # the same FMU's residuals card on the faulty week of docs/physics.md
                what_if(rig, page)
                analyse_faulty_week(page)
                page.get_by_test_id("res-results").evaluate("el => el.scrollIntoView({block: 'start'})")
            if released is not None:  # the released one's evidence (P(failure), RUL interval, signals) and trail
                page.get_by_test_id(f"wo-evidence-{released.id}").click()
                page.get_by_test_id("wo-ev-pfailure").wait_for(state="visible", timeout=5000)
                page.mouse.move(0, 0)  # no tooltip over the table
            page.wait_for_timeout(2500)  # live updates and chart animations settle
            target = out / f"{name}.png"
            if name in ("maintenance", "maintenance-plan"):  # the evidence panel / the crew chart is below the
                # table: a viewport as tall as the page (a full-page shot would draw the fixed header and menu where
                # the page scrolled them to)
                page.evaluate("window.scrollTo(0, 0)")
                height = page.evaluate("document.documentElement.scrollHeight")
                page.set_viewport_size({"width": 1366, "height": max(800, int(height))})
                page.wait_for_timeout(500)
                page.screenshot(path=str(target))
                page.set_viewport_size({"width": 1366, "height": 800})
            else:
                page.screenshot(path=str(target), full_page=name == "commands")  # the panel is below the fold
            saved.append(target)
        stop.set()
        feeder.join(10)
    return saved


def what_if(rig: Rig, page: Any) -> None:
    """The thermal-zone FMU in the library, selected, and a baseline vs. scenario run drawn."""
    library = fmu_library(rig.platform.app.state, rig.platform.services)
    with contextlib.suppress(ConflictError):  # kept from an earlier capture on the same platform
        library.upload(TENANT, thermal_zone_bytes("3.0"), Context.new(actor="screenshots"), role=Role.ENGINEER,
                       name="Hall thermal zone")
    page.reload()
    page.get_by_test_id("fmu-table").locator("tr").filter(has_text="Hall thermal zone").first.click()
    page.get_by_test_id("fmu-selected").wait_for(timeout=5000)
    field(page, "scen-UA").fill("250")
    field(page, "scen-Q_hvac").fill("1500")
    page.get_by_test_id("scn-run").click()
    page.get_by_test_id("scn-finals").wait_for(timeout=60_000)
    page.get_by_test_id("scn-results").evaluate("el => el.scrollIntoView({block: 'start'})")  # the charts


def main() -> int:
    if not CHROMIUM.exists():
        sys.stderr.write(f"error: Debian Chromium is needed at {CHROMIUM} (apt-get install chromium)\n")
        return 1
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/screenshots")
    only = sys.argv[2:]
    unknown = sorted(set(only) - {name for name, _, _ in PAGES})
    if unknown:
        sys.stderr.write(f"error: unknown page(s) {', '.join(unknown)}; known: "
                         f"{', '.join(name for name, _, _ in PAGES)}\n")
        return 2
    for path in capture(out, only):
        print(f"{path} {path.stat().st_size // 1024} KB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
