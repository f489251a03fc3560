"""RUL figures of a finished headless demo, from its data dir (``--data-dir``): the insights the platform wrote
(``insight.rul`` events in ``tvilling.db``) against the plant's ground truth (``ground-truth.json``). Prints one
JSON object per bearing failure: when P(failure within 72 h) first reached 0.5, the published P and RUL
interval 168 h, 72 h and 24 h before the failure, and the work orders raised on the bearing (``maintenance.yaml``)
with how long before the failure their triggering insight came (simulated time; ``created_at`` is wall time).
Work orders on twins with no failure are listed under ``other_work_orders``.

    .venv/bin/python bench/predictive_demo_report.py --data-dir /tmp/demo-11
"""

from __future__ import annotations

import argparse
import json
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any


def _t(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def report(data_dir: Path) -> dict[str, Any]:
    truth = json.loads((data_dir / "ground-truth.json").read_text(encoding="utf-8"))
    out = []
    with sqlite3.connect(data_dir / "tvilling.db") as conn:
        orders = _work_orders(conn)
        for fault in truth["faults_injected"]:
            if fault["kind"] != "bearing_wear" or not fault.get("failure_at"):
                continue
            fail = _t(fault["failure_at"])
            rows = [json.loads(d) for (d,) in conn.execute(
                "SELECT data FROM events WHERE kind = 'insight.rul' AND subject = ? ORDER BY seq", (fault["asset"],))]
            rows = [r for r in rows if _t(r["at"]) <= fail]
            first = next((r for r in rows if r["p_failure"] >= 0.5), None)
            entry: dict[str, Any] = {
                "asset": fault["asset"], "failure_at": fault["failure_at"], "rul_insights": len(rows),
                "p72_over_half_hours_before": round((fail - _t(first["at"])) / 3600.0, 1) if first else None}
            for hours in (168, 72, 24):
                before = [r for r in rows if fail - _t(r["at"]) >= hours * 3600.0]
                entry[f"at_{hours}h_before"] = ({"p72": before[-1]["p_failure"], "rul_hours": before[-1]["rul_hours"]}
                                                if before else None)
            entry["work_orders"] = [{**o, "hours_before_failure": round((fail - _t(o["trigger_at"])) / 3600.0, 1)
                                     if o["trigger_at"] else None} for o in orders if o["twin"] == fault["asset"]]
            out.append(entry)
    matched = {b["asset"] for b in out}
    return {"data_dir": str(data_dir), "bearings": out,
            "other_work_orders": [o for o in orders if o["twin"] not in matched]}


def _work_orders(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    try:
        rows = list(conn.execute(
            "SELECT twin_id, rule_id, state, title, evidence FROM work_orders ORDER BY created_at"))
    except sqlite3.OperationalError:  # a data dir from before work orders existed
        return []
    out = []
    for twin, rule, state, title, evidence in rows:
        insight = json.loads(evidence).get("insight", {})
        out.append({"twin": twin, "rule": rule, "state": state, "title": title,
                    "trigger_at": insight.get("at") or insight.get("detected_at")})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data-dir", type=Path, required=True)
    print(json.dumps(report(ap.parse_args().data_dir)))


if __name__ == "__main__":
    main()
