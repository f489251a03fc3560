"""Sparkplug messages -> pipeline rows: mapped metrics go through the same quality rules as MQTT JSON, unmapped
devices are provisioned with their metric names and units, problems are quarantined and ask for a rebirth."""

from __future__ import annotations

import time
from collections.abc import Sequence

from tvilling.app.ingest_rows import Envelope, Rows
from tvilling.app.ingest_sparkplug import SparkplugIngest, twin_id_for
from tvilling.protocols.sparkplug import (
    BD_SEQ,
    DataType,
    DeviceKey,
    MessageType,
    Metric,
    MetricDef,
    Payload,
    Topic,
    encode_payload,
)
from tvilling.quality.mapping import MappingSet, parse_mappings
from tvilling.quality.rules import QualityEngine

NOW_MS = int(time.time() * 1000)
MAPPINGS = parse_mappings({"tenant": "acme", "mappings": [
    {"sparkplug": "site/edge/chiller", "metric": "Water/Supply", "twin": "chiller-1", "property": "supplyTemp",
     "unit": "degC", "instrument_range": [-20, 60]},
]})


class Recorder:
    def __init__(self) -> None:
        self.rebirths: list[DeviceKey] = []
        self.provisioned: list[tuple[str, str, DeviceKey, list[str]]] = []

    def rebirth(self, key: DeviceKey) -> None:
        self.rebirths.append(key)

    def provision(self, tenant: str, twin: str, key: DeviceKey, defs: Sequence[MetricDef]) -> None:
        self.provisioned.append((tenant, twin, key, [d.name for d in defs]))


def feed(ingest: SparkplugIngest, kind: MessageType, payload: Payload, device: str | None = None,
         mappings: MappingSet = MAPPINGS, engine: QualityEngine | None = None) -> Rows:
    rows = Rows()
    env = Envelope(source="sparkplug", address=str(Topic("site", kind, "edge", device)),
                   received_at_us=NOW_MS * 1000, payload=encode_payload(payload))
    ingest.build(env, "acme", mappings, engine or QualityEngine(), rows)
    return rows


def birth(ingest: SparkplugIngest, engine: QualityEngine) -> None:
    feed(ingest, MessageType.NBIRTH, Payload(metrics=(Metric(BD_SEQ, 1, DataType.INT64),), seq=0,
                                             timestamp_ms=NOW_MS), engine=engine)


def test_mapped_metrics_are_converted_and_assessed_like_any_reading() -> None:
    rec, engine = Recorder(), QualityEngine()
    ing = SparkplugIngest(request_rebirth=rec.rebirth, provision=rec.provision)
    birth(ing, engine)
    rows = feed(ing, MessageType.DBIRTH, Payload(metrics=(
        Metric("Water/Supply", 44.6, DataType.FLOAT, alias=1, properties={"engUnit": "degF"}, timestamp_ms=NOW_MS),
        Metric("Not mapped", 1.0, DataType.DOUBLE, alias=2)), seq=1), "chiller", engine=engine)
    assert [(s.twin_id, s.name, s.unit) for s in rows.samples] == [("chiller-1", "supplyTemp", "degC")]
    assert abs(rows.samples[0].value - 7.0) < 1e-4  # type: ignore[operator]  # 44.6 °F in °C
    assert not rows.quarantine and not rec.provisioned  # a mapped device is not provisioned
    # DDATA by alias; a value outside the instrument range is Bad and quarantined, exactly as for MQTT JSON.
    rows = feed(ing, MessageType.DDATA, Payload(metrics=(Metric(None, 500.0, DataType.FLOAT, alias=1,
                                                                timestamp_ms=NOW_MS + 1),), seq=2),
                "chiller", engine=engine)
    assert not rows.samples and [q.reason for q in rows.quarantine] == ["out_of_range"]
    assert rows.quarantine[0].twin_id == "chiller-1"
    # A null metric in DATA is a bad reading (non_finite), never history.
    rows = feed(ing, MessageType.DDATA, Payload(metrics=(Metric(None, None, alias=1, is_null=True),), seq=3),
                "chiller", engine=engine)
    assert [q.reason for q in rows.quarantine] == ["non_finite"]


def test_unmapped_devices_are_provisioned_with_metric_names_and_units_preserved() -> None:
    rec, engine = Recorder(), QualityEngine()
    ing = SparkplugIngest(request_rebirth=rec.rebirth, provision=rec.provision)
    birth(ing, engine)
    rows = feed(ing, MessageType.DBIRTH, Payload(metrics=(
        Metric("Motor/Speed", 1450.0, DataType.DOUBLE, alias=1, properties={"engUnit": "rpm"}),
        Metric("Running", True, DataType.BOOLEAN, alias=2),
        Metric("Device Control/Reboot", False, DataType.BOOLEAN, alias=3),
        Metric("Later", None, DataType.DOUBLE, alias=4, is_null=True)), seq=1, timestamp_ms=NOW_MS),
        "press-7", engine=engine)
    assert rec.provisioned == [("acme", "site.edge.press-7", DeviceKey("site", "edge", "press-7"),
                                ["Motor/Speed", "Running", "Later"])]
    assert {(s.twin_id, s.name, s.unit) for s in rows.samples} == {
        ("site.edge.press-7", "Motor/Speed", "rpm"), ("site.edge.press-7", "Running", None)}
    assert not rows.quarantine  # control metrics skipped; a null in a birth is "no value yet"
    feed(ing, MessageType.DBIRTH, Payload(metrics=(Metric("Motor/Speed", 1.0, DataType.DOUBLE),), seq=2),
         "press-7", engine=engine)
    assert len(rec.provisioned) == 1  # a rebirth does not provision again
    assert (ing.stats.births, ing.stats.provisioned, ing.stats.messages) == (3, 1, 3)
    assert twin_id_for(DeviceKey("g", "e")) == "g.e"


