"""OPC UA data changes -> rows: StatusCode to quality, variant type checks against the mapping (no server)."""

from __future__ import annotations

from functools import partial

import pytest
from asyncua import ua

from tvilling.adapters.opcua import OpcuaSample, OpcuaSettings, sample_from_datavalue, status_name, status_severity
from tvilling.app.ingest_opcua import build_opcua, node_ids
from tvilling.app.ingest_rows import Envelope, Rows, build_rows
from tvilling.core.errors import ConfigurationError
from tvilling.quality.mapping import MappingError, parse_mappings
from tvilling.quality.rules import QualityEngine

NOW = 1_800_000_000 * 1_000_000
MAP = parse_mappings({"mappings": [
    {"node_id": "ns=2;s=Speed", "twin": "l1", "property": "speed", "unit": "m/s", "instrument_range": [0, 10]},
    {"node_id": "ns=2;s=Count", "twin": "l1", "property": "count", "type": "integer"},
    {"node_id": "ns=2;s=Run", "twin": "l1", "property": "running", "type": "boolean"},
    {"node_id": "ns=2;s=State", "twin": "l1", "property": "state", "type": "string"},
    {"topic": "plant/x/telemetry", "pointer": "/points/t", "twin": "x", "property": "t"},
]})


def _run(*samples: OpcuaSample) -> Rows:
    envs = []
    for i, s in enumerate(samples):
        env = Envelope("opcua", s.node_id, NOW + i)
        env.build = partial(build_opcua, s)
        envs.append(env)
    return build_rows(envs, MAP, QualityEngine())


def _s(node: str, value: object, vtype: str, status: str = "Good", severity: str = "good", *, arr: bool = False,
       t: int = NOW - 1000) -> OpcuaSample:
    return OpcuaSample(node, value, vtype, arr, status, severity, t)


def test_node_rows_are_mapped_by_node_id() -> None:
    assert sorted(node_ids(MAP)) == ["ns=2;s=Count", "ns=2;s=Run", "ns=2;s=Speed", "ns=2;s=State"]
    node, topic = MAP.for_address("ns=2;s=Speed"), MAP.for_address("plant/x/telemetry")
    assert node is not None and topic is not None
    assert node.points[0].pointer == "" and node.node_id == "ns=2;s=Speed"  # the whole variant is the point
    assert topic.node_id is None
    with pytest.raises(MappingError):
        parse_mappings({"mappings": [{"node_id": "ns=2;s=A", "topic": "t", "pointer": "/a", "twin": "a",
                                      "property": "b"}]})
    with pytest.raises(MappingError):
        parse_mappings({"mappings": [{"node_id": "", "twin": "a", "property": "b"}]})


@pytest.mark.parametrize(("node", "value", "vtype", "arr"), [
    ("ns=2;s=Speed", "fast", "String", False),
    ("ns=2;s=Speed", None, "Null", False),
    ("ns=2;s=Speed", [1.0, 2.0], "Double", True),
    ("ns=2;s=Speed", True, "Boolean", False),
    ("ns=2;s=Count", 7.5, "Double", False),
    ("ns=2;s=Run", 1, "Int32", False),
    ("ns=2;s=State", 3, "Int32", False),
    ("ns=2;s=State", ["a"], "String", True),
])
def test_wrong_variant_types_are_quarantined(node: str, value: object, vtype: str, arr: bool) -> None:
    rows = _run(_s(node, value, vtype, arr=arr))
    assert [q.reason for q in rows.quarantine] == ["wrong_type"]
    assert rows.samples == []


@pytest.mark.parametrize(("node", "value", "vtype"), [
    ("ns=2;s=Speed", 2.5, "Double"), ("ns=2;s=Speed", 2.5, "Float"), ("ns=2;s=Speed", 3, "UInt16"),
    ("ns=2;s=Count", 3, "Int64"), ("ns=2;s=Run", True, "Boolean"), ("ns=2;s=State", "running", "String"),
])
def test_matching_variant_types_are_good(node: str, value: object, vtype: str) -> None:
    rows = _run(_s(node, value, vtype))
    assert rows.quarantine == []
    assert [(s.quality, s.reason) for s in rows.samples] == [("good", "")]
    assert len(rows.latest) == 1


def test_status_codes_become_quality() -> None:
    rows = _run(_s("ns=2;s=Speed", 1.0, "Double", "BadSensorFailure", "bad", t=NOW - 3000),
                _s("ns=2;s=Speed", 2.0, "Double", "UncertainLastUsableValue", "uncertain", t=NOW - 2000),
                _s("ns=2;s=Speed", 3.0, "Double", t=NOW - 1000))
    q = rows.quarantine
    assert [(x.reason, "BadSensorFailure" in x.detail) for x in q] == [("source_status", True)]
    got = [(s.value, s.quality, s.reason, s.value_json) for s in rows.samples]
    assert got == [(2.0, "uncertain", "source_status",
                    {"original": {"value": 2.0, "status": "UncertainLastUsableValue"}}),
                   (3.0, "good", "", None)]


def test_bad_status_wins_over_type_and_range_wins_over_uncertain() -> None:
    rows = _run(_s("ns=2;s=Speed", None, "Null", "BadSensorFailure", "bad"),  # the server nulls Bad values
                _s("ns=2;s=Speed", 50.0, "Double", "UncertainLastUsableValue", "uncertain", t=NOW - 500))
    assert [q.reason for q in rows.quarantine] == ["source_status", "out_of_range"]


def test_unmapped_node_is_quarantined() -> None:
    rows = _run(_s("ns=2;s=Nope", 1.0, "Double"))
    assert [q.reason for q in rows.quarantine] == ["unmapped"]


def test_datavalue_conversion_and_status_helpers() -> None:
    dv = ua.DataValue(ua.Variant([1.0], ua.VariantType.Double),
                      StatusCode=ua.StatusCode(ua.StatusCodes.UncertainLastUsableValue))
    s = sample_from_datavalue("ns=2;s=Speed", dv)
    assert (s.is_array, s.variant_type, s.status, s.severity) == (True, "Double", "UncertainLastUsableValue",
                                                                   "uncertain")
    assert status_severity(ua.StatusCodes.BadSensorFailure) == "bad"
    assert status_severity(0) == "good" and status_name(0) == "Good"
    assert status_name(ua.StatusCodes.BadSensorFailure) == "BadSensorFailure"


def test_secure_modes_need_certificates() -> None:
    with pytest.raises(ConfigurationError):
        OpcuaSettings(url="opc.tcp://127.0.0.1:4840/", security="SignAndEncrypt")
    with pytest.raises(ConfigurationError):
        OpcuaSettings(url="opc.tcp://127.0.0.1:4840/", security="Basic128")
    assert OpcuaSettings(url="opc.tcp://127.0.0.1:4840/", security="None").security == "None"
