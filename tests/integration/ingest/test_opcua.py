"""OPC UA ingestion against a real in-process asyncua server (loopback, SignAndEncrypt only): B-07 and S-12 (every
refused connection counted in the security audit trail, S-15)."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import socket
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from asyncua import ua
from asyncua.crypto.cert_gen import (
    dump_private_key_as_pem,
    generate_private_key,
    generate_self_signed_app_certificate,
)
from asyncua.crypto.truststore import TrustStore
from asyncua.crypto.validator import CertificateValidator, CertificateValidatorOptions
from asyncua.server.server import Server
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID

from tests.support import dtdl_samples
from tests.support.platform import api_rig
from tests.support.security import denials, security_records
from tvilling.adapters.opcua import OpcuaSecurityError, OpcuaSettings, OpcuaSource, browse_variables, open_client
from tvilling.adapters.opcua_commands import OpcuaCommandTransport
from tvilling.adapters.sql import schema
from tvilling.adapters.sql.timeseries import TimeSeriesStore, connect_durable
from tvilling.app.ingest import IngestPipeline
from tvilling.app.ingest_opcua import OpcuaIngestService, node_ids
from tvilling.app.security_audit import SECURITY_TENANT, Denial
from tvilling.app.security_events import opcua_refusals
from tvilling.ports.commands import CommandSendError
from tvilling.quality.mapping import parse_mappings

CLIENT_URI = "urn:tvilling:ingest"
SERVER_URI = "urn:tvilling:test-plc"
PAUSE = 0.12  # > 2 publishing intervals: every write is its own notification (monitored item queue size 1)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _make_cert(d: Path, name: str, uri: str, usage: x509.ObjectIdentifier) -> tuple[Path, Path]:
    key = generate_private_key()
    cert = generate_self_signed_app_certificate(
        key, name, {}, [x509.UniformResourceIdentifier(uri), x509.DNSName("localhost"),
                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))], [usage], days=2)
    d.mkdir(parents=True, exist_ok=True)
    (d.parent / "keys").mkdir(exist_ok=True)  # the trust directory must hold certificates only
    cert_path, key_path = d / f"{name}.der", d.parent / "keys" / f"{name}.pem"
    cert_path.write_bytes(cert.public_bytes(Encoding.DER))
    key_path.write_bytes(dump_private_key_as_pem(key))
    return cert_path, key_path


@dataclass
class Plc:
    server: Server
    url: str
    nodes: dict[str, Any]
    client_cert: Path
    client_key: Path
    server_cert: Path


async def _start_server(tmp: Path, policy: ua.SecurityPolicyType, trust_client: bool = True) -> Plc:
    client_cert, client_key = _make_cert(tmp / "client", "tvilling-ingest", CLIENT_URI, ExtendedKeyUsageOID.CLIENT_AUTH)
    server_cert, server_key = _make_cert(tmp / "server", "test-plc", SERVER_URI, ExtendedKeyUsageOID.SERVER_AUTH)
    url = f"opc.tcp://127.0.0.1:{_free_port()}/tvilling/"
    server = Server()
    await server.init()
    server.set_endpoint(url)
    await server.set_application_uri(SERVER_URI)
    server.set_security_policy([policy])
    await server.load_certificate(str(server_cert))
    await server.load_private_key(str(server_key))
    if trust_client and policy != ua.SecurityPolicyType.NoSecurity:
        store = TrustStore([tmp / "client"], [])
        await store.load()
        server.set_certificate_validator(CertificateValidator(
            CertificateValidatorOptions.TRUSTED_VALIDATION | CertificateValidatorOptions.PEER_CLIENT, store))
    ns = await server.register_namespace("urn:tvilling:test")
    line = await server.nodes.objects.add_object(ua.NodeId("Line1", ns), "Line1")
    nodes = {
        "speed": await line.add_variable(ua.NodeId("Line1.Speed", ns), "Speed", 0.0, ua.VariantType.Double),
        "count": await line.add_variable(ua.NodeId("Line1.Count", ns), "Count", 0, ua.VariantType.Int32),
        "state": await line.add_variable(ua.NodeId("Line1.State", ns), "State", "idle", ua.VariantType.String),
    }
    # A misbehaving server (B-07): nodes whose value is a Null variant; with DataType Number the server accepts
    # any variant type on the first write, which lets the test send a String and an array for a Double point.
    number = ua.NodeId(ua.ObjectIds.Number)
    for key in ("null", "text", "vector"):
        nodes[key] = await line.add_variable(ua.NodeId(f"Line1.{key}", ns), key, ua.Variant(None, ua.VariantType.Null),
                                             datatype=number)
    await server.start()
    return Plc(server, url, nodes, client_cert, client_key, server_cert)


@pytest.fixture
async def plc(tmp_path: Path) -> AsyncIterator[Plc]:
    p = await _start_server(tmp_path, ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt)
    try:
        yield p
    finally:
        await p.server.stop()


def _store(tmp: Path) -> tuple[Any, TimeSeriesStore]:
    eng = connect_durable(f"sqlite:///{tmp / 'h.db'}")
    schema.metadata.create_all(eng)
    with eng.begin() as c:
        c.execute(sa.insert(schema.twins).values(tenant="default", id="line-1", model_id="dtmi:x;1", contents={},
                                                 meta={}, etag="e", version=1, last_update_time=datetime.now(UTC)))
    return eng, TimeSeriesStore(eng)


async def _write(plc: Plc, key: str, variant: ua.Variant, status: int = ua.StatusCodes.Good,
                 ts: datetime | None = None) -> None:
    dv = ua.DataValue(variant, StatusCode=ua.StatusCode(status), SourceTimestamp=ts or datetime.now(UTC),
                      ServerTimestamp=datetime.now(UTC))
    await plc.server.write_attribute_value(plc.nodes[key].nodeid, dv)
    await asyncio.sleep(PAUSE)


async def test_opcua_secure_subscription_quality_and_types(plc: Plc, tmp_path: Path) -> None:
    ids = {k: n.nodeid.to_string() for k, n in plc.nodes.items()}
    mappings = parse_mappings({"mappings": [
        {"node_id": ids["speed"], "twin": "line-1", "property": "line_speed", "unit": "m/s",
         "instrument_range": [0, 10]},
        {"node_id": ids["count"], "twin": "line-1", "property": "count", "type": "integer"},
        {"node_id": ids["state"], "twin": "line-1", "property": "state", "type": "string"},
        *({"node_id": ids[k], "twin": "line-1", "property": k} for k in ("null", "text", "vector")),
    ]})
    assert sorted(node_ids(mappings)) == sorted(ids.values())
    eng, store = _store(tmp_path)
    pipeline = IngestPipeline(store, mappings)
    pipeline.start()
    settings = OpcuaSettings(url=plc.url, node_ids=tuple(node_ids(mappings)), security="SignAndEncrypt",
                             certificate=plc.client_cert, private_key=plc.client_key,
                             server_certificate=plc.server_cert, application_uri=CLIENT_URI,
                             publishing_interval_ms=50)
    service = OpcuaIngestService(pipeline, settings)
    service.start()
    try:
        assert await service.source.wait_connected(20), service.source.last_error
        await asyncio.sleep(0.3)  # the initial values (written before the test) arrive first
        base = datetime.now(UTC)
        good_speeds = [1.5, 2.0, 2.5, 3.0]
        for i, v in enumerate(good_speeds):
            await _write(plc, "speed", ua.Variant(v, ua.VariantType.Double), ts=base + timedelta(milliseconds=i))
        # Labelled source statuses (B-07): 3 Bad_SensorFailure, 3 Uncertain_LastUsableValue.
        for i in range(3):
            await _write(plc, "speed", ua.Variant(5.0 + i, ua.VariantType.Double), ua.StatusCodes.BadSensorFailure,
                         ts=base + timedelta(milliseconds=10 + 2 * i))
            await _write(plc, "speed", ua.Variant(4.0 + i, ua.VariantType.Double),
                         ua.StatusCodes.UncertainLastUsableValue, ts=base + timedelta(milliseconds=11 + 2 * i))
        # Wrong types (B-07): each Null node has already sent its initial Null variant; now a String and an array
        # arrive for scalar Double points.
        await _write(plc, "text", ua.Variant("fast", ua.VariantType.String), ts=base + timedelta(milliseconds=20))
        await _write(plc, "vector", ua.Variant([1.0, 2.0], ua.VariantType.Double),
                     ts=base + timedelta(milliseconds=22))
        await _write(plc, "speed", ua.Variant(3.25, ua.VariantType.Double), ts=base + timedelta(milliseconds=30))
        await _write(plc, "count", ua.Variant(42, ua.VariantType.Int32), ts=base + timedelta(milliseconds=31))
        await _write(plc, "state", ua.Variant("running", ua.VariantType.String),
                     ts=base + timedelta(milliseconds=32))
        await asyncio.sleep(0.3)
        # browse helper: the three variables under Line1 are listed over the secure session
        client = await open_client(settings)
        try:
            found = dict(await browse_variables(client, plc.nodes["speed"].nodeid.to_string().replace(
                "Line1.Speed", "Line1")))
        finally:
            await client.disconnect()
        assert set(found) == set(ids.values()) and found[ids["speed"]] == "Speed"
    finally:
        await service.stop()
        await pipeline.stop()

    base_us = int(base.timestamp() * 1_000_000) - 1000
    hist = store.history("default", "line-1", "line_speed", base_us, 2**62, limit=1000)
    good = [h["value"] for h in hist if h["quality"] == "good"]
    assert good == [*good_speeds, 3.25]
    uncertain = [h for h in hist if h["quality"] == "uncertain"]
    assert [h["value"] for h in uncertain] == [4.0, 5.0, 6.0]  # 100 % of the Uncertain statuses preserved
    assert all(h["reason"] == "source_status" and h["original"]["status"] == "UncertainLastUsableValue"
               for h in uncertain)
    assert len(hist) == 8  # no Bad and no wrong-typed value reached history
    quarantined = store.quarantined("default", limit=1000)
    status_q = [q for q in quarantined if q["reason"] == "source_status"]
    assert len(status_q) == 3 and all("BadSensorFailure" in json.dumps(q) for q in status_q)
    wrong = Counter(q["address"] for q in quarantined if q["reason"] == "wrong_type")
    assert wrong == {ids["null"]: 1, ids["text"]: 2, ids["vector"]: 2}  # initial Null + the one bad write
    details = " ".join(str(q["detail"]) for q in quarantined if q["reason"] == "wrong_type")
    assert "String variant" in details and "array variant" in details and "Null variant" in details
    assert len(quarantined) == 3 + 5
    with eng.connect() as c:
        contents, meta = c.execute(sa.select(schema.twins.c.contents, schema.twins.c.meta)).one()
    assert contents["line_speed"] == 3.25 and meta["line_speed"]["quality"] == "good"
    assert contents["count"] == 42 and contents["state"] == "running"


async def test_signandencrypt_client_refuses_server_offering_only_none(tmp_path: Path) -> None:
    plc = await _start_server(tmp_path, ua.SecurityPolicyType.NoSecurity)
    try:
        settings = OpcuaSettings(url=plc.url, node_ids=(plc.nodes["speed"].nodeid.to_string(),),
                                 security="SignAndEncrypt", certificate=plc.client_cert, private_key=plc.client_key,
                                 application_uri=CLIENT_URI, backoff_min_s=0.2, backoff_max_s=0.4)
        with pytest.raises(OpcuaSecurityError, match="no downgrade"):
            await open_client(settings)
        # The long-running source keeps refusing, no faster than its backoff, and never delivers a sample.
        got: list[Any] = []
        source = OpcuaSource(settings, got.extend)
        loop = asyncio.get_running_loop()
        started = loop.time()
        task = asyncio.create_task(source.run())
        while source.failures < 3 and loop.time() - started < 20:
            await asyncio.sleep(0.02)
        elapsed = loop.time() - started
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        assert source.connects == 0 and got == [] and source.failures >= 3
        assert elapsed >= 0.2 + 0.4  # the two back-off sleeps between the three refusals
        assert "no downgrade" in source.last_error
    finally:
        await plc.server.stop()


async def test_certificate_problems_are_security_refusals(plc: Plc, tmp_path: Path) -> None:
    stranger_cert, stranger_key = _make_cert(tmp_path / "stranger", "stranger", CLIENT_URI,
                                             ExtendedKeyUsageOID.CLIENT_AUTH)
    other_server, _ = _make_cert(tmp_path / "other", "other-plc", SERVER_URI, ExtendedKeyUsageOID.SERVER_AUTH)
    cases = {
        "refused the client certificate (BadCertificateUntrusted)": OpcuaSettings(
            url=plc.url, certificate=stranger_cert, private_key=stranger_key, application_uri=CLIENT_URI),
        "not the pinned one": OpcuaSettings(
            url=plc.url, certificate=plc.client_cert, private_key=plc.client_key, application_uri=CLIENT_URI,
            server_certificate=other_server),
        "(BadCertificateUriInvalid)": OpcuaSettings(
            url=plc.url, certificate=plc.client_cert, private_key=plc.client_key, application_uri="urn:someone-else"),
    }
    for expected, settings in cases.items():
        with pytest.raises(OpcuaSecurityError) as info:
            await open_client(settings)
        assert expected in info.value.message


@contextmanager
def plc_beside_the_platform(tmp: Path, policy: ua.SecurityPolicyType) -> Iterator[tuple[Plc, Callable[[Any], Any],
                                                                                       Path]]:
    """A PLC on an event loop of its own (the platform's API rig runs another), a way to run coroutines on that
    loop, and a mapping file (tenant acme) with its speed node as room1's temperature."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    def on_plc_loop(coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, loop).result(30)

    plc = on_plc_loop(_start_server(tmp, policy))
    mfile = tmp / "mappings.yaml"
    mfile.write_text(yaml.safe_dump({"tenant": "acme", "mappings": [
        {"node_id": plc.nodes["speed"].nodeid.to_string(), "twin": "room1", "property": "temperature",
         "unit": "degC"}]}))
    try:
        yield plc, on_plc_loop, mfile
    finally:
        on_plc_loop(plc.server.stop())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)