def test_without_provisioning_an_unmapped_device_is_quarantined_as_unmapped() -> None:
    rec, engine = Recorder(), QualityEngine()
    ing = SparkplugIngest(request_rebirth=rec.rebirth)
    birth(ing, engine)
    rows = feed(ing, MessageType.DBIRTH, Payload(metrics=(Metric("x", 1.0, DataType.DOUBLE),), seq=1), "other",
                engine=engine)
    assert not rows.samples and [q.reason for q in rows.quarantine] == ["unmapped"]


def test_data_before_birth_is_quarantined_with_its_payload_and_asks_for_a_rebirth() -> None:
    rec = Recorder()
    ing = SparkplugIngest(request_rebirth=rec.rebirth, provision=rec.provision)
    payload = Payload(metrics=(Metric("Water/Supply", 5.0, DataType.FLOAT),), seq=7)
    rows = feed(ing, MessageType.DDATA, payload, "chiller")
    assert not rows.samples and [q.reason for q in rows.quarantine] == ["before_birth"]
    assert rows.quarantine[0].raw == encode_payload(payload) and rows.quarantine[0].source == "sparkplug"
    assert rec.rebirths == [DeviceKey("site", "edge")]


def test_a_seq_gap_stores_the_values_and_records_the_gap() -> None:
    rec, engine = Recorder(), QualityEngine()
    ing = SparkplugIngest(request_rebirth=rec.rebirth, provision=rec.provision)
    birth(ing, engine)
    feed(ing, MessageType.DBIRTH, Payload(metrics=(Metric("Water/Supply", 5.0, DataType.FLOAT, alias=1,
                                                          properties={"engUnit": "degC"}),), seq=1),
         "chiller", engine=engine)
    rows = feed(ing, MessageType.DDATA, Payload(metrics=(Metric(None, 6.0, alias=1, timestamp_ms=NOW_MS + 5),),
                                                seq=9), "chiller", engine=engine)
    assert [s.value for s in rows.samples] == [6.0]
    assert [q.reason for q in rows.quarantine] == ["seq_gap"] and rows.quarantine[0].raw is None
    assert rec.rebirths == [DeviceKey("site", "edge")]


def test_deaths_name_the_points_to_mark_stale() -> None:
    rec, engine = Recorder(), QualityEngine()
    ing = SparkplugIngest(request_rebirth=rec.rebirth, provision=rec.provision)
    birth(ing, engine)
    feed(ing, MessageType.DBIRTH, Payload(metrics=(Metric("Water/Supply", 5.0, DataType.FLOAT),), seq=1),
         "chiller", engine=engine)
    feed(ing, MessageType.DBIRTH, Payload(metrics=(Metric("Load", 5.0, DataType.DOUBLE),), seq=2), "press",
         engine=engine)
    rows = Rows()
    env = Envelope(source="sparkplug", address="spBv1.0/site/NDEATH/edge", received_at_us=NOW_MS * 1000,
                   payload=encode_payload(Payload(metrics=(Metric(BD_SEQ, 1, DataType.INT64),))))
    ing.build(env, "acme", MAPPINGS, engine, rows)
    tenant, keys, points = ing.deaths[id(env)]
    assert tenant == "acme" and set(keys) == {DeviceKey("site", "edge"), DeviceKey("site", "edge", "chiller"),
                                              DeviceKey("site", "edge", "press")}
    assert set(points) == {("chiller-1", "supplyTemp"), ("site.edge.press", "Load")}


def test_undecodable_payloads_and_foreign_topics_are_quarantined() -> None:
    ing = SparkplugIngest(request_rebirth=Recorder().rebirth)
    rows = Rows()
    ing.build(Envelope(source="sparkplug", address="spBv1.0/site/DDATA/edge/x", received_at_us=0,
                       payload=b"\xff\xff\xff"), "acme", MAPPINGS, QualityEngine(), rows)
    ing.build(Envelope(source="sparkplug", address="spBv1.0/site/BOGUS/edge", received_at_us=0, payload=b""),
              "acme", MAPPINGS, QualityEngine(), rows)
    ing.build(Envelope(source="sparkplug", address="spBv1.0/STATE/tvilling", received_at_us=0,
                       payload=b'{"online": true}'), "acme", MAPPINGS, QualityEngine(), rows)
    assert [q.reason for q in rows.quarantine] == ["decode_error", "decode_error"]
