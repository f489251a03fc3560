"""Commands over OPC UA against the virtual plant's line PLC (a real asyncua server): a setpoint write and method
calls, applied by the plant runner between physics steps, the StatusCode deciding acked / failed."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.x509.oid import ExtendedKeyUsageOID

from tests.integration.commands.rig import CommandRig, command_rig, write_mappings
from tests.integration.ingest.test_opcua import CLIENT_URI, _make_cert
from tests.support.services import free_port
from tvilling.adapters.opcua import OpcuaSettings
from tvilling.adapters.opcua_commands import OpcuaCommandTransport
from tvilling.ports.commands import CommandOutcome, CommandRequest, CommandSendError, CommandTarget
from tvilling.virtual_plant import Plant, PlantConfig
from tvilling.virtual_plant.opcua_plc import APPLICATION_URI, NAMESPACE, OpcuaPlc, PlcSettings

NS = f"nsu={NAMESPACE}"
ROWS = [
    {"twin": "line-1", "command": "set_speed_bpm", "transport": "opcua", "node_id": f"{NS};s=line-1.line_speed",
     "variant": "Double"},
    {"twin": "line-1", "command": "start", "transport": "opcua", "object": f"{NS};s=line-1",
     "method": f"{NS};s=line-1.Start"},
    {"twin": "line-1", "command": "stop", "transport": "opcua", "object": f"{NS};s=line-1",
     "method": f"{NS};s=line-1.Stop"},
]


@pytest.fixture(params=["None", "SignAndEncrypt"])
def rig(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[CommandRig]:
    """The PLC without security, and with SignAndEncrypt only (certificates made by the test, trusted both ways)."""
    plant = Plant(PlantConfig(seed=2, faults=[], start=datetime.now(UTC) - timedelta(days=1)))
    security: dict[str, Any] = {"opcua_security": "None"}
    plc_settings = PlcSettings(port=free_port())
    if request.param == "SignAndEncrypt":
        client_cert, client_key = _make_cert(tmp_path / "trusted", "tvilling", CLIENT_URI,
                                             ExtendedKeyUsageOID.CLIENT_AUTH)
        plc_cert, plc_key = _make_cert(tmp_path / "plc", "line-plc", APPLICATION_URI,
                                       ExtendedKeyUsageOID.SERVER_AUTH)
        plc_settings = PlcSettings(port=plc_settings.port, certificate=plc_cert, private_key=plc_key,
                                   trust_dir=tmp_path / "trusted")
        security = {"opcua_security": "SignAndEncrypt", "opcua_certificate": client_cert,
                    "opcua_private_key": client_key}
    plc = OpcuaPlc(plant, plc_settings)
    plc.start()
    try:
        with command_rig(tmp_path, None, write_mappings(tmp_path / "c.yaml", ROWS), endpoints=[plc],
                         opcua_url=plc.url, plant=plant, **security) as r:
            yield r
    finally:
        plc.close()


def test_setpoint_write_and_method_calls(rig: CommandRig) -> None:
    r = rig.send("line-1", "set_speed_bpm", 420.0)
    assert r.status_code == 202, r.text
    doc = rig.wait_state(r.json()["commandId"], {"acked", "failed", "expired"})
    assert doc["state"] == "acked", doc
    assert doc["history"][-1]["detail"]["status"] == "Good"
    assert rig.plant.line.speed_command_bpm == 420.0
    refused = rig.send("line-1", "set_speed_bpm", 900.0)
    doc = rig.wait_state(refused.json()["commandId"], {"acked", "failed", "expired"})
    assert doc["state"] == "failed" and doc["reason"].startswith("BadOutOfRange"), doc
    assert rig.plant.line.speed_command_bpm == 420.0
    stop = rig.send("line-1", "stop")
    doc = rig.wait_state(stop.json()["commandId"], {"acked", "failed", "expired"})
    assert doc["state"] == "acked" and doc["history"][-1]["detail"]["outputs"] == ["applied"], doc
    assert rig.plant.line.running is False
    start = rig.send("line-1", "start")
    assert rig.wait_state(start.json()["commandId"], {"acked", "failed"})["state"] == "acked"
    assert rig.plant.line.running is True


async def test_method_refusal_carries_the_plant_reason(tmp_path: Path) -> None:
    from tvilling.virtual_plant.runner import CommandHandler, RunStats

    plant = Plant(PlantConfig(seed=2, faults=[]))
    plc = OpcuaPlc(plant, PlcSettings(port=free_port()))
    await asyncio.to_thread(plc.start)
    handler, stats, done = CommandHandler(plant), RunStats(), asyncio.Event()

    async def serve() -> None:  # the runner's command step, without physics
        while not done.is_set():
            for cmd in plc.take_commands():
                plc.ack(cmd, handler.handle(cmd, stats))
            await asyncio.sleep(0.01)

    server = asyncio.create_task(serve())
    transport = OpcuaCommandTransport(OpcuaSettings(url=plc.url, security="None"))
    outcomes: list[CommandOutcome] = []

    async def collect(o: CommandOutcome) -> None:
        outcomes.append(o)

    await transport.start(collect)
    try:
        def req(cid: str, value: object, method: str = "SetLineSpeed") -> CommandRequest:
            return CommandRequest(cid, "default", "line-1", "set_speed_bpm", value,
                                  CommandTarget("opcua", f"{NS};s=line-1", f"{NS};s=line-1.{method}", "call"),
                                  datetime.now(UTC) + timedelta(seconds=10))

        ok = await transport.send(req("a", 300))
        assert ok is not None and ok.status == "acked" and plant.line.speed_command_bpm == 300.0
        bad = await transport.send(req("b", 5000.0))
        assert bad is not None and bad.status == "failed"
        assert bad.reason.startswith("BadOutOfRange") and "outside [0.0, 700.0]" in bad.reason
        with pytest.raises(CommandSendError, match="no namespace"):
            await transport.send(CommandRequest("c", "default", "line-1", "x", None, CommandTarget(
                "opcua", "nsu=urn:nowhere;s=x", "", "write"), datetime.now(UTC)))
        missing = await transport.send(req("d", None, "NoSuchMethod"))
        assert missing is not None and missing.status == "failed" and missing.reason.startswith("Bad")
    finally:
        done.set()
        await server
        await transport.close()
        await asyncio.to_thread(plc.close)
    assert outcomes == []  # OPC UA answers come back from send(), not through the callback
