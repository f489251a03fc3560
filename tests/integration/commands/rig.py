"""A platform + the virtual plant's MQTT endpoint on a real broker, for command tests.

The plant runs in-process (its runner in a thread, applying commands between physics steps exactly as in its own
process); the platform is the real composition root behind FastAPI's TestClient, with the bottling-plant site
loaded and a command mapping file of the test's choosing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import yaml
from fastapi.testclient import TestClient
from pydantic import SecretStr

from tests.support.platform import live_server
from tvilling.app.site import SitePackage, load_site
from tvilling.bootstrap import Platform, build_platform
from tvilling.core.context import Context
from tvilling.core.roles import Role
from tvilling.settings import Settings
from tvilling.virtual_plant import Plant, PlantConfig
from tvilling.virtual_plant.mqtt_json import MqttJsonEndpoint
from tvilling.virtual_plant.runner import Endpoint, RunStats, run

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "bottling-plant"
TENANT = "default"


@dataclass
class CommandRig:
    platform: Platform
    client: TestClient
    plant: Plant
    headers: dict[str, str]
    viewer: dict[str, str]
    token: str = ""
    url: str = ""
    stats: RunStats = field(default_factory=RunStats)

    def send(self, twin: str, name: str, payload: Any = None, **params: Any) -> Any:
        return self.client.post(f"/api/v1/twins/{twin}/commands/{name}", headers=self.headers,
                                params=params, json=payload) if payload is not None else \
            self.client.post(f"/api/v1/twins/{twin}/commands/{name}", headers=self.headers, params=params)

    def wait_state(self, command_id: str, states: set[str], timeout_s: float = 10.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        doc: dict[str, Any] = {}
        while time.monotonic() < deadline:
            doc = self.client.get(f"/api/v1/commands/{command_id}", headers=self.viewer).json()
            if doc.get("state") in states:
                return doc
            time.sleep(0.05)
        raise AssertionError(f"command {command_id} never reached {states}: {doc}")

    def events(self, command_id: str) -> list[Any]:
        with self.platform.store.read() as tx:
            return [e.event for e in tx.events.list(TENANT, limit=10_000)
                    if e.event.kind.startswith("command.") and e.event.data.get("commandId") == command_id]


def write_mappings(path: Path, rows: list[dict[str, Any]], timeout_s: float = 10.0) -> Path:
    path.write_text(yaml.safe_dump({"version": 1, "tenant": TENANT, "defaults": {"timeout_s": timeout_s},
                                    "commands": rows}), encoding="utf-8")
    return path


@contextmanager
def command_rig(tmp_path: Path, broker_url: str | None, commands_file: Path, *, protocol: int = 5,
                endpoints: list[Endpoint] | None = None, plant: Plant | None = None, live: bool = False,
                **settings: Any) -> Iterator[CommandRig]:
    """Platform (SQLite) + site + plant runner thread; the plant's MQTT endpoint when ``broker_url`` is given.
    ``live``: served by uvicorn on a loopback port (``rig.url``) instead of the in-process TestClient."""
    platform = build_platform(Settings(db=SecretStr(f"sqlite:///{tmp_path / 'cmd.db'}"), mqtt_url=broker_url,
                                       mqtt_protocol=protocol, commands_file=commands_file,
                                       mqtt_client_id=f"ingest-{tmp_path.name}"[:60],
                                       commands_client_id=f"cmd-{tmp_path.name}"[:60], **settings),
                              announce=lambda _t: None, dashboard=False)
    load_site(platform.services, TENANT, SitePackage(EXAMPLE), Context.new(actor="test"))
    op = platform.services.tokens.create(TENANT, Role.OPERATOR, "operator").token
    viewer = platform.services.tokens.create(TENANT, Role.VIEWER, "viewer").token
    plant = plant or Plant(PlantConfig(seed=2, faults=[], start=datetime.now(UTC) - timedelta(days=1)))
    eps: list[Endpoint] = list(endpoints or [])
    mqtt_ep: MqttJsonEndpoint | None = None
    if broker_url is not None:
        mqtt_ep = MqttJsonEndpoint(broker_url, client_id=f"plant-{tmp_path.name}"[:60], protocol=protocol)
        mqtt_ep.connect()
        eps.append(mqtt_ep)
    stop = threading.Event()
    offset = [0.0]

    def clock() -> float:  # jumping the runner's clock past its duration is how the test stops it
        return time.monotonic() + (1e9 if stop.is_set() else offset[0])

    rig = CommandRig(platform, TestClient(platform.app, raise_server_exceptions=True), plant,
                     {"Authorization": f"Bearer {op}"}, {"Authorization": f"Bearer {viewer}"}, token=op)
    runner = threading.Thread(target=run, args=(plant, eps), kwargs={
        "speed": 60.0, "duration_s": 600.0, "clock": clock, "stats": rig.stats}, daemon=True)
    try:
        with ExitStack() as stack:
            if live:
                rig.url = stack.enter_context(live_server(platform.app))
                rig.client = stack.enter_context(httpx.Client(base_url=rig.url))  # type: ignore[assignment]
            else:
                stack.enter_context(rig.client)
            runner.start()
            yield rig
    finally:
        stop.set()
        runner.join(10)
        if mqtt_ep is not None:
            mqtt_ep.close()
        platform.close()