def test_server_ingests_from_opcua_when_configured(tmp_path: Path) -> None:
    """settings -> bootstrap BACKGROUND (run_opcua) -> pipeline -> twin state and history over the REST API."""
    with plc_beside_the_platform(tmp_path, ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt) as (
            plc, on_plc_loop, mfile), \
            api_rig(f"sqlite:///{tmp_path / 'p.db'}", mappings_file=mfile, opcua_url=plc.url,
                    opcua_security="SignAndEncrypt", opcua_certificate=plc.client_cert,
                    opcua_private_key=plc.client_key, opcua_server_certificate=plc.server_cert) as rig:
        assert rig.call("PUT", "/api/v1/twins/room1", json=dtdl_samples.room()).status_code in (200, 201)
        deadline = time.monotonic() + 30
        twin: dict[str, Any] = {}
        value = 30.0
        while time.monotonic() < deadline:  # the session may not be up yet: write again (a new value each time)
            value += 0.5
            on_plc_loop(_write(plc, "speed", ua.Variant(value, ua.VariantType.Double)))
            twin = rig.call("GET", "/api/v1/twins/room1").json()
            if twin["$metadata"].get("temperature", {}).get("sourceTime"):
                break
        assert 30.0 < twin["temperature"] <= value
        assert twin["$metadata"]["temperature"]["quality"] == "good"
        hist = rig.call("GET", "/api/v1/twins/room1/history/temperature").json()
        assert hist["items"] and all(h["quality"] == "good" for h in hist["items"])


