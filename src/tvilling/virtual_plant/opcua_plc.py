"""The line PLC as an OPC UA server: line-1 throughput, line speed and state as variables (asyncua).

An :class:`Endpoint` for the runner, beside MQTT JSON: every line-1 publication writes the variables, with the
simulated time as SourceTimestamp. A throughput sample that the sensor model reports as NaN is written with
StatusCode ``BadSensorFailure`` (OPC UA servers null the value of Bad samples), as a real PLC would.

Commands (line-1) arrive two ways, both applied by the runner between physics steps through
``virtual_plant/commands.py``, exactly like MQTT commands, and answered in the same OPC UA round trip:
- a write to the setpoint variable ``line-1.line_speed`` (Double, bottles/min) -> ``set_speed_bpm``; the write's
  StatusCode is Good when applied, ``BadOutOfRange`` / ``BadInvalidArgument`` when refused;
- the methods ``Start()``, ``Stop()`` and ``SetLineSpeed(value: Double)`` on the ``line-1`` object; the output
  argument ``Result`` is ``applied`` or the refusal reason, and a refusal has a Bad StatusCode.
A command the runner does not pick up within ``command_timeout_s`` gets ``BadTimeout``.

The server runs its own event loop in a daemon thread, so the synchronous runner never waits on the network.
Security: with a certificate and key it offers Basic256Sha256 SignAndEncrypt only and trusts the client
certificates in ``trust_dir``; without them it offers None only (the platform refuses that unless it is configured
for ``opcua_security: None``). It binds 127.0.0.1 by default. This module imports no platform code.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import uuid
from collections.abc import Coroutine
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from asyncua import ua
from asyncua.crypto.permission_rules import User, UserRole
from asyncua.crypto.truststore import TrustStore
from asyncua.crypto.validator import CertificateValidator, CertificateValidatorOptions
from asyncua.server.server import Server
from asyncua.ua.attribute_ids import AttributeIds
from asyncua.ua.status_codes import StatusCodes

from tvilling.virtual_plant.errors import VirtualPlantError
from tvilling.virtual_plant.mqtt_json import IncomingCommand
from tvilling.virtual_plant.plant import Plant
from tvilling.virtual_plant.sensors import SensorReading

log = logging.getLogger(__name__)

NAMESPACE = "urn:tvilling:virtual-plant"
APPLICATION_URI = "urn:tvilling:virtual-plant:line-plc"
# Variable name -> (NodeId string identifier, variant type). NodeIds are "ns=<index of NAMESPACE>;s=<identifier>".
VARIABLES: dict[str, tuple[str, ua.VariantType]] = {
    "throughput": ("line-1.throughput", ua.VariantType.Double),  # bottles/min, measured (noisy, may fail)
    "line_speed": ("line-1.line_speed", ua.VariantType.Double),  # bottles/min, the speed command
    "state": ("line-1.state", ua.VariantType.String),  # running | jammed | stopped
}
# Writable variable -> plant command it applies; method browse name -> (NodeId identifier, command, takes a value).
WRITABLE: dict[str, str] = {"line_speed": "set_speed_bpm"}
METHODS: dict[str, tuple[str, str, bool]] = {
    "Start": ("line-1.Start", "start", False),
    "Stop": ("line-1.Stop", "stop", False),
    "SetLineSpeed": ("line-1.SetLineSpeed", "set_speed_bpm", True),
}
DEVICE = "line-1"


@dataclass(frozen=True)
class PlcSettings:
    port: int
    host: str = "127.0.0.1"
    certificate: Path | None = None
    private_key: Path | None = None
    trust_dir: Path | None = None  # trusted client certificates (DER/PEM files); required with a certificate
    command_timeout_s: float = 10.0  # how long a write/method call waits for the runner to apply it


class OpcuaPlc:
    """Runner endpoint that serves line-1 over OPC UA and takes its commands (setpoint writes, method calls)."""

    def __init__(self, plant: Plant, settings: PlcSettings) -> None:
        if (settings.certificate is None) != (settings.private_key is None):
            raise VirtualPlantError("--opcua-cert and --opcua-key go together")
        if settings.certificate is not None and settings.trust_dir is None:
            raise VirtualPlantError("a secured OPC UA PLC needs --opcua-trust (the platform's client certificate)")
        self.plant = plant
        self.settings = settings
        self.url = f"opc.tcp://{settings.host}:{settings.port}/tvilling/plc/"
        self.node_ids: dict[str, str] = {}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="opcua-plc", daemon=True)
        self._server: Server | None = None
        self._nodes: dict[str, Any] = {}
        self._pending: Future[None] | None = None
        self._commands: queue.Queue[IncomingCommand] = queue.Queue()
        self._waiters: dict[bytes, asyncio.Future[dict[str, Any]]] = {}
        self._writable: dict[ua.NodeId, str] = {}

    # -- lifecycle ------------------------------------------------------------------------------------------
    def start(self, timeout_s: float = 30.0) -> None:
        self._thread.start()
        try:
            self._call(self._start(), timeout_s)
        except Exception as exc:
            self.close()
            raise VirtualPlantError(f"OPC UA PLC could not start on {self.url}: {exc}") from exc

    def close(self) -> None:
        if self._server is not None:
            try:
                self._call(self._server.stop(), 10.0)
            except Exception:  # closing on the way out: the process ends anyway
                log.exception("OPC UA PLC stop failed")
            self._server = None
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5.0)

    def _call(self, coro: Coroutine[Any, Any, Any], timeout_s: float) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout_s)

    async def _start(self) -> None:
        s = self.settings
        server = Server()
        await server.init()
        server.set_endpoint(self.url)
        server.set_server_name("Tvilling virtual plant line PLC")
        await server.set_application_uri(APPLICATION_URI)
        if s.certificate is not None and s.private_key is not None and s.trust_dir is not None:
            server.set_security_policy([ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt])
            await server.load_certificate(str(s.certificate))
            await server.load_private_key(str(s.private_key))
            store = TrustStore([s.trust_dir], [])
            await store.load()
            server.set_certificate_validator(CertificateValidator(
                CertificateValidatorOptions.TRUSTED_VALIDATION | CertificateValidatorOptions.PEER_CLIENT, store))
        else:
            server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        ns = await server.register_namespace(NAMESPACE)
        line = await server.nodes.objects.add_object(ua.NodeId.from_string(f"ns={ns};s=line-1"), "Line1")
        initial: dict[str, Any] = {"throughput": 0.0, "line_speed": self.plant.line.speed_command_bpm,
                                   "state": self._state()}
        for name, (ident, vtype) in VARIABLES.items():
            node = await line.add_variable(ua.NodeId.from_string(f"ns={ns};s={ident}"), name, initial[name], vtype)
            # Stamped with simulated time: a wall-clock stamp would be "newer" than every later simulated sample.
            await server.write_attribute_value(node.nodeid, _dv(initial[name], vtype, self.plant.now()))
            self._nodes[name] = node
            self.node_ids[name] = node.nodeid.to_string()
            if name in WRITABLE:
                await node.set_writable()
                self._writable[node.nodeid] = WRITABLE[name]
        for bname, (ident, command, takes_value) in METHODS.items():
            inputs = [ua.VariantType.Double] if takes_value else []
            node = await line.add_method(ua.NodeId.from_string(f"ns={ns};s={ident}"), bname,
                                         self._method(command, takes_value), inputs, [ua.VariantType.String])
            self.node_ids[bname] = node.nodeid.to_string()
        self.node_ids["line-1"] = line.nodeid.to_string()
        self._intercept_writes(server)
        await server.start()
        self._server = server

    # -- Endpoint -------------------------------------------------------------------------------------------
    def publish_readings(self, device: str, seq: int, source_ts: str, readings: list[SensorReading]) -> None:
        if device != "line-1" or self._server is None:
            return
        when = readings[0].source_time if readings else self.plant.now()
        values: list[tuple[str, ua.DataValue]] = [
            ("line_speed", _dv(self.plant.line.speed_command_bpm, ua.VariantType.Double, when)),
            ("state", _dv(self._state(), ua.VariantType.String, when))]
        for r in readings:
            if r.name == "throughput":
                if r.value is None:
                    values.append(("throughput", _dv(0.0, ua.VariantType.Double, r.source_time,
                                                     StatusCodes.BadSensorFailure)))
                else:
                    values.append(("throughput", _dv(r.value, ua.VariantType.Double, r.source_time)))
        if self._pending is not None and not self._pending.done():
            return  # the server is behind: drop this update (a PLC scan overwrites; the next one catches up)
        self._pending = asyncio.run_coroutine_threadsafe(self._write(values), self._loop)

    async def _write(self, values: list[tuple[str, ua.DataValue]]) -> None:
        assert self._server is not None
        for name, dv in values:
            await self._server.write_attribute_value(self._nodes[name].nodeid, dv)

    def take_commands(self) -> list[IncomingCommand]:
        out: list[IncomingCommand] = []
        while True:
            try:
                out.append(self._commands.get_nowait())
            except queue.Empty:
                return out

    def ack(self, cmd: IncomingCommand, body: dict[str, Any]) -> None:
        """The runner's outcome (runner thread) -> the OPC UA request waiting for it (server loop)."""
        waiter = self._waiters.get(cmd.correlation or b"")
        if waiter is not None:
            self._loop.call_soon_threadsafe(_resolve, waiter, body)

    # -- commands (server loop) -----------------------------------------------------------------------------
    async def _submit(self, command: str, value: float | None) -> dict[str, Any]:
        key = uuid.uuid4().bytes
        waiter: asyncio.Future[dict[str, Any]] = self._loop.create_future()
        self._waiters[key] = waiter
        payload: dict[str, Any] = {"command_id": "opcua-" + key.hex(), "command": command}
        if value is not None:
            payload["value"] = value
        self._commands.put(IncomingCommand(DEVICE, payload, "", None, key))
        try:
            return await asyncio.wait_for(waiter, self.settings.command_timeout_s)
        except TimeoutError:
            return {"status": "timeout", "reason": "the PLC did not apply the command in time"}
        finally:
            self._waiters.pop(key, None)

    def _method(self, command: str, takes_value: bool) -> Any:
        async def call(_parent: ua.NodeId, *args: ua.Variant) -> Any:
            value = args[0].Value if takes_value and args else None
            if takes_value and not isinstance(value, int | float):
                return ua.CallMethodResult(StatusCode=_code(StatusCodes.BadInvalidArgument),
                                           OutputArguments=[ua.Variant("a numeric value is required",
                                                                       ua.VariantType.String)])
            body = await self._submit(command, value)
            text = "applied" if body.get("status") == "applied" else str(body.get("reason", "refused"))
            return ua.CallMethodResult(StatusCode=_code(_status(body)),
                                       OutputArguments=[ua.Variant(text, ua.VariantType.String)])
        return call

    def _intercept_writes(self, server: Server) -> None:
        """Writes to command variables go through the runner; the client sees the plant's verdict as StatusCode.
        (asyncua applies writes straight to the address space; a PLC must be able to refuse a setpoint.)"""
        service = server.iserver.attribute_service
        plain_write = service.write

        async def write(params: ua.WriteParameters, user: User = User(role=UserRole.Admin)) -> list[ua.StatusCode]:
            results: list[ua.StatusCode] = []
            for wv in params.NodesToWrite:
                command = self._writable.get(wv.NodeId)
                if command is None or wv.AttributeId != AttributeIds.Value:
                    results.extend(await plain_write(ua.WriteParameters(NodesToWrite=[wv]), user))
                    continue
                variant = wv.Value.Value if wv.Value is not None else None
                value = variant.Value if variant is not None else None
                if isinstance(value, bool) or not isinstance(value, int | float):
                    results.append(_code(StatusCodes.BadTypeMismatch))
                    continue
                body = await self._submit(command, float(value))
                code = _status(body)
                if code == StatusCodes.Good:
                    # The write lands between two scans: stamped just after the last scan's time, so a client
                    # never sees two different values of the setpoint with one source time (a conflict).
                    after_scan = self.plant.now() + timedelta(milliseconds=1)
                    await server.write_attribute_value(wv.NodeId, _dv(float(value), ua.VariantType.Double,
                                                                      after_scan))
                results.append(_code(code))
            return results

        service.write = write  # type: ignore[method-assign]

    def _state(self) -> str:
        line = self.plant.line
        if not line.running:
            return "stopped"
        return "jammed" if line.state.jammed else "running"


