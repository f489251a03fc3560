"""The host application's view of edge nodes: births define metrics, seq is checked modulo 256, deaths end
sessions (NDEATH only with the matching bdSeq), and confusion leads to one rebirth request per hold-off."""

from __future__ import annotations

from tvilling.protocols.sparkplug import (
    BD_SEQ,
    REBIRTH,
    DataType,
    DeviceKey,
    HostSessions,
    MessageType,
    Metric,
    Payload,
    Topic,
)

G, E = "plant", "edge-1"
NODE = DeviceKey(G, E)
DEV = DeviceKey(G, E, "pump-1")


def topic(kind: MessageType, device: str | None = None) -> Topic:
    return Topic(G, kind, E, device)


def nbirth(bd: int = 0, seq: int = 0) -> Payload:
    return Payload(metrics=(Metric(BD_SEQ, bd, DataType.INT64), Metric(REBIRTH, False, DataType.BOOLEAN),
                            Metric("uptime", 5, DataType.INT32, alias=1)), seq=seq, timestamp_ms=1)


def dbirth(seq: int) -> Payload:
    return Payload(metrics=(Metric("speed", 1450.0, DataType.DOUBLE, alias=10, properties={"engUnit": "rpm"}),
                            Metric("offset", -3, DataType.INT16, alias=11)), seq=seq)


def born(h: HostSessions) -> None:
    h.handle(topic(MessageType.NBIRTH), nbirth(bd=4), 0)
    h.handle(topic(MessageType.DBIRTH, "pump-1"), dbirth(1), 0)


def test_births_define_metrics_with_alias_datatype_and_unit() -> None:
    h = HostSessions()
    out = h.handle(topic(MessageType.NBIRTH), nbirth(), 0)
    assert out.kind == "birth" and {d.name for d in out.born} == {BD_SEQ, REBIRTH, "uptime"}
    out = h.handle(topic(MessageType.DBIRTH, "pump-1"), dbirth(1), 0)
    assert out.kind == "birth" and not out.flags and out.rebirth is None
    speed = next(d for d in out.born if d.name == "speed")
    assert (speed.alias, speed.datatype, speed.unit) == (10, DataType.DOUBLE, "rpm")
    assert [v.value for v in out.values] == [1450.0, -3]
    assert h.is_online(DEV) and h.is_online(NODE)


def test_data_by_alias_is_resolved_and_read_with_the_birth_datatype() -> None:
    h = HostSessions()
    born(h)
    # Int16 -1 on the wire, datatype omitted (allowed in DATA): the birth says Int16.
    out = h.handle(topic(MessageType.DDATA, "pump-1"), Payload(metrics=(
        Metric(None, 1500.0, DataType.DOUBLE, alias=10, timestamp_ms=99), Metric(None, 65535, alias=11)), seq=2), 0)
    assert out.kind == "data" and not out.flags
    assert [(v.definition.name, v.value, v.timestamp_ms) for v in out.values] == [
        ("speed", 1500.0, 99), ("offset", -1, None)]


def test_seq_wraps_after_255_without_a_gap() -> None:
    h = HostSessions()
    h.handle(topic(MessageType.NBIRTH), nbirth(seq=254), 0)
    out = h.handle(topic(MessageType.DBIRTH, "pump-1"), dbirth(255), 0)
    assert not out.flags
    out = h.handle(topic(MessageType.DDATA, "pump-1"), Payload(metrics=(Metric("speed", 1.0),), seq=0), 0)
    assert not out.flags and out.rebirth is None


