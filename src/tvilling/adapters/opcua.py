"""OPC UA client source (asyncua): secure connect, data-change subscriptions, browse, reconnect with backoff.

Security (reliability G8, S-12): the configured mode is a floor, never a wish. Before a secure session is opened
the server's endpoints are listed and, if none offers the configured mode with Basic256Sha256, the connection is
refused with :class:`OpcuaSecurityError`; there is no fall-back to a weaker mode. A pinned server certificate, when
configured, must match the endpoint's certificate exactly.

Each data change becomes an :class:`OpcuaSample` carrying the raw variant (value, variant type, array flag) and the
source StatusCode by name, so the platform side can map the status to a quality and check the type against the
mapping without importing asyncua.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from asyncua import ua
from asyncua.client.client import Client, _first_cert_from_chain
from asyncua.crypto.security_policies import SecurityPolicyBasic256Sha256
from asyncua.ua.attribute_ids import AttributeIds
from asyncua.ua.uaerrors import UaStatusCodeError
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from tvilling.core.errors import ConfigurationError, TvillingError

log = logging.getLogger(__name__)

SECURITY_MODES = ("None", "Sign", "SignAndEncrypt")
_MODES = {"None": ua.MessageSecurityMode.None_, "Sign": ua.MessageSecurityMode.Sign,
          "SignAndEncrypt": ua.MessageSecurityMode.SignAndEncrypt}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EVERY_SAMPLE = ua.DataChangeFilter(Trigger=ua.DataChangeTrigger.StatusValueTimestamp)


class OpcuaSecurityError(TvillingError):
    """The server cannot give the configured security (no downgrade) or its certificate is not the pinned one."""


@dataclass(frozen=True)
class OpcuaSettings:
    url: str
    node_ids: Sequence[str] = ()
    security: str = "SignAndEncrypt"  # secure by default (G8)
    certificate: Path | None = None  # client certificate (DER or PEM); its URI must equal application_uri
    private_key: Path | None = None
    server_certificate: Path | None = None  # pinned; unset = the certificate the endpoint presents
    application_uri: str = "urn:tvilling:ingest"
    publishing_interval_ms: float = 100.0
    queue_size: int = 100  # per monitored item: samples kept between two publishes
    timeout_s: float = 4.0
    backoff_min_s: float = 0.5
    backoff_max_s: float = 30.0

    def __post_init__(self) -> None:
        if self.security not in SECURITY_MODES:
            raise ConfigurationError(f"opcua_security must be one of {list(SECURITY_MODES)}, got {self.security!r}")
        if self.security != "None" and (self.certificate is None or self.private_key is None):
            raise ConfigurationError(f"OPC UA security {self.security} needs a client certificate and private key",
                                     hint="set opcua_certificate and opcua_private_key")


@dataclass(frozen=True, slots=True)
class OpcuaSample:
    node_id: str
    value: Any
    variant_type: str  # ua.VariantType name: "Double", "Null", ...
    is_array: bool
    status: str  # StatusCode name: "Good", "BadSensorFailure", "UncertainLastUsableValue", ...
    severity: str  # "good" | "uncertain" | "bad" (the StatusCode's two top bits)
    source_time_us: int | None


def status_severity(code: int) -> str:
    top = (code >> 30) & 0b11
    return "good" if top == 0 else "uncertain" if top == 1 else "bad"


def status_name(code: int) -> str:
    try:
        return ua.status_codes.get_name_and_doc(code)[0]
    except KeyError:
        return f"0x{code:08X}"


def _time_us(ts: datetime | None) -> int | None:
    if ts is None:
        return None
    if ts.tzinfo is None:  # asyncua hands out naive UTC datetimes
        ts = ts.replace(tzinfo=UTC)
    d = ts - _EPOCH
    return (d.days * 86_400 + d.seconds) * 1_000_000 + d.microseconds


def sample_from_datavalue(node_id: str, dv: ua.DataValue) -> OpcuaSample:
    variant = dv.Value
    code = dv.StatusCode.value if dv.StatusCode is not None else 0
    vtype = variant.VariantType.name if variant is not None else "Null"
    value = variant.Value if variant is not None else None
    is_array = isinstance(value, list | tuple) or bool(variant is not None and variant.is_array)
    return OpcuaSample(node_id, value, vtype, is_array, status_name(code), status_severity(code),
                       _time_us(dv.SourceTimestamp) or _time_us(dv.ServerTimestamp))


async def offered_security(url: str, timeout_s: float = 4.0) -> list[tuple[str, str]]:
    """(mode, policy URI) of every opc.tcp endpoint the server lists (read over an unsecured discovery channel)."""
    probe = Client(url, timeout=timeout_s)
    endpoints = await probe.connect_and_get_server_endpoints()
    return [(ep.SecurityMode.name.rstrip("_"), ep.SecurityPolicyUri) for ep in endpoints
            if ep.EndpointUrl.startswith(ua.OPC_TCP_SCHEME)]


async def open_client(settings: OpcuaSettings) -> Client:
    """A connected client at exactly the configured security, or :class:`OpcuaSecurityError` (never a downgrade)."""
    client = Client(settings.url, timeout=settings.timeout_s)
    client.application_uri = settings.application_uri
    if settings.security != "None":
        mode = _MODES[settings.security]
        probe = Client(settings.url, timeout=settings.timeout_s)
        endpoints = await probe.connect_and_get_server_endpoints()
        match = [ep for ep in endpoints if ep.SecurityMode == mode
                 and ep.SecurityPolicyUri == SecurityPolicyBasic256Sha256.URI
                 and ep.EndpointUrl.startswith(ua.OPC_TCP_SCHEME)]
        if not match:
            offered = sorted({f"{ep.SecurityMode.name.rstrip('_')}/{ep.SecurityPolicyUri.rsplit('#', 1)[-1]}"
                              for ep in endpoints})
            raise OpcuaSecurityError(
                f"OPC UA server {settings.url} does not offer {settings.security}/Basic256Sha256 "
                f"(offers {', '.join(offered) or 'nothing'}); refusing to connect (no downgrade)",
                hint="configure the server for the required security mode")
        server_der: bytes = match[0].ServerCertificate
        _check_server_certificate(settings.url, server_der, match[0].Server.ApplicationUri)
        if settings.server_certificate is not None:
            pinned = _der(settings.server_certificate.read_bytes())
            if _first_cert_from_chain(server_der) != pinned:
                raise OpcuaSecurityError(f"OPC UA server {settings.url} presents a certificate that is not the "
                                         "pinned one; refusing to connect", hint="check opcua_server_certificate")
        assert settings.certificate is not None and settings.private_key is not None  # checked in __post_init__
        await client.set_security(SecurityPolicyBasic256Sha256, certificate=str(settings.certificate),
                                  private_key=str(settings.private_key),
                                  server_certificate=(str(settings.server_certificate)
                                                      if settings.server_certificate else None), mode=mode)
    try:
        await client.connect()
    except UaStatusCodeError as exc:
        name = type(exc).__name__
        if name.startswith(("BadCertificate", "BadSecurity", "BadIdentity")):
            # The server rejected our certificate (not trusted, wrong URI, ...): a security event (S-12).
            raise OpcuaSecurityError(f"OPC UA server {settings.url} refused the client certificate ({name})",
                                     hint="add the client certificate to the server's trust list") from exc
        raise
    return client


def _check_server_certificate(url: str, der: bytes, app_uri: str | None) -> None:
    """Refuse an expired (or not yet valid) server certificate, or one whose URI is not the server's (S-12)."""
    cert = x509.load_der_x509_certificate(_first_cert_from_chain(der))  # a chain starts with the leaf
    now = datetime.now(UTC)
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        raise OpcuaSecurityError(f"OPC UA server {url} presents a certificate valid only from "
                                 f"{cert.not_valid_before_utc:%Y-%m-%d} to {cert.not_valid_after_utc:%Y-%m-%d}; "
                                 "refusing to connect")
    try:
        uris = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
            x509.UniformResourceIdentifier)
    except x509.ExtensionNotFound:
        uris = []
    if app_uri and app_uri not in uris:
        raise OpcuaSecurityError(f"OPC UA server {url} certificate URI {uris} does not match its application URI "
                                 f"{app_uri!r}; refusing to connect")


