"""A physics model coupled to a live twin, end to end on this machine (no network beyond 127.0.0.1).

Starts a Tvilling server on a free loopback port with a temporary SQLite database and a ``physics.yaml`` that
couples the example thermal-zone FMU to every twin of the bottling plant's Zone model; uploads the model, a twin
"hall" and the FMU through the SDK; then streams readings of a zone (the native model of the same equations, 0.1 K
of sensor noise) whose envelope conductance rises from 420 to 650 W/K at hour ``--fault-at`` (a door left open).
The coupled FMU settles (2 h), learns 12 h of healthy residuals, watches, and raises an ``insight.anomaly`` when the
hall stops behaving like its model. Prints the twin's physics status and the insight.

    .venv/bin/python examples/fmus/live_coupling.py [--hours 30] [--fault-at 20]

Needs gcc (to build the example FMU, as ``examples/fmus/build.py`` does).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ZONE_MODEL = HERE.parent / "bottling-plant" / "models" / "Zone.json"

PHYSICS = """version: 1
couplings:
  - model: "dtmi:tvilling:bottling:Zone;1"
    fmu: {fmu}
    step: 300
    values: {{UA: 420, C: 6.0e6}}
    start: {{T_start: airTemperature}}
    inputs: {{T_out: outdoorTemperature, Q_hvac: {{property: hvacPower, scale: 1000}}}}
    outputs: {{T: airTemperature}}
    settle_hours: 2
    reference_hours: 12
    quiet_hours: 3
"""


@contextmanager
def server(folder: Path, fmu_id: str) -> Iterator[tuple[str, str]]:
    """A Tvilling server on a free loopback port; yields (url, admin token)."""
    import uvicorn
    from pydantic import SecretStr

    from tvilling.bootstrap import build_platform
    from tvilling.settings import Settings

    (folder / "mappings.yaml").write_text("version: 1\ntopics: []\n")
    (folder / "physics.yaml").write_text(PHYSICS.format(fmu=fmu_id))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = Settings(db=SecretStr(f"sqlite:///{folder / 'tvilling.db'}"), data_dir=folder,
                        mappings_file=folder / "mappings.yaml", port=port)
    platform = build_platform(settings, announce=lambda _text: None, dashboard=False)
    assert platform.first_token is not None
    web = uvicorn.Server(uvicorn.Config(platform.app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=web.run, daemon=True)
    thread.start()
    while not web.started:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}", platform.first_token.token
    finally:
        web.should_exit = True
        thread.join(timeout=10)
        platform.close()


def zone_readings(hours: int, fault_at_h: float, t0: datetime) -> Iterator[list[dict[str, Any]]]:
    """One list of readings (outdoor, HVAC in kW, air) per 5 minutes: a daily outdoor swing, heating 3 kW for the
    first 8 h of each day and cooling 1.5 kW after, the envelope fault from ``fault_at_h``."""
    import numpy as np

    from tvilling.physics.thermal_zone import ThermalZone

    rng = np.random.default_rng(1)
    zone, values = ThermalZone(), {"UA": 420.0, "C": 6.0e6, "T_start": 19.0}
    for k in range(hours * 12):
        t = 300.0 * k
        outdoor = 8.0 + 6.0 * np.sin(2 * np.pi * t / 86400.0)
        hvac = 3000.0 if t % 86400.0 < 8 * 3600.0 else -1500.0
        if k == 0:
            zone.initialize({**values, "T_out": outdoor, "Q_hvac": hvac})
        elif t == fault_at_h * 3600.0:
            zone.initialize({**values, "UA": 650.0, "T_start": zone.outputs()["T"], "T_out": outdoor,
                             "Q_hvac": hvac}, start_time=t)
        at = (t0 + timedelta(seconds=t)).isoformat().replace("+00:00", "Z")
        yield [{"twinId": "hall", "name": name, "sourceTime": at, "value": float(value)}
               for name, value in (("outdoorTemperature", outdoor), ("hvacPower", hvac / 1000.0),
                                   ("airTemperature", zone.outputs()["T"] + rng.normal(0.0, 0.1)))]
        zone.step(300.0, {"T_out": outdoor, "Q_hvac": hvac})


def say(text: str) -> None:
    sys.stdout.write(text + "\n")


def main(hours: int = 30, fault_at_h: float = 20.0) -> dict[str, Any]:
    sys.path.insert(0, str(HERE))
    from build import build_fmu  # the example's own build script

    from tvilling.app.fmus import fmu_id
    from tvilling.cli.physics import status_lines
    from tvilling.sdk import Client

    with tempfile.TemporaryDirectory(prefix="tvilling-live-coupling-") as tmp:
        folder = Path(tmp)
        artifact = Path(build_fmu("2.0", folder)).read_bytes()
        ident = fmu_id(hashlib.sha256(artifact).hexdigest())
        with server(folder, ident) as (url, token), Client(url, token) as tv:
            tv.upload_models([json.loads(ZONE_MODEL.read_text())])
            tv.create_twin("hall", {"$metadata": {"$model": "dtmi:tvilling:bottling:Zone;1"}})
            tv.upload_fmu(artifact, name="thermal zone")
            # recent source times: ingestion quarantines readings older than its maximum age (7 days)
            t0 = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=hours + 2)
            for readings in zone_readings(hours, fault_at_h, t0):
                tv.send_telemetry(readings)  # one time step per commit, as a gateway sends them
            deadline = time.monotonic() + 30
            while True:
                status = tv.twin_physics("hall")
                insights = tv.list_insights(twin="hall", kind="anomaly")["value"]
                done = status["live"] and status["live"]["modelTime"] and status["live"]["modelTime"] >= (
                    t0 + timedelta(hours=hours) - timedelta(minutes=5)).isoformat().replace("+00:00", "Z")
                if done or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
    for line in status_lines("hall", status):
        say(line)
    fault = (t0 + timedelta(hours=fault_at_h)).isoformat().replace("+00:00", "Z")
    say(f"fault injected at {fault}")
    for item in insights:
        data = item["data"]
        say(f"insight.anomaly by the {data['detector']} model: {', '.join(data['signals'])} since "
            f"{data['since']} (expected {data['expected']}, measured {data['values']})")
    if not insights:
        say("no anomaly insight")
    return {"status": status, "insights": insights, "fault_at": fault}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=int, default=30)
    parser.add_argument("--fault-at", type=float, default=20.0)
    args = parser.parse_args()
    main(args.hours, args.fault_at)
