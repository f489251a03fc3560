"""Sparkplug B codec: payload round trips (datatypes, nulls, properties), wire details, topic namespace."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tvilling.protocols.sparkplug import (
    DataType,
    MessageType,
    Metric,
    Payload,
    SparkplugError,
    Topic,
    decode_payload,
    encode_payload,
    interpret,
    parse_topic,
)
from tvilling.protocols.sparkplug import sparkplug_b_pb2 as pb


def test_round_trip_of_every_scalar_datatype_with_properties() -> None:
    metrics = (
        Metric("bdSeq", 7, DataType.INT64),
        Metric("i8", -128, DataType.INT8, alias=1), Metric("i16", -2, DataType.INT16, alias=2),
        Metric("i32", -(2**31), DataType.INT32, alias=3), Metric("i64", -(2**63), DataType.INT64, alias=4),
        Metric("u8", 255, DataType.UINT8), Metric("u32", 2**32 - 1, DataType.UINT32),
        Metric("u64", 2**64 - 1, DataType.UINT64), Metric("f", 1.5, DataType.FLOAT),
        Metric("Motor/Speed", 1480.25, DataType.DOUBLE, alias=9, timestamp_ms=1_700_000_000_123,
               properties={"engUnit": "rpm", "Quality": 192, "readOnly": True, "scale": 0.5, "offset": -3}),
        Metric("on", True, DataType.BOOLEAN), Metric("s", "läuft", DataType.STRING),
        Metric("t", 1_700_000_000_000, DataType.DATETIME), Metric("b", b"\x00\x01", DataType.BYTES),
        Metric("missing", None, DataType.DOUBLE, is_null=True),
    )
    p = Payload(metrics=metrics, timestamp_ms=1_700_000_000_000, seq=255, uuid="u-1", body=b"x")
    back = decode_payload(encode_payload(p))
    assert back == p
    assert back.metric("Motor/Speed") is not None and back.metric("Motor/Speed").eng_unit == "rpm"  # type: ignore[union-attr]


def test_signed_integers_travel_as_twos_complement_in_unsigned_fields() -> None:
    raw = encode_payload(Payload(metrics=(Metric("x", -1, DataType.INT16),)))
    msg = pb.Payload()
    msg.ParseFromString(raw)
    assert msg.metrics[0].int_value == 65535  # spec: Int16 -1 is 0xFFFF in the uint32 field
    assert interpret(65535, DataType.INT16) == -1 and interpret(65535, DataType.UINT16) == 65535


def test_a_data_metric_without_datatype_keeps_the_wire_value_for_the_birth_to_interpret() -> None:
    msg = pb.Payload()
    m = msg.metrics.add()
    m.alias, m.int_value = 3, 4294967295  # Int32 -1, datatype omitted as DATA messages may do
    back = decode_payload(msg.SerializeToString())
    assert back.metrics[0].datatype is DataType.UNKNOWN and back.metrics[0].value == 4294967295
    assert interpret(back.metrics[0].value, DataType.INT32) == -1


def test_nan_double_is_carried_and_null_is_flagged() -> None:
    back = decode_payload(encode_payload(Payload(metrics=(Metric("x", math.nan, DataType.DOUBLE),
                                                          Metric("y", None, DataType.INT32)))))
    assert math.isnan(back.metrics[0].value) and not back.metrics[0].is_null
    assert back.metrics[1].is_null and back.metrics[1].value is None


@pytest.mark.parametrize(("metric", "why"), [
    (Metric("x", 300, DataType.UINT8), "does not fit"),
    (Metric("x", -129, DataType.INT8), "does not fit"),
    (Metric("x", 1.5, DataType.INT32), "needs an int"),
    (Metric("x", b"", DataType.DATASET), "not supported"),
])
def test_values_that_do_not_fit_their_datatype_are_refused(metric: Metric, why: str) -> None:
    with pytest.raises(SparkplugError, match=why):
        encode_payload(Payload(metrics=(metric,)))


def test_undecodable_bytes_and_out_of_range_seq_are_errors() -> None:
    with pytest.raises(SparkplugError):
        decode_payload(b"\xff\xff\xff\xff")
    msg = pb.Payload()
    msg.seq = 256
    with pytest.raises(SparkplugError, match="seq"):
        decode_payload(msg.SerializeToString())


@given(st.lists(st.tuples(st.sampled_from([DataType.INT8, DataType.INT16, DataType.INT32, DataType.INT64]),
                          st.integers()), max_size=8), st.integers(0, 255))
def test_signed_integer_round_trip_property(values: list[tuple[DataType, int]], seq: int) -> None:
    bits = {DataType.INT8: 8, DataType.INT16: 16, DataType.INT32: 32, DataType.INT64: 64}
    metrics = tuple(Metric(f"m{i}", v % (1 << bits[dt]) - (1 << (bits[dt] - 1)), dt) for i, (dt, v) in
                    enumerate(values))
    p = Payload(metrics=metrics, seq=seq)
    assert decode_payload(encode_payload(p)) == p


def test_topics_parse_and_format() -> None:
    t = parse_topic("spBv1.0/bottling/DDATA/edge-1/chiller-1")
    assert t == Topic("bottling", MessageType.DDATA, "edge-1", "chiller-1") and t.is_device
    assert str(t) == "spBv1.0/bottling/DDATA/edge-1/chiller-1"
    n = parse_topic("spBv1.0/bottling/NBIRTH/edge-1")
    assert n.device_id is None and str(n) == "spBv1.0/bottling/NBIRTH/edge-1"
    s = parse_topic("spBv1.0/STATE/host-a")
    assert s.message_type is MessageType.STATE and str(s) == "spBv1.0/STATE/host-a"


@pytest.mark.parametrize("topic", [
    "plant/pump-1/telemetry", "spBv1.0/g/DDATA/e", "spBv1.0/g/NDATA/e/d", "spBv1.0/g/XDATA/e",
    "spBv1.0/g/NBIRTH", "spBv1.0//NBIRTH/e", "spBv1.0/g/DDATA/e/d/extra", "spBv1.0/g/STATE/e",
])
def test_malformed_topics_are_refused(topic: str) -> None:
    with pytest.raises(SparkplugError):
        parse_topic(topic)


def test_ids_with_wildcards_cannot_be_formatted() -> None:
    with pytest.raises(SparkplugError):
        Topic("g", MessageType.DCMD, "e", "+")
