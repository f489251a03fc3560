"""OPC UA command transport (asyncua client): a write to a setpoint variable, or a method call.

The device answers in the same round trip, so ``send`` returns the outcome: a Good StatusCode means the PLC
accepted and applied the command (acked); a Bad one means it refused (failed, the code name and description as
the reason, plus the method's text output when it gives one). Connection trouble before the request is a
:class:`CommandSendError` (nothing reached the device); a connection lost during the call is also reported as a
send error, since the outcome is unknown and the command must not be shown as acked.

Addresses are NodeId strings. ``nsu=<namespace URI>;s=…`` is resolved to the server's namespace index on first
use, so a mapping does not depend on the order in which the server registered its namespaces. Security is that of
the ingestion client (:func:`tvilling.adapters.opcua.open_client`: configured mode or nothing, no downgrade).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from asyncua import ua
from asyncua.client.client import Client
from asyncua.ua.attribute_ids import AttributeIds
from asyncua.ua.status_codes import get_name_and_doc
from asyncua.ua.uaerrors import UaError

from tvilling.adapters.opcua import OpcuaSecurityError, OpcuaSettings, open_client
from tvilling.core.errors import TvillingError
from tvilling.ports.commands import CommandOutcome, CommandRequest, CommandSendError, OutcomeCallback

log = logging.getLogger(__name__)

Connector = Callable[[OpcuaSettings], Awaitable[Client]]


def _status_text(code: int) -> str:
    name, doc = get_name_and_doc(code)
    return f"{name}: {doc}" if doc else name


class OpcuaCommandTransport:
    def __init__(self, settings: OpcuaSettings, connect: Connector = open_client, *,
                 on_refused: Callable[[OpcuaSecurityError], None] | None = None) -> None:
        self.settings = settings
        self._connect = connect
        self.on_refused = on_refused  # once per session attempt refused for its security (a security event, S-12)
        self._client: Client | None = None
        self._lock = asyncio.Lock()
        self._ns: dict[str, int] = {}
        self._on_outcome: OutcomeCallback | None = None

    @property
    def name(self) -> str:
        return "opcua"

    async def start(self, on_outcome: OutcomeCallback) -> None:
        self._on_outcome = on_outcome  # answers come back from send(); kept for the protocol's sake
        try:
            await self._session()
        except CommandSendError as exc:  # not fatal: the next send() retries the connection
            log.warning("command transport: %s", exc.message)

    async def close(self) -> None:
        if self._client is not None:
            try:
                await self._client.disconnect()
            except Exception:  # closing on the way out; the server drops the session anyway
                log.debug("OPC UA disconnect failed", exc_info=True)
            self._client = None

    async def _session(self) -> Client:
        async with self._lock:
            if self._client is None:
                try:
                    self._client = await self._connect(self.settings)
                except (TimeoutError, OSError, UaError, TvillingError) as exc:
                    if isinstance(exc, OpcuaSecurityError) and self.on_refused is not None:
                        self.on_refused(exc)
                    raise CommandSendError(f"cannot open an OPC UA session to {self.settings.url}: "
                                           f"{getattr(exc, 'message', None) or exc!r}") from exc
                self._ns.clear()
            return self._client

    async def _node_id(self, client: Client, text: str) -> ua.NodeId:
        if text.startswith("nsu="):
            uri, _, rest = text[4:].partition(";")
            if uri not in self._ns:
                try:
                    self._ns[uri] = await client.get_namespace_index(uri)
                except ValueError as exc:
                    raise CommandSendError(f"the OPC UA server has no namespace {uri}") from exc
            text = f"ns={self._ns[uri]};{rest}"
        try:
            return ua.NodeId.from_string(text)
        except (ValueError, UaError) as exc:
            raise CommandSendError(f"not a NodeId: {text!r}") from exc

    async def ready(self, request: CommandRequest) -> None:
        await self._session()

    async def send(self, request: CommandRequest) -> CommandOutcome | None:
        client = self._client  # opened by ready(); a session lost since then fails the command rather than wait
        if client is None:
            raise CommandSendError(f"no OPC UA session to {self.settings.url} (lost after the command's last check)")
        target = request.target
        try:
            if target.kind == "write":
                return await self._write(client, request)
            if target.kind == "call":
                return await self._call(client, request)
        except (TimeoutError, OSError, ConnectionError) as exc:
            await self.close()  # reconnect on the next command
            raise CommandSendError(f"OPC UA {target.kind} on {target.address} did not complete: {exc!r}") from exc
        raise CommandSendError(f"unknown OPC UA command kind {target.kind!r} (write or call)")

    async def _write(self, client: Client, request: CommandRequest) -> CommandOutcome:
        node_id = await self._node_id(client, request.target.address)
        variant_name = request.target.options.get("variant")
        if variant_name is not None:
            vtype = getattr(ua.VariantType, str(variant_name), None)
            if vtype is None:
                raise CommandSendError(f"unknown OPC UA variant type {variant_name!r}")
        else:
            vtype = await client.get_node(node_id).read_data_type_as_variant_type()
        value: Any = request.value
        if vtype in (ua.VariantType.Double, ua.VariantType.Float) and isinstance(value, int):
            value = float(value)
        wv = ua.WriteValue(NodeId=node_id, AttributeId=AttributeIds.Value,
                           Value=ua.DataValue(ua.Variant(value, vtype)))
        params = ua.WriteParameters(NodesToWrite=[wv])
        status = (await client.uaclient.write(params))[0]
        detail = {"status": get_name_and_doc(status.value)[0], "nodeId": request.target.address}
        if status.is_good():
            return CommandOutcome(request.command_id, "acked", "", detail)
        return CommandOutcome(request.command_id, "failed", _status_text(status.value), detail)

    async def _call(self, client: Client, request: CommandRequest) -> CommandOutcome:
        object_id = await self._node_id(client, request.target.address)
        method_id = await self._node_id(client, request.target.device_command)
        variant_name = request.target.options.get("variant")
        vtype = getattr(ua.VariantType, str(variant_name), None) if variant_name is not None else None
        if variant_name is not None and vtype is None:
            raise CommandSendError(f"unknown OPC UA variant type {variant_name!r}")
        args = [] if request.value is None else [ua.Variant(request.value, vtype) if vtype else _variant(request.value)]
        req = ua.CallMethodRequest(ObjectId=object_id, MethodId=method_id, InputArguments=args)
        result = (await client.uaclient.call([req]))[0]
        outputs = [v.Value for v in (result.OutputArguments or [])]
        detail: dict[str, Any] = {"status": get_name_and_doc(result.StatusCode.value)[0],
                                  "method": request.target.device_command}
        if outputs:
            detail["outputs"] = [o if isinstance(o, str | int | float | bool) else repr(o) for o in outputs]
        if result.StatusCode.is_good():
            return CommandOutcome(request.command_id, "acked", "", detail)
        text = next((o for o in outputs if isinstance(o, str) and o), "")
        reason = _status_text(result.StatusCode.value) + (f" ({text})" if text else "")
        return CommandOutcome(request.command_id, "failed", reason, detail)


def _variant(value: Any) -> ua.Variant:
    if isinstance(value, bool):
        return ua.Variant(value, ua.VariantType.Boolean)
    if isinstance(value, int):
        return ua.Variant(float(value), ua.VariantType.Double)  # DTDL numbers: the PLC's methods take Double
    if isinstance(value, float):
        return ua.Variant(value, ua.VariantType.Double)
    if isinstance(value, str):
        return ua.Variant(value, ua.VariantType.String)
    raise CommandSendError(f"an OPC UA method argument must be a number, boolean or string, not "
                           f"{type(value).__name__}")
