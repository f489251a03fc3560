"""The Sparkplug B topic namespace (Sparkplug 3.0 §4.1):

``spBv1.0/<group_id>/<message_type>/<edge_node_id>[/<device_id>]`` and, for host applications,
``spBv1.0/STATE/<host_id>``. Identifiers are non-empty and must not contain ``/``, ``+`` or ``#``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from tvilling.protocols.sparkplug.payload import SparkplugError

NAMESPACE = "spBv1.0"


class MessageType(StrEnum):
    NBIRTH = "NBIRTH"
    NDEATH = "NDEATH"
    DBIRTH = "DBIRTH"
    DDEATH = "DDEATH"
    NDATA = "NDATA"
    DDATA = "DDATA"
    NCMD = "NCMD"
    DCMD = "DCMD"
    STATE = "STATE"


DEVICE_TYPES = frozenset({MessageType.DBIRTH, MessageType.DDEATH, MessageType.DDATA, MessageType.DCMD})
NODE_TYPES = frozenset({MessageType.NBIRTH, MessageType.NDEATH, MessageType.NDATA, MessageType.NCMD})


def check_id(kind: str, value: str) -> str:
    if not value or any(c in value for c in "/+#"):
        raise SparkplugError(f"{kind} {value!r} must be non-empty and free of '/', '+' and '#'")
    return value


@dataclass(frozen=True, slots=True)
class Topic:
    group_id: str
    message_type: MessageType
    edge_node_id: str
    device_id: str | None = None

    def __post_init__(self) -> None:
        if self.message_type is MessageType.STATE:
            check_id("host id", self.edge_node_id)
            return
        check_id("group id", self.group_id)
        check_id("edge node id", self.edge_node_id)
        if self.message_type in DEVICE_TYPES:
            if self.device_id is None:
                raise SparkplugError(f"{self.message_type} needs a device id")
            check_id("device id", self.device_id)
        elif self.device_id is not None:
            raise SparkplugError(f"{self.message_type} is a node message: no device id")

    def __str__(self) -> str:
        if self.message_type is MessageType.STATE:
            return f"{NAMESPACE}/STATE/{self.edge_node_id}"
        tail = f"/{self.device_id}" if self.device_id is not None else ""
        return f"{NAMESPACE}/{self.group_id}/{self.message_type}/{self.edge_node_id}{tail}"

    @property
    def is_device(self) -> bool:
        return self.device_id is not None


def state_topic(host_id: str) -> Topic:
    return Topic("", MessageType.STATE, host_id)


def parse_topic(topic: str) -> Topic:
    """``spBv1.0/G/DDATA/E/D`` -> Topic; :class:`SparkplugError` for anything outside the namespace."""
    parts = topic.split("/")
    if len(parts) < 3 or parts[0] != NAMESPACE:
        raise SparkplugError(f"{topic!r} is not in the {NAMESPACE} namespace")
    if parts[1] == "STATE" and len(parts) == 3:
        return state_topic(parts[2])
    if len(parts) not in (4, 5):
        raise SparkplugError(f"{topic!r}: expected {NAMESPACE}/<group>/<type>/<edge node>[/<device>]")
    try:
        kind = MessageType(parts[2])
    except ValueError as exc:
        raise SparkplugError(f"{topic!r}: unknown message type {parts[2]!r}") from exc
    if kind is MessageType.STATE:
        raise SparkplugError(f"{topic!r}: STATE topics are {NAMESPACE}/STATE/<host id>")
    return Topic(parts[1], kind, parts[3], parts[4] if len(parts) == 5 else None)
