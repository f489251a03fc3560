"""Sparkplug B (Eclipse Sparkplug 3.0): payload codec, topic namespace and the host application's session state.

Pure: no network, no clock. ``sparkplug_b.proto`` is the payload schema written from the specification;
``sparkplug_b_pb2.py`` is generated from it and committed. To regenerate (grpcio-tools is needed only for this,
never at runtime)::

    python -m venv /tmp/protoc && /tmp/protoc/bin/pip install grpcio-tools
    cd src/tvilling/protocols/sparkplug
    /tmp/protoc/bin/python -m grpc_tools.protoc -I. --python_out=. sparkplug_b.proto

then make the generated import in this package work unchanged (it is imported as a module of this package).
"""

from tvilling.protocols.sparkplug.host import (
    BD_SEQ,
    REBIRTH,
    DeviceKey,
    Flag,
    HostSessions,
    MetricDef,
    Outcome,
    Value,
    is_control,
)
from tvilling.protocols.sparkplug.payload import (
    DataType,
    Metric,
    Payload,
    SparkplugError,
    decode_payload,
    encode_payload,
    interpret,
)
from tvilling.protocols.sparkplug.topic import NAMESPACE, MessageType, Topic, parse_topic, state_topic

__all__ = [
    "BD_SEQ", "NAMESPACE", "REBIRTH", "DataType", "DeviceKey", "Flag", "HostSessions", "MessageType", "Metric",
    "MetricDef", "Outcome", "Payload", "SparkplugError", "Topic", "Value", "decode_payload", "encode_payload",
    "interpret", "is_control", "parse_topic", "state_topic",
]
