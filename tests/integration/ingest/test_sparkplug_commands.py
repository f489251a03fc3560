"""Commands over Sparkplug B (``transport: sparkplug``): the platform writes the metric in a DCMD, the virtual
plant's edge node applies it and re-publishes the metric, and that echo acknowledges the command. The plant's
NBIRTH goes out before the platform subscribes, so this also shows data-before-birth healing through a rebirth."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.commands.rig import EXAMPLE, CommandRig, command_rig, write_mappings
from tests.support.mosquitto import mosquitto_broker  # noqa: F401  (pytest fixture)
from tvilling.protocols.sparkplug import DeviceKey
from tvilling.virtual_plant.sparkplug import SparkplugEndpoint

pytestmark = pytest.mark.mosquitto
ADDRESS = "bottling/virtual-plant"
ROWS: list[dict[str, Any]] = [
    {"twin": "chiller-1", "command": "set_setpoint_c", "transport": "sparkplug", "address": f"{ADDRESS}/chiller-1",
     "datatype": "Double"},
    {"twin": "hall", "command": "stop", "transport": "sparkplug", "address": f"{ADDRESS}/hall"},
    {"twin": "hall", "command": "set_cooling_setpoint_c", "transport": "sparkplug", "address": f"{ADDRESS}/hall",
     "timeout_s": 1},
]


@pytest.fixture
def rig(mosquitto_broker: int, tmp_path: Path) -> Iterator[CommandRig]:  # noqa: F811
    url = f"mqtt://127.0.0.1:{mosquitto_broker}"
    edge = SparkplugEndpoint(url, {"chiller-1": [("setpoint", "degC")], "hall": [("air_temperature", "degC")]},
                             {"chiller-1": [("set_setpoint_c", "degC", True)],
                              "hall": [("stop", "", False), ("set_cooling_setpoint_c", "degC", True)]},
                             client_id=f"edge-{tmp_path.name}"[:60])
    edge.connect()
    try:
        with command_rig(tmp_path, None, write_mappings(tmp_path / "c.yaml", ROWS), endpoints=[edge],
                         sparkplug_enabled=True, sparkplug_url=url, mappings_file=EXAMPLE / "mappings.yaml",
                         sparkplug_client_id=f"host-{tmp_path.name}"[:60]) as r:
            yield r
    finally:
        edge.close()


def _online(rig: CommandRig, device: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        host = getattr(rig.platform.app.state, "sparkplug", None)
        if host is not None and host.ingest.sessions.is_online(DeviceKey("bottling", "virtual-plant", device)):
            return
        time.sleep(0.1)
    raise AssertionError(f"{device} was never born at the platform")


def test_dcmd_is_applied_and_acked_by_the_metric_echo(rig: CommandRig) -> None:
    _online(rig, "chiller-1")
    _online(rig, "hall")
    r = rig.send("chiller-1", "set_setpoint_c", 9.5, commandId="spb-1")
    assert r.status_code == 202, r.text
    doc = rig.wait_state("spb-1", {"acked", "failed", "expired"}, timeout_s=15)
    assert doc["state"] == "acked", doc
    assert [h["state"] for h in doc["history"]] == ["requested", "sent", "acked"]
    assert doc["history"][-1]["detail"]["value"] == 9.5
    assert rig.plant.chiller.setpoint_c == 9.5  # the physics changed
    # A command without a value writes `true`; the plant runs it and echoes it.
    stop = rig.send("hall", "stop")
    assert rig.wait_state(stop.json()["commandId"], {"acked", "failed", "expired"}, timeout_s=15)["state"] == "acked"
    # Sparkplug has no refusal: a value the plant rejects (outside 18-32 degC) is never echoed and expires.
    bad = rig.send("hall", "set_cooling_setpoint_c", 50.0)
    assert rig.wait_state(bad.json()["commandId"], {"acked", "failed", "expired"}, timeout_s=15)["state"] == "expired"
    assert rig.stats.commands_rejected >= 1