def _code(value: int) -> ua.StatusCode:
    return ua.StatusCode(ua.UInt32(value))


def _resolve(waiter: asyncio.Future[dict[str, Any]], body: dict[str, Any]) -> None:
    if not waiter.done():
        waiter.set_result(body)


def _status(body: dict[str, Any]) -> int:
    """The runner's verdict as an OPC UA StatusCode."""
    status = body.get("status")
    if status == "applied":
        return int(StatusCodes.Good)
    if status == "timeout":
        return int(StatusCodes.BadTimeout)
    return int(StatusCodes.BadOutOfRange if "outside" in str(body.get("reason", "")) else
               StatusCodes.BadInvalidArgument)


def _dv(value: Any, vtype: ua.VariantType, when: datetime, status: int = StatusCodes.Good) -> ua.DataValue:
    # asyncua annotates its fields with its own int/datetime subclasses; plain values are what it encodes.
    fields: dict[str, Any] = {"StatusCode": ua.StatusCode(ua.UInt32(status)), "SourceTimestamp": when}
    return ua.DataValue(ua.Variant(value, vtype), **fields)


def start_plc(plant: Plant, port: int, cert: str | None = None, key: str | None = None,
              trust: str | None = None) -> OpcuaPlc:
    """The ``--opcua-*`` options of ``python -m tvilling.virtual_plant`` -> a started PLC."""
    plc = OpcuaPlc(plant, PlcSettings(port=port, certificate=Path(cert) if cert else None,
                                      private_key=Path(key) if key else None,
                                      trust_dir=Path(trust) if trust else None))
    plc.start()
    return plc