def test_a_seq_gap_keeps_the_values_flags_it_and_asks_for_a_rebirth_once() -> None:
    h = HostSessions(rebirth_holdoff_us=5_000_000)
    born(h)
    out = h.handle(topic(MessageType.DDATA, "pump-1"), Payload(metrics=(Metric("speed", 1.0),), seq=5), 1_000_000)
    assert [f.reason for f in out.flags] == ["seq_gap"] and not out.flags[0].rejected
    assert "expected 2" in out.flags[0].detail and out.rebirth == NODE and len(out.values) == 1
    again = h.handle(topic(MessageType.DDATA, "pump-1"), Payload(metrics=(Metric("speed", 1.0),), seq=9), 2_000_000)
    assert [f.reason for f in again.flags] == ["seq_gap"] and again.rebirth is None  # held off
    later = h.handle(topic(MessageType.DDATA, "pump-1"), Payload(metrics=(Metric("speed", 1.0),), seq=20),
                     7_000_000)
    assert later.rebirth == NODE
    # The rebirth arrives: a new session, seq restarts, no more requests.
    h.handle(topic(MessageType.NBIRTH), nbirth(bd=4), 8_000_000)
    ok = h.handle(topic(MessageType.DBIRTH, "pump-1"), dbirth(1), 8_000_000)
    assert not ok.flags and ok.rebirth is None


def test_data_before_birth_is_rejected_with_a_rebirth_request() -> None:
    h = HostSessions()
    out = h.handle(topic(MessageType.NDATA), Payload(metrics=(Metric("uptime", 1),), seq=3), 0)
    assert out.flags[0].reason == "before_birth" and out.flags[0].rejected and out.rebirth == NODE
    assert not out.values
    h.handle(topic(MessageType.NBIRTH), nbirth(), 0)
    out = h.handle(topic(MessageType.DDATA, "pump-1"), Payload(metrics=(Metric("speed", 1.0),), seq=1), 0)
    assert out.flags[0].reason == "before_birth" and out.rebirth == NODE  # device not born
    assert not h.is_online(DEV)


def test_metrics_missing_from_the_birth_are_rejected() -> None:
    h = HostSessions()
    born(h)
    out = h.handle(topic(MessageType.DDATA, "pump-1"), Payload(metrics=(
        Metric("speed", 2.0), Metric(None, 1.0, alias=77), Metric("torque", 3.0)), seq=2), 0)
    assert [v.definition.name for v in out.values] == ["speed"]
    assert out.flags[0].reason == "unknown_metric" and "alias 77" in out.flags[0].detail
    assert "torque" in out.flags[0].detail and out.rebirth == NODE


def test_ddeath_ends_one_device_and_ndeath_with_matching_bdseq_ends_the_node() -> None:
    h = HostSessions()
    born(h)
    h.handle(topic(MessageType.DBIRTH, "pump-2"), dbirth(2), 0)
    out = h.handle(topic(MessageType.DDEATH, "pump-1"), Payload(seq=3), 0)
    assert out.kind == "death" and list(out.died) == [DEV] and {d.name for d in out.died[DEV]} == {"speed", "offset"}
    assert not h.is_online(DEV) and h.is_online(DeviceKey(G, E, "pump-2"))
    out = h.handle(topic(MessageType.NDEATH), Payload(metrics=(Metric(BD_SEQ, 4, DataType.INT64),)), 0)
    assert out.kind == "death" and set(out.died) == {NODE, DeviceKey(G, E, "pump-2")}
    assert not h.is_online(NODE)
    # Data after death is data before (the next) birth.
    late = h.handle(topic(MessageType.NDATA), Payload(metrics=(Metric("uptime", 1),), seq=4), 0)
    assert late.flags[0].reason == "before_birth"


def test_a_late_will_of_an_earlier_session_is_ignored() -> None:
    h = HostSessions()
    born(h)  # bdSeq 4
    out = h.handle(topic(MessageType.NDEATH), Payload(metrics=(Metric(BD_SEQ, 3, DataType.INT64),)), 0)
    assert out.kind == "ignored" and out.flags[0].reason == "stale_death" and h.is_online(DEV)


def test_a_new_nbirth_ends_the_devices_of_the_previous_session() -> None:
    h = HostSessions()
    born(h)
    out = h.handle(topic(MessageType.NBIRTH), nbirth(bd=5), 0)
    assert set(out.died) == {DEV} and not h.is_online(DEV) and h.is_online(NODE)


def test_commands_and_state_messages_are_not_telemetry() -> None:
    h = HostSessions()
    out = h.handle(topic(MessageType.NCMD), Payload(metrics=(Metric(REBIRTH, True, DataType.BOOLEAN),)), 0)
    assert out.kind == "ignored" and not out.flags and out.rebirth is None
