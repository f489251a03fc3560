"""The command-transport contract: how the platform hands a command to a device and hears back.

One transport per technology (``mqtt``, ``opcua``, ``sparkplug``, ...). The application service
(:mod:`tvilling.app.commands`) owns the command's state machine and persistence; a transport only moves bytes:

1. ``await transport.start(on_outcome)`` once. ``send`` may already be called while ``start`` is still connecting
   (the service registers the transport first, so the API does not answer 503 during start-up): wait for the
   connection, bounded by the request's ``expires_at``, or raise ``CommandSendError``. ``on_outcome`` is how
   asynchronous answers (an MQTT ack, a Sparkplug DCMD echo, ...) reach the service; the transport may call it from
   its own task at any time, also for commands it no longer remembers (late acks are recorded, never revive an
   expired command).
2. ``await transport.send(request)`` returns once the command has left the platform — MQTT: PUBACK received for
   QoS 1; OPC UA: write/call issued. It returns ``None`` when the answer comes later through ``on_outcome``, or a
   :class:`CommandOutcome` when the device answered in the same round trip (an OPC UA write's StatusCode, a method
   call's result). It raises :class:`CommandSendError` (reason in the message) when the command could not be sent
   at all (broker unreachable, address unknown) — the service marks the command ``failed`` with that reason.
3. ``await transport.close()`` on shutdown.

``CommandTarget`` is the resolved mapping entry (data, from the site package's ``commands.yaml``); the value in
``CommandRequest`` is already scaled to device units. Nothing here reads a clock or does I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from tvilling.core.errors import TvillingError

OutcomeStatus = Literal["acked", "failed"]


class CommandSendError(TvillingError):
    """The transport could not hand the command to the device path; ``message`` is the reason."""


@dataclass(frozen=True, slots=True)
class CommandTarget:
    """Where and how one (twin, DTDL command) goes out.

    ``transport`` selects the transport by its ``name``. Meaning of ``address`` / ``device_command`` / ``kind``:

    ========== ======================================= ================================ ====================
    transport  address                                 device_command                   kind
    ========== ======================================= ================================ ====================
    mqtt       command topic (``plant/pump-1/commands``) ``command`` field on the wire   ``publish``
    opcua      NodeId of the variable (write) or of     method NodeId (call) or ``""``    ``write`` | ``call``
               the object owning the method (call)
    sparkplug  ``group/edge_node/device`` (device may   metric name in the DCMD          ``dcmd``
               be empty for an NCMD)
    ========== ======================================= ================================ ====================

    ``options`` holds transport-specific extras (e.g. ``{"variant": "Double"}`` for OPC UA, ``{"datatype":
    "Float"}`` for Sparkplug); transports ignore keys they do not know.
    """

    transport: str
    address: str
    device_command: str = ""
    kind: str = "publish"
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CommandRequest:
    command_id: str
    tenant: str
    twin_id: str
    name: str  # the DTDL command name
    value: Any  # request payload, already scaled to device units; None for a command without request
    target: CommandTarget
    expires_at: datetime  # the device should ignore it afterwards (MQTT 5 message expiry, when supported)
    lease_s: float | None = None  # a supervisory lease: the device keeps the value only while ``holder`` renews
    holder: str = ""  # who holds the lease (the requester); renewals name it


@dataclass(frozen=True, slots=True)
class CommandOutcome:
    """A device's answer. ``detail`` carries what the device said (applied value, applied_at, status code)."""

    command_id: str
    status: OutcomeStatus
    reason: str = ""
    detail: Mapping[str, Any] = field(default_factory=dict)


OutcomeCallback = Callable[[CommandOutcome], Coroutine[Any, Any, None]]


class CommandTransport(Protocol):
    @property
    def name(self) -> str:
        """The ``transport`` value of the targets this transport carries (``mqtt``, ``opcua``, ``sparkplug``)."""
        ...

    async def start(self, on_outcome: OutcomeCallback) -> None: ...

    async def ready(self, request: CommandRequest) -> None:
        """Wait until ``request`` could go out at once (connected, session open), never past its deadline; raise
        :class:`CommandSendError` if it cannot. Called *before* the command's last check, so that ``send`` — after
        it — never waits for a connection (a kill switch engaged meanwhile must not be overtaken)."""
        ...

    async def send(self, request: CommandRequest) -> CommandOutcome | None:
        """Send now; raise :class:`CommandSendError` rather than wait for a connection (see ``ready``)."""
        ...

    async def close(self) -> None: ...


class LeaseCarrier(Protocol):
    """A transport that can carry supervisory leases (reliability C-13): a command sent with ``lease_s`` holds its
    point only while ``holder`` renews the lease; the device falls back to its local value when renewals stop.
    Transports without it refuse commands with a lease (the command service checks ``renew_lease`` exists)."""

    async def renew_lease(self, target: CommandTarget, holder: str, lease_s: float) -> None:
        """Extend ``holder``'s leases on the device of ``target`` by ``lease_s`` seconds from now; ``0`` releases
        them (the device falls back at once). Raises :class:`CommandSendError` when it could not be sent."""
        ...