def _der(data: bytes) -> bytes:
    if data.lstrip().startswith(b"-----BEGIN"):
        return x509.load_pem_x509_certificate(data).public_bytes(Encoding.DER)
    return data


async def browse_variables(client: Client, node_id: str = "i=85", max_depth: int = 6) -> list[tuple[str, str]]:
    """(NodeId string, browse name) of every Variable under ``node_id`` (default: the Objects folder)."""
    out: list[tuple[str, str]] = []

    async def walk(node: Any, depth: int) -> None:
        for child in await node.get_children():
            cls = await child.read_node_class()
            if cls == ua.NodeClass.Variable:
                out.append((child.nodeid.to_string(), (await child.read_browse_name()).Name))
            elif cls == ua.NodeClass.Object and depth < max_depth:
                await walk(child, depth + 1)

    await walk(client.get_node(ua.NodeId.from_string(node_id)), 0)
    return out


class _Handler:
    def __init__(self, on_samples: Callable[[list[OpcuaSample]], None]) -> None:
        self.on_samples = on_samples

    def datachange_notification(self, node: Any, val: Any, data: Any) -> None:
        dv = data.monitored_item.Value
        try:
            self.on_samples([sample_from_datavalue(node.nodeid.to_string(), dv)])
        except Exception:  # a consumer failure must not kill asyncua's subscription loop
            log.exception("OPC UA sample handler failed")

    def status_change_notification(self, status: Any) -> None:
        log.warning("OPC UA subscription status changed: %s", status)


