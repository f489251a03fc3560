"""Sparkplug B payloads <-> plain dataclasses (Sparkplug 3.0 §6.4), on the generated ``sparkplug_b_pb2``.

Only the value mapping lives here; the protobuf classes stay an implementation detail. Notes from the spec:

* signed integers travel in the unsigned ``int_value`` (Int8/16/32) or ``long_value`` (Int64) fields as two's
  complement of their width, so -1 as Int16 is 65535 on the wire; :func:`interpret` turns them back;
* ``DateTime`` is milliseconds since the epoch in ``long_value``; ``Text`` and ``UUID`` are strings;
* a metric with ``is_null`` has no value; metrics in DATA messages may carry only an ``alias`` and omit the
  datatype, which is then the one declared in the BIRTH (callers re-interpret with :func:`interpret`);
* DataSet, Template, File and the array types are carried as opaque values (``supported`` is False).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from google.protobuf.message import DecodeError

from tvilling.protocols.sparkplug import sparkplug_b_pb2 as _pb2

# protoc builds the message classes at import time, so type checkers cannot see them: treat the module as Any.
pb: Any = _pb2


class SparkplugError(ValueError):
    """A payload or topic that is not valid Sparkplug B (a wire-format error, raised by the pure codec)."""


class DataType(IntEnum):
    UNKNOWN = 0
    INT8 = 1
    INT16 = 2
    INT32 = 3
    INT64 = 4
    UINT8 = 5
    UINT16 = 6
    UINT32 = 7
    UINT64 = 8
    FLOAT = 9
    DOUBLE = 10
    BOOLEAN = 11
    STRING = 12
    DATETIME = 13
    TEXT = 14
    UUID = 15
    DATASET = 16
    BYTES = 17
    FILE = 18
    TEMPLATE = 19
    PROPERTYSET = 20
    PROPERTYSETLIST = 21


_SIGNED_BITS = {DataType.INT8: 8, DataType.INT16: 16, DataType.INT32: 32, DataType.INT64: 64}
_UNSIGNED_BITS = {DataType.UINT8: 8, DataType.UINT16: 16, DataType.UINT32: 32, DataType.UINT64: 64}
INTEGER_TYPES = frozenset({*_SIGNED_BITS, *_UNSIGNED_BITS})
FLOAT_TYPES = frozenset({DataType.FLOAT, DataType.DOUBLE})
STRING_TYPES = frozenset({DataType.STRING, DataType.TEXT, DataType.UUID})
SCALAR_TYPES = frozenset({*INTEGER_TYPES, *FLOAT_TYPES, *STRING_TYPES, DataType.BOOLEAN, DataType.DATETIME,
                          DataType.BYTES})


def datatype_of(code: int | None) -> DataType:
    try:
        return DataType(code) if code is not None else DataType.UNKNOWN
    except ValueError:
        return DataType.UNKNOWN  # array and future types: opaque


@dataclass(frozen=True, slots=True)
class Metric:
    """One metric. ``value`` is None when ``is_null``; ``properties`` holds scalar property values (engUnit …)."""

    name: str | None = None
    value: Any = None
    datatype: DataType = DataType.UNKNOWN
    alias: int | None = None
    timestamp_ms: int | None = None
    is_null: bool = False
    is_historical: bool = False
    is_transient: bool = False
    properties: dict[str, Any] = field(default_factory=dict)

    @property
    def supported(self) -> bool:
        return self.datatype in SCALAR_TYPES

    @property
    def eng_unit(self) -> str | None:
        unit = self.properties.get("engUnit")
        return unit if isinstance(unit, str) and unit else None


@dataclass(frozen=True, slots=True)
class Payload:
    metrics: tuple[Metric, ...] = ()
    timestamp_ms: int | None = None
    seq: int | None = None
    uuid: str | None = None
    body: bytes | None = None

    def metric(self, name: str) -> Metric | None:
        return next((m for m in self.metrics if m.name == name), None)


def interpret(raw: Any, datatype: DataType) -> Any:
    """The Python value of a wire value under ``datatype`` (two's complement for signed integers)."""
    bits = _SIGNED_BITS.get(datatype)
    if bits is not None and isinstance(raw, int) and not isinstance(raw, bool):
        raw &= (1 << bits) - 1
        return raw - (1 << bits) if raw >= 1 << (bits - 1) else raw
    return raw


# -- encoding -------------------------------------------------------------------------------------------------
def _wire_type(value: Any) -> DataType:
    """The field a value of no declared datatype travels in (DATA metrics may omit the datatype)."""
    if isinstance(value, bool):
        return DataType.BOOLEAN
    if isinstance(value, int):
        return DataType.INT64 if value < 0 else DataType.UINT64
    if isinstance(value, float):
        return DataType.DOUBLE
    if isinstance(value, str):
        return DataType.STRING
    if isinstance(value, bytes):
        return DataType.BYTES
    raise SparkplugError(f"no Sparkplug field for a {type(value).__name__} value")


def _set_metric_value(m: Any, datatype: DataType, value: Any) -> None:
    if datatype is DataType.UNKNOWN:
        datatype = _wire_type(value)
    if datatype in _SIGNED_BITS or datatype in _UNSIGNED_BITS or datatype is DataType.DATETIME:
        if isinstance(value, bool) or not isinstance(value, int):
            raise SparkplugError(f"{datatype.name} needs an int, got {type(value).__name__}")
        bits = _SIGNED_BITS.get(datatype) or _UNSIGNED_BITS.get(datatype) or 64
        if datatype in _UNSIGNED_BITS and not 0 <= value < 1 << bits:
            raise SparkplugError(f"{value} does not fit {datatype.name}")
        if datatype in _SIGNED_BITS and not -(1 << (bits - 1)) <= value < 1 << (bits - 1):
            raise SparkplugError(f"{value} does not fit {datatype.name}")
        wire = value & ((1 << bits) - 1)
        if bits <= 32:
            m.int_value = wire
        else:
            m.long_value = wire
    elif datatype is DataType.FLOAT:
        m.float_value = float(value)
    elif datatype is DataType.DOUBLE:
        m.double_value = float(value)
    elif datatype is DataType.BOOLEAN:
        m.boolean_value = bool(value)
    elif datatype in STRING_TYPES:
        m.string_value = str(value)
    elif datatype is DataType.BYTES:
        m.bytes_value = bytes(value)
    else:
        raise SparkplugError(f"encoding {datatype.name} values is not supported")


def _set_property(pv: Any, value: Any) -> None:
    if value is None:
        pv.type, pv.is_null = DataType.STRING, True
    elif isinstance(value, bool):
        pv.type, pv.boolean_value = DataType.BOOLEAN, value
    elif isinstance(value, int):
        if -(1 << 63) <= value < 0:
            pv.type, pv.long_value = DataType.INT64, value & ((1 << 64) - 1)
        else:
            pv.type, pv.long_value = DataType.UINT64, value
    elif isinstance(value, float):
        pv.type, pv.double_value = DataType.DOUBLE, value
    elif isinstance(value, str):
        pv.type, pv.string_value = DataType.STRING, value
    else:
        raise SparkplugError(f"property values must be scalars, got {type(value).__name__}")


def encode_payload(payload: Payload) -> bytes:
    msg = pb.Payload()
    if payload.timestamp_ms is not None:
        msg.timestamp = payload.timestamp_ms
    if payload.seq is not None:
        if not 0 <= payload.seq <= 255:
            raise SparkplugError(f"seq must be 0..255, got {payload.seq}")
        msg.seq = payload.seq
    if payload.uuid is not None:
        msg.uuid = payload.uuid
    if payload.body is not None:
        msg.body = payload.body
    for metric in payload.metrics:
        m = msg.metrics.add()
        if metric.name is not None:
            m.name = metric.name
        if metric.alias is not None:
            m.alias = metric.alias
        if metric.timestamp_ms is not None:
            m.timestamp = metric.timestamp_ms
        if metric.datatype is not DataType.UNKNOWN:
            m.datatype = int(metric.datatype)
        if metric.is_historical:
            m.is_historical = True
        if metric.is_transient:
            m.is_transient = True
        null = metric.is_null or metric.value is None or (isinstance(metric.value, float)
                                                            and not math.isfinite(metric.value)
                                                            and metric.datatype not in FLOAT_TYPES)
        if null:
            m.is_null = True
        else:
            _set_metric_value(m, metric.datatype, metric.value)
        if metric.properties:
            for key, value in metric.properties.items():
                m.properties.keys.append(key)
                _set_property(m.properties.values.add(), value)
    return bytes(msg.SerializeToString())


# -- decoding -------------------------------------------------------------------------------------------------
def _oneof(msg: Any) -> Any:
    which = msg.WhichOneof("value")
    return None if which is None else getattr(msg, which)


def _property_value(pv: Any) -> Any:
    if pv.is_null:
        return None
    raw = _oneof(pv)
    dt = datatype_of(pv.type) if pv.HasField("type") else DataType.UNKNOWN
    if pv.WhichOneof("value") in ("propertyset_value", "propertysets_value", "extension_value"):
        return None  # nested property sets are not used by the platform
    return interpret(raw, dt)


def _metric(m: Any) -> Metric:
    datatype = datatype_of(m.datatype) if m.HasField("datatype") else DataType.UNKNOWN
    which = m.WhichOneof("value")
    is_null = bool(m.is_null) or which is None
    value: Any = None
    if not is_null:
        value = _oneof(m)
        if which in ("dataset_value", "template_value", "extension_value"):
            value = None if which == "extension_value" else value.SerializeToString()
        else:
            value = interpret(value, datatype)
    props: dict[str, Any] = {}
    if m.HasField("properties"):
        ps = m.properties
        if len(ps.keys) != len(ps.values):
            raise SparkplugError(f"metric {m.name!r}: {len(ps.keys)} property keys but {len(ps.values)} values")
        props = {k: _property_value(v) for k, v in zip(ps.keys, ps.values, strict=True)}
    return Metric(name=m.name if m.HasField("name") else None, value=value, datatype=datatype,
                  alias=m.alias if m.HasField("alias") else None,
                  timestamp_ms=m.timestamp if m.HasField("timestamp") else None, is_null=is_null,
                  is_historical=bool(m.is_historical), is_transient=bool(m.is_transient), properties=props)


def decode_payload(data: bytes) -> Payload:
    """Parse a Sparkplug B payload; :class:`SparkplugError` for anything that is not one."""
    msg = pb.Payload()
    try:
        msg.ParseFromString(data)
    except (DecodeError, RuntimeWarning, ValueError) as exc:
        raise SparkplugError(f"not a Sparkplug B payload: {exc}") from exc
    seq = msg.seq if msg.HasField("seq") else None
    if seq is not None and seq > 255:
        raise SparkplugError(f"seq {seq} is outside 0..255")
    return Payload(metrics=tuple(_metric(m) for m in msg.metrics),
                   timestamp_ms=msg.timestamp if msg.HasField("timestamp") else None, seq=seq,
                   uuid=msg.uuid if msg.HasField("uuid") else None, body=msg.body if msg.HasField("body") else None)