def test_every_refused_connection_is_a_security_event(tmp_path: Path) -> None:
    """S-12 in the audit trail (S-15): the platform's OPC UA client, configured for SignAndEncrypt, meets a server
    that offers only None; every refused attempt (one per backoff step) is one count in the _security chain."""
    with plc_beside_the_platform(tmp_path, ua.SecurityPolicyType.NoSecurity) as (plc, _on_plc_loop, mfile), \
            api_rig(f"sqlite:///{tmp_path / 'p.db'}", seed_models=False, mappings_file=mfile, opcua_url=plc.url,
                    opcua_security="SignAndEncrypt", opcua_certificate=plc.client_cert,
                    opcua_private_key=plc.client_key) as rig:
        deadline = time.monotonic() + 20
        while getattr(getattr(rig.platform.app.state, "opcua", None), "source", OpcuaSource).failures < 2:
            assert time.monotonic() < deadline, "the OPC UA client never tried"
            time.sleep(0.05)
        source = rig.platform.app.state.opcua.source
        for _ in range(5):  # the next attempt is a backoff step (>= 1 s) away: read both sides between two
            time.sleep(0.1)
            before = source.failures
            records = security_records(rig.platform, SECURITY_TENANT)
            if source.failures == before:
                break
    assert source.connects == 0 and denials(records, "opcua.refused") == before == denials(records)
    record = records[0]
    assert record["actor"] == "system" and record["subject"] == "opcua/ingest"
    assert record["detail"]["source"] == plc.url and "no downgrade" in record["detail"]["reason"]


