"""The bottling site with eight hours of history for "why did line 1 slow down?" (docs/explain.md).

A person lowers the line speed at minute ``LOWERED`` for an hour (a writable property, with the command in the event
log), the motors and the chiller follow the throughput (effects), other signals only wander; a jam (a 0/1 state)
at minute ``JAM``. Shared by the explain API, SDK, CLI and MCP tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from tests.support.platform import ApiRig, api_rig
from tvilling.adapters.sql.timeseries import SampleRow, TimeSeriesStore
from tvilling.app.site import SitePackage, load_site
from tvilling.core.context import Context, new_id
from tvilling.core.events import Event

SITE = Path(__file__).resolve().parents[2] / "examples" / "bottling-plant"
T0 = datetime(2026, 11, 23, 20, 0, tzinfo=UTC)  # history starts; minute 240 = midnight
LOWERED, JAM = 240, 400  # minutes
MINUTES = 480


def series(minutes: int) -> dict[tuple[str, str], np.ndarray]:
    rng = np.random.default_rng(5)
    t = np.arange(minutes)
    speed = np.where((t >= LOWERED) & (t < LOWERED + 60), 400.0, 500.0)
    jammed = ((t >= JAM) & (t < JAM + 4)).astype(float)
    throughput = np.where(jammed > 0, 0.0, speed) + rng.normal(0, 2.0, minutes)
    return {
        ("line-1", "throughput"): throughput,
        ("line-1", "speedSetpoint"): speed,
        ("line-1", "jammed"): jammed,
        ("line-1", "productTemperature"): 4.0 + rng.normal(0, 0.05, minutes),
        ("filler-1-motor", "power"): 1.5 + 0.004 * throughput + rng.normal(0, 0.01, minutes),  # an effect
        ("chiller-1", "coolingPower"): 0.29 * throughput + rng.normal(0, 1.0, minutes),  # an effect, two hops away
        ("pump-1", "flowRate"): 10.0 + rng.normal(0, 0.1, minutes),
        ("hall", "airTemperature"): 21.0 + 0.3 * np.sin(t / 200.0) + rng.normal(0, 0.05, minutes),
    }


def at(minute: int) -> str:
    """The time ``minute`` minutes into the history, ISO 8601 in UTC."""
    return (T0 + timedelta(minutes=minute)).isoformat()


@contextmanager
def explain_rig(db: Path) -> Iterator[ApiRig]:
    """An API rig on SQLite file ``db``: the bottling site (tenant acme), its history and the operator's command."""
    with api_rig(f"sqlite:///{db}", seed_models=False) as r:
        load_site(r.platform.services, "acme", SitePackage(SITE), Context.new(actor="test"))
        rows = [SampleRow("acme", twin, name, int((T0 + timedelta(minutes=i, seconds=30)).timestamp() * 1e6),
                          float(v), None, "good", "", None)
                for (twin, name), values in series(MINUTES).items() for i, v in enumerate(values)]
        TimeSeriesStore(r.platform.store.engine).write_batch(rows, [], [], 0)
        with r.platform.services.store.write() as tx:
            tx.events.append([Event(kind="command.acked", tenant="acme", subject="line-1",
                                    time=T0 + timedelta(minutes=LOWERED, seconds=5), context_id=new_id(),
                                    actor="token:operator-anna", data={"command": "set_speed_bpm", "payload": 400})])
        yield r
