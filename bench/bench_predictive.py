"""The predictive layer on the virtual plant, offline: the plant is stepped in-process, its readings are mapped to
twin properties with the site's own mappings.yaml and fed, as ``twin.telemetry`` change sets, to the same
``TwinMonitor`` the live monitoring service runs. Scores detections against the plant's ground truth with the
demo summary's matching. Prints one JSON object.

    .venv/bin/python bench/bench_predictive.py --seeds 1,2,3,4,5 [--days 90] [--step 300] [--period-scale 10]

Tuning seeds and reporting seeds must differ (docs/predictive.md says which were used for what).
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from tvilling.app.demo_summary import detections_against_truth
from tvilling.app.monitoring_config import load_config
from tvilling.app.monitoring_twin import Insight, TwinMonitor, iso
from tvilling.virtual_plant import Plant, PlantConfig

SITE = Path("examples/bottling-plant")
BEARING_MODEL = "dtmi:tvilling:bottling:Bearing;1"


def _point_map(site: Path) -> dict[tuple[str, str], tuple[str, str]]:
    """(device, point) -> (twin, property) from the site's mapping file."""
    doc = yaml.safe_load((site / "mappings.yaml").read_text(encoding="utf-8"))
    out: dict[tuple[str, str], tuple[str, str]] = {}
    for m in doc["mappings"]:
        device = m["topic"].split("/")[1]
        out[(device, m["pointer"].rsplit("/", 1)[-1])] = (m["twin"], m["property"])
    return out


def _t(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def run_seed(seed: int, days: float, step: float, scale: float) -> dict[str, Any]:
    config = load_config(SITE / "monitoring.yaml")
    spec = config.for_model(BEARING_MODEL, lambda _a, _b: False)
    assert spec is not None
    points = _point_map(SITE)
    plant = Plant(PlantConfig(seed=seed, dt_s=step, horizon_s=days * 86400.0, period_scale=scale))
    twin_ids = {twin for (twin, _p) in points.values() if twin.endswith("-bearing")}
    monitors = {t: TwinMonitor(spec) for t in twin_ids}
    insights: list[tuple[str, Insight]] = []
    end = days * 86400.0
    while plant.t_s < end:
        plant.step()
        for device, readings in plant.readings().items():
            per_twin: dict[str, dict[str, Any]] = {}
            for r in readings:
                target = points.get((device, r.name))
                if target is None or target[0] not in monitors:
                    continue
                per_twin.setdefault(target[0], {})[target[1]] = {
                    "new": r.value, "quality": "good" if r.value is not None else "bad",
                    "source_time": r.source_time.isoformat().replace("+00:00", "Z")}
            for twin, changes in per_twin.items():
                insights.extend((twin, ins) for ins in monitors[twin].update(changes))
    truth = plant.truth.as_json()
    anomalies = [{"asset": t, "detected_at": i.data["detected_at"]} for t, i in insights
                 if i.kind == "insight.anomaly"]
    detections, false_alarms = detections_against_truth(anomalies, truth["faults_injected"])
    wear = [f for f in truth["faults_injected"] if f["kind"] == "bearing_wear"]
    rul = []
    for f in wear:
        ruls = [(i.data["at"], i.data["p_failure"], i.data["rul_hours"]["mean"]) for t, i in insights
                if t == f["asset"] and i.kind == "insight.rul" and f["failure_at"] and i.data["at"] <= f["failure_at"]]
        first_p50 = next((at for at, p, _m in ruls if p >= 0.5), None)
        checks = {}
        for hours in (168, 72, 24):
            cut = iso(_t(f["failure_at"]) - hours * 3600.0)
            before = [x for x in ruls if x[0] <= cut]
            checks[f"at_{hours}h_before"] = {"p72": before[-1][1], "rul_mean_h": before[-1][2]} if before else None
        rul.append({"asset": f["asset"], "failure_at": f["failure_at"], "rul_insights": len(ruls),
                    "first_p72_over_half": first_p50,
                    "first_p72_over_half_hours_before": (_t(f["failure_at"]) - _t(first_p50)) / 3600.0
                    if first_p50 else None, **checks})
    return {"seed": seed, "sim_days": truth["sim_days"], "anomalies": anomalies,
            "faults": [{k: f[k] for k in ("asset", "kind", "onset", "failure_at")} for f in truth["faults_injected"]],
            "detections": detections, "false_alarms": false_alarms, "rul": rul, "end": iso(plant.t_s)}


def scoring_cost(n: int = 6000) -> dict[str, float]:
    """Mean cost of one ``TwinMonitor.update`` with all five bearing signals, degrading (alert + RUL on)."""
    import random

    spec = load_config(SITE / "monitoring.yaml").for_model(BEARING_MODEL, lambda _a, _b: False)
    assert spec is not None and spec.health is not None
    monitor, rng = TwinMonitor(spec), random.Random(1)
    names = list(dict.fromkeys((*spec.signals, *spec.health.signals)))
    sets = [{name: {"new": 0.04 * rng.lognormvariate(0, 0.08) * (1 + i / 2000), "quality": "good",
                    "source_time": iso(1.7e9 + i * 600.0)} for name in names} for i in range(n)]
    t0 = time.perf_counter()
    for changes in sets:
        monitor.update(changes)
    return {"us_per_change_set": round((time.perf_counter() - t0) / n * 1e6, 1), "signals": len(names),
            "alert_open": float(monitor.episode is not None), "rul_published": float(monitor.last_rul is not None)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seeds", default="1,2,3,4,5")
    ap.add_argument("--days", type=float, default=90.0)
    ap.add_argument("--step", type=float, default=300.0)
    ap.add_argument("--period-scale", type=float, default=10.0)
    ap.add_argument("--cost", action="store_true", help="only measure the scoring cost per change set")
    args = ap.parse_args()
    if args.cost:
        print(json.dumps(scoring_cost()))
        return
    t0 = time.perf_counter()
    runs = [run_seed(int(s), args.days, args.step, args.period_scale) for s in args.seeds.split(",")]
    wear_leads = [d["lead_hours"] for r in runs for d in r["detections"] if d["kind"] == "bearing_wear"]
    wear_faults = sum(1 for r in runs for f in r["faults"] if f["kind"] == "bearing_wear" and f["failure_at"])
    asset_months = sum(3 * r["sim_days"] / 30.0 for r in runs)  # three monitored bearings per plant
    print(json.dumps({
        "seeds": args.seeds, "bearing_failures": wear_faults, "bearing_detected": len(wear_leads),
        "min_lead_hours": min(wear_leads) if wear_leads else None,
        "detected_72h_before": sum(1 for x in wear_leads if x is not None and x >= 72.0),
        "false_alarms": sum(r["false_alarms"] for r in runs),
        "false_alarms_per_asset_month": sum(r["false_alarms"] for r in runs) / asset_months,
        "seconds": round(time.perf_counter() - t0, 1), "runs": runs}))


if __name__ == "__main__":
    main()