async def test_the_command_transport_counts_its_refusals_too(tmp_path: Path) -> None:
    plc = await _start_server(tmp_path, ua.SecurityPolicyType.NoSecurity)
    counted: list[tuple[Denial, int]] = []
    audit = SimpleNamespace(record=lambda denial, count=1: counted.append((denial, count)))
    settings = OpcuaSettings(url=plc.url, security="SignAndEncrypt", certificate=plc.client_cert,
                             private_key=plc.client_key, application_uri=CLIENT_URI)
    transport = OpcuaCommandTransport(settings, on_refused=opcua_refusals(audit, "commands", plc.url))  # type: ignore[arg-type]
    try:
        await transport.start(lambda _outcome: None)  # not fatal: logged, the next command tries again
        for _ in range(2):
            with pytest.raises(CommandSendError, match="no downgrade"):
                await transport.ready(None)  # type: ignore[arg-type]
    finally:
        await plc.server.stop()
    assert [(d.action, d.tenant, d.path, d.source, n) for d, n in counted] == [
        ("opcua.refused", SECURITY_TENANT, "opcua/commands", plc.url, 1)] * 3


class _Recorder:
    """A runner endpoint beside the PLC that keeps what line-1 published (the oracle)."""

    def __init__(self) -> None:
        self.throughput: list[float | None] = []

    def publish_readings(self, device: str, seq: int, source_ts: str, readings: list[Any]) -> None:
        if device == "line-1":
            self.throughput += [r.value for r in readings if r.name == "throughput"]

    def take_commands(self) -> list[Any]:
        return []

    def ack(self, cmd: Any, body: dict[str, Any]) -> None:
        return None


