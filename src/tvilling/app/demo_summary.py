"""The ``tvilling demo --headless --json`` summary, computed from the platform's own records.

Counts come from the database (so the summary and the store agree by construction of the query, and a test can
check them independently); ``faults_injected`` is the plant's ground truth, reported by the plant process at the
end; detections and work orders are the platform's insights, never the plant's hidden state.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from tvilling.adapters.sql import schema

# Event kinds the predictive and autonomy layers append; counted here so the summary grows with them.
ANOMALY_KINDS = ("insight.anomaly", "alert.anomaly")
WORK_ORDER_KINDS = ("workorder.created",)


def _count(conn: sa.Connection, table: sa.Table, tenant: str, source: sa.FromClause | None = None) -> int:
    """Rows of ``source`` (default ``table``) whose ``table.tenant`` is ``tenant``."""
    return int(conn.execute(sa.select(sa.func.count()).select_from(table if source is None else source)
                            .where(table.c.tenant == tenant)).scalar_one())


def _events(conn: sa.Connection, tenant: str, kinds: tuple[str, ...]) -> list[sa.Row[Any]]:
    query = (sa.select(schema.events.c.kind, schema.events.c.subject, schema.events.c.data)
             .where(schema.events.c.tenant == tenant, schema.events.c.kind.in_(kinds))
             .order_by(schema.events.c.seq))
    return list(conn.execute(query))


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def detections_against_truth(anomalies: list[dict[str, Any]], faults: list[dict[str, Any]]) -> tuple[
        list[dict[str, Any]], int]:
    """Match each fault with the first anomaly on its asset between onset and failure (lead = failure - detection).

    An anomaly is on a fault's asset when its twin id is the asset or starts with it (``pump-1-bearing`` is part
    of ``pump-1``). The window ends at ``failure_at``, else at ``end`` (episodic faults such as cavitation), else
    it stays open. Each anomaly explains at most one fault, and the most specific asset is matched first (an
    alert on ``pump-1-bearing`` is the bearing's before it is the pump's). Returns the detections, in fault
    order, and the number of anomalies that matched no fault (false alarms).
    """
    found: dict[int, dict[str, Any]] = {}
    matched: set[int] = set()
    order = sorted(range(len(faults)), key=lambda k: -len(str(faults[k].get("asset", ""))))
    for k in order:
        fault = faults[k]
        onset, failure = _parse_time(fault.get("onset")), _parse_time(fault.get("failure_at"))
        until = failure or _parse_time(fault.get("end"))
        for i, alarm in enumerate(anomalies):
            at = _parse_time(alarm.get("detected_at"))
            asset = str(alarm.get("asset", ""))
            if i in matched or at is None or onset is None or not asset.startswith(str(fault.get("asset"))):
                continue
            if at >= onset and (until is None or at <= until):
                lead = (failure - at).total_seconds() / 3600.0 if failure else None
                found[k] = {"asset": fault.get("asset"), "kind": fault.get("kind"),
                            "detected_at": alarm.get("detected_at"), "lead_hours": lead}
                matched.add(i)
                break
    return [found[k] for k in sorted(found)], len(anomalies) - len(matched)


def build_summary(engine: sa.Engine, tenant: str, plant: dict[str, Any]) -> dict[str, Any]:
    with engine.connect() as conn:
        twins = _count(conn, schema.twins, tenant)
        raw = schema.raw_samples()
        points = _count(conn, schema.series, tenant, raw.join(schema.series, schema.series.c.id == raw.c.series_id))
        quarantined = _count(conn, schema.quarantine, tenant)
        anomaly_rows = _events(conn, tenant, ANOMALY_KINDS)
        work_orders = len(_events(conn, tenant, WORK_ORDER_KINDS))
    anomalies = [{"asset": r.subject, "detected_at": (r.data or {}).get("detected_at")} for r in anomaly_rows]
    faults = list(plant.get("faults_injected", []))
    detections, false_alarms = detections_against_truth(anomalies, faults)
    sim_days = float(plant.get("sim_days", 0.0))
    return {
        "sim_days": sim_days,
        "twins": twins,
        "points_ingested": points,
        "points_quarantined": quarantined,
        "anomalies": len(anomalies),
        "work_orders": work_orders,
        "faults_injected": [{k: f.get(k) for k in ("asset", "kind", "onset", "failure_at")} for f in faults],
        "detections": detections,
        "false_alarms_per_day": false_alarms / sim_days if sim_days > 0 else 0.0,
        # Reconciliation (extra keys): what the plant says it published, next to what the store holds.
        "messages_published": plant.get("messages"),
        "points_published": plant.get("points"),
    }