@dataclass
class OpcuaSource:
    """Keeps one subscription alive: connect -> subscribe -> watch; on loss, reconnect with capped backoff."""

    settings: OpcuaSettings
    on_samples: Callable[[list[OpcuaSample]], None]
    # called once per connection attempt refused for its security (the platform counts it in its audit trail)
    on_refused: Callable[[OpcuaSecurityError], None] | None = None
    connected: bool = False
    connects: int = 0
    failures: int = 0
    last_error: str = ""

    def __post_init__(self) -> None:
        self._ready = asyncio.Event()

    async def wait_connected(self, timeout_s: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ready.wait(), timeout_s)
        return self._ready.is_set()

    async def run(self) -> None:
        delay = self.settings.backoff_min_s
        while True:
            client: Client | None = None
            try:
                client = await open_client(self.settings)
                sub = await client.create_subscription(self.settings.publishing_interval_ms, _Handler(self.on_samples))
                nodes = [client.get_node(ua.NodeId.from_string(n)) for n in self.settings.node_ids]
                if nodes:
                    # Trigger on source timestamp too, with a queue: every sample the server takes is history
                    # (the default StatusValue trigger drops repeats, which would hide a stuck sensor, Q-04).
                    await sub._subscribe(nodes, AttributeIds.Value, _EVERY_SAMPLE,
                                         queuesize=self.settings.queue_size)
                self.connected, self.connects = True, self.connects + 1
                self._ready.set()
                delay = self.settings.backoff_min_s
                log.info("OPC UA subscribed to %d node(s) at %s (%s)", len(nodes), self.settings.url,
                         self.settings.security)
                while True:
                    await asyncio.sleep(1.0)
                    await client.check_connection()
            except asyncio.CancelledError:
                raise
            except OpcuaSecurityError as exc:
                self.failures += 1
                self.last_error = exc.message
                # A security refusal is a security event (S-12) and is retried no faster than the backoff.
                log.error("security: %s", exc.message)
                if self.on_refused is not None:
                    self.on_refused(exc)
            except Exception as exc:  # network, server or protocol failures: reconnect with backoff
                self.failures += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("OPC UA connection to %s failed or lost (%s); retrying in %.1f s", self.settings.url,
                            self.last_error, delay)
            finally:
                self.connected = False
                self._ready.clear()
                if client is not None:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(client.disconnect(), self.settings.timeout_s)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.settings.backoff_max_s)