async def test_virtual_plant_line_plc_over_signandencrypt(tmp_path: Path) -> None:
    """Plant runner -> OPC UA PLC (SignAndEncrypt only) -> platform client -> history and twin state."""
    from tvilling.virtual_plant.opcua_plc import APPLICATION_URI, OpcuaPlc, PlcSettings
    from tvilling.virtual_plant.plant import Plant, PlantConfig
    from tvilling.virtual_plant.runner import run
    from tvilling.virtual_plant.sensors import SensorReading

    client_cert, client_key = _make_cert(tmp_path / "trusted", "tvilling-ingest", CLIENT_URI,
                                         ExtendedKeyUsageOID.CLIENT_AUTH)
    plc_cert, plc_key = _make_cert(tmp_path / "plc", "line-plc", APPLICATION_URI, ExtendedKeyUsageOID.SERVER_AUTH)
    plant = Plant(PlantConfig(seed=3, start=datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1),
                              faults=[]))
    plc = OpcuaPlc(plant, PlcSettings(port=_free_port(), certificate=plc_cert, private_key=plc_key,
                                      trust_dir=tmp_path / "trusted"))
    await asyncio.to_thread(plc.start)
    mappings = parse_mappings({"mappings": [
        {"node_id": plc.node_ids["throughput"], "twin": "line-1", "property": "throughput"},
        {"node_id": plc.node_ids["line_speed"], "twin": "line-1", "property": "line_speed"},
        {"node_id": plc.node_ids["state"], "twin": "line-1", "property": "state", "type": "string"},
    ]})
    eng, store = _store(tmp_path)
    pipeline = IngestPipeline(store, mappings)
    pipeline.start()
    service = OpcuaIngestService(pipeline, OpcuaSettings(
        url=plc.url, node_ids=tuple(node_ids(mappings)), certificate=client_cert, private_key=client_key,
        application_uri=CLIENT_URI, publishing_interval_ms=50))
    service.start()
    recorder = _Recorder()
    try:
        assert await service.source.wait_connected(20), service.source.last_error
        await asyncio.sleep(0.3)
        # 60 simulated s per step at 300x: a line-1 sample every 0.2 s of wall time, ~10 in all.
        await asyncio.to_thread(run, plant, [plc, recorder], speed=300.0, duration_s=2.0)
        await asyncio.sleep(0.3)
        failed_at = plant.now() + timedelta(seconds=1)
        await asyncio.to_thread(plc.publish_readings, "line-1", 0, "", [
            SensorReading("throughput", None, "1/min", failed_at)])  # the sensor fails: BadSensorFailure
        await asyncio.sleep(0.5)
    finally:
        await service.stop()
        await pipeline.stop()
        await asyncio.to_thread(plc.close)
    start_us = int(plant.config.start.timestamp() * 1_000_000) + 1
    hist = store.history("default", "line-1", "throughput", start_us, 2**62, limit=1000)
    published = [v for v in recorder.throughput if v is not None]
    assert len(published) >= 5
    assert [h["value"] for h in hist] == published and all(h["quality"] == "good" for h in hist)
    bad = [q for q in store.quarantined("default", limit=100) if q["reason"] == "source_status"]
    assert len(bad) == 1 and "BadSensorFailure" in json.dumps(bad[0])
    with eng.connect() as c:
        contents, meta = c.execute(sa.select(schema.twins.c.contents, schema.twins.c.meta)).one()
    assert contents["throughput"] == published[-1] and meta["throughput"]["quality"] == "good"
    assert contents["line_speed"] == plant.line.speed_command_bpm and contents["state"] == "running"
