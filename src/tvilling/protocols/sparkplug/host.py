"""What a Sparkplug host application must remember about edge nodes (Sparkplug 3.0 §5, §7), as a pure state
machine: feed it each message in arrival order with the time, it says what the message means.

* NBIRTH starts a session: its ``bdSeq`` metric names the session, its metrics (name, alias, datatype, engUnit)
  define the node's metrics, and every device of the node must be born again (DBIRTH) before its data counts.
* Every message of a node but NDEATH carries ``seq``, one more than the node's previous message, modulo 256
  (the NBIRTH sets the start). A different value is a *gap*: messages were lost, so the host asks for a rebirth.
* NDEATH (the node's MQTT will, or sent before a clean disconnect) ends the session only when its ``bdSeq``
  matches the NBIRTH's: a will left behind by an older connection must not kill a newer session.
  Death ends the node and all its devices; DDEATH ends one device.
* Data (or a DBIRTH) from a node that is not born, DDATA from a device that is not born, and metrics that
  the birth did not define cannot be interpreted: they are rejected and a rebirth is requested.
* Rebirth requests are held off per node (``rebirth_holdoff_us``) so a burst of bad messages asks once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tvilling.protocols.sparkplug.payload import DataType, Metric, Payload, interpret
from tvilling.protocols.sparkplug.topic import MessageType, Topic

BD_SEQ = "bdSeq"
REBIRTH = "Node Control/Rebirth"
# Control and bookkeeping metrics: part of the protocol, not measurements of the asset.
CONTROL_PREFIXES = ("Node Control/", "Device Control/")


def is_control(name: str) -> bool:
    return name == BD_SEQ or name.startswith(CONTROL_PREFIXES)


@dataclass(frozen=True, slots=True)
class DeviceKey:
    group_id: str
    edge_node_id: str
    device_id: str | None = None  # None: the edge node itself

    def __str__(self) -> str:
        tail = f"/{self.device_id}" if self.device_id is not None else ""
        return f"{self.group_id}/{self.edge_node_id}{tail}"

    @property
    def node(self) -> DeviceKey:
        return DeviceKey(self.group_id, self.edge_node_id)


@dataclass(frozen=True, slots=True)
class MetricDef:
    """A metric as its BIRTH defined it."""

    name: str
    datatype: DataType
    alias: int | None = None
    unit: str | None = None


@dataclass(frozen=True, slots=True)
class Value:
    """One metric value of a BIRTH or DATA message, resolved against the birth certificate."""

    definition: MetricDef
    value: object
    timestamp_ms: int | None
    is_null: bool


@dataclass(frozen=True, slots=True)
class Flag:
    """Something wrong with a message. ``rejected``: its values were not taken (they cannot be interpreted)."""

    reason: str  # before_birth | seq_gap | seq_missing | unknown_metric | stale_death | bad_birth
    detail: str
    rejected: bool


@dataclass
class Outcome:
    key: DeviceKey
    kind: str  # birth | data | death | ignored
    values: list[Value] = field(default_factory=list)
    # On death: every device (and the node) that went offline, with the metrics its birth had defined.
    died: dict[DeviceKey, tuple[MetricDef, ...]] = field(default_factory=dict)
    flags: list[Flag] = field(default_factory=list)
    rebirth: DeviceKey | None = None  # the node to send NCMD Node Control/Rebirth to
    born: tuple[MetricDef, ...] = ()  # on birth: the definitions


@dataclass
class _Metrics:
    by_name: dict[str, MetricDef] = field(default_factory=dict)
    by_alias: dict[int, MetricDef] = field(default_factory=dict)

    @classmethod
    def from_birth(cls, metrics: tuple[Metric, ...]) -> tuple[_Metrics, list[str]]:
        out, problems = cls(), []
        for m in metrics:
            if not m.name:
                problems.append("a birth metric has no name")
                continue
            d = MetricDef(m.name, m.datatype, m.alias, m.eng_unit)
            out.by_name[m.name] = d
            if m.alias is not None:
                if m.alias in out.by_alias:
                    problems.append(f"alias {m.alias} is used by {out.by_alias[m.alias].name!r} and {m.name!r}")
                out.by_alias[m.alias] = d
        return out, problems

    def resolve(self, m: Metric) -> MetricDef | None:
        if m.name:
            return self.by_name.get(m.name)
        return self.by_alias.get(m.alias) if m.alias is not None else None


@dataclass
class _Node:
    online: bool = False
    bd_seq: int | None = None
    last_seq: int | None = None
    metrics: _Metrics = field(default_factory=_Metrics)
    devices: dict[str, _Metrics] = field(default_factory=dict)  # born (online) devices only
    rebirth_at_us: int | None = None


@dataclass
class HostSessions:
    """All edge nodes one host application has heard of. Not thread-safe: feed it from one thread."""

    rebirth_holdoff_us: int = 5_000_000
    _nodes: dict[DeviceKey, _Node] = field(default_factory=dict)

    def is_online(self, key: DeviceKey) -> bool:
        node = self._nodes.get(key.node)
        if node is None or not node.online:
            return False
        return key.device_id is None or key.device_id in node.devices

    def definitions(self, key: DeviceKey) -> tuple[MetricDef, ...]:
        node = self._nodes.get(key.node)
        if node is None:
            return ()
        m = node.metrics if key.device_id is None else node.devices.get(key.device_id)
        return tuple(m.by_name.values()) if m is not None else ()

    def handle(self, topic: Topic, payload: Payload, now_us: int) -> Outcome:
        key = DeviceKey(topic.group_id, topic.edge_node_id, topic.device_id)
        kind = topic.message_type
        node = self._nodes.setdefault(key.node, _Node())
        if kind is MessageType.NBIRTH:
            return self._nbirth(key, node, payload)
        if kind is MessageType.NDEATH:
            return self._ndeath(key, node, payload)
        if kind not in (MessageType.DBIRTH, MessageType.DDEATH, MessageType.NDATA, MessageType.DDATA):
            return Outcome(key, "ignored")  # NCMD/DCMD/STATE: addressed to others
        out = Outcome(key, "data")
        if not node.online:
            out.flags.append(Flag("before_birth", f"{kind} from edge node {key.node} before its NBIRTH", True))
            self._ask_rebirth(out, key, node, now_us)
            return out
        self._check_seq(out, key, node, kind, payload, now_us)
        if kind is MessageType.DBIRTH:
            assert key.device_id is not None
            metrics, problems = _Metrics.from_birth(payload.metrics)
            node.devices[key.device_id] = metrics
            out.kind, out.born = "birth", tuple(metrics.by_name.values())
            out.flags.extend(Flag("bad_birth", p, False) for p in problems)
            out.values = self._values(out, key, node, metrics, payload, now_us)
            return out
        if kind is MessageType.DDEATH:
            assert key.device_id is not None
            metrics_or_none = node.devices.pop(key.device_id, None)
            out.kind = "death"
            if metrics_or_none is not None:
                out.died[key] = tuple(metrics_or_none.by_name.values())
            return out
        if kind is MessageType.DDATA:
            assert key.device_id is not None
            dev = node.devices.get(key.device_id)
            if dev is None:
                out.flags.append(Flag("before_birth", f"DDATA from device {key} before its DBIRTH", True))
                self._ask_rebirth(out, key, node, now_us)
                return out
            out.values = self._values(out, key, node, dev, payload, now_us)
            return out
        out.values = self._values(out, key, node, node.metrics, payload, now_us)  # NDATA
        return out

    # -- message kinds --------------------------------------------------------------------------------------
    def _nbirth(self, key: DeviceKey, node: _Node, payload: Payload) -> Outcome:
        out = Outcome(key, "birth")
        if node.online and node.devices:
            # A new session replaces the old one; its devices are dead until they are born again.
            out.died = {DeviceKey(key.group_id, key.edge_node_id, d): tuple(m.by_name.values())
                        for d, m in node.devices.items()}
        bd = payload.metric(BD_SEQ)
        metrics, problems = _Metrics.from_birth(payload.metrics)
        node.online, node.metrics, node.devices, node.rebirth_at_us = True, metrics, {}, None
        node.bd_seq = _int(bd.value) if bd is not None else None
        node.last_seq = payload.seq
        if bd is None:
            problems.append("NBIRTH without a bdSeq metric")
        if payload.seq is None:
            problems.append("NBIRTH without seq")
        out.flags.extend(Flag("bad_birth", p, False) for p in problems)
        out.born = tuple(metrics.by_name.values())
        out.values = [_value(d, m) for m in payload.metrics if (d := metrics.resolve(m)) is not None]
        return out

    def _ndeath(self, key: DeviceKey, node: _Node, payload: Payload) -> Outcome:
        out = Outcome(key, "death")
        bd_metric = payload.metric(BD_SEQ)
        bd = _int(bd_metric.value) if bd_metric is not None else None
        if not node.online:
            return Outcome(key, "ignored")
        if bd is not None and node.bd_seq is not None and bd != node.bd_seq:
            # The will of an earlier connection, delivered late: the current session lives on.
            out.kind = "ignored"
            out.flags.append(Flag("stale_death", f"NDEATH bdSeq {bd} does not match the NBIRTH's {node.bd_seq}",
                                  False))
            return out
        out.died[key] = tuple(node.metrics.by_name.values())
        for d, m in node.devices.items():
            out.died[DeviceKey(key.group_id, key.edge_node_id, d)] = tuple(m.by_name.values())
        node.online, node.devices, node.last_seq = False, {}, None
        return out

    # -- helpers --------------------------------------------------------------------------------------------
    def _check_seq(self, out: Outcome, key: DeviceKey, node: _Node, kind: MessageType, payload: Payload,
                   now_us: int) -> None:
        if payload.seq is None:
            out.flags.append(Flag("seq_missing", f"{kind} from {key} without seq", False))
            self._ask_rebirth(out, key, node, now_us)
            return
        expected = None if node.last_seq is None else (node.last_seq + 1) % 256
        node.last_seq = payload.seq
        if expected is not None and payload.seq != expected:
            out.flags.append(Flag("seq_gap", f"{kind} from {key}: seq {payload.seq}, expected {expected}", False))
            self._ask_rebirth(out, key, node, now_us)

    def _values(self, out: Outcome, key: DeviceKey, node: _Node, metrics: _Metrics, payload: Payload,
                now_us: int) -> list[Value]:
        values: list[Value] = []
        unknown: list[str] = []
        for m in payload.metrics:
            d = metrics.resolve(m)
            if d is None:
                unknown.append(m.name if m.name else f"alias {m.alias}")
                continue
            values.append(_value(d, m))
        if unknown:
            out.flags.append(Flag("unknown_metric", f"{key}: not in the birth certificate: {', '.join(unknown)}",
                                  True))
            self._ask_rebirth(out, key, node, now_us)
        return values

    def _ask_rebirth(self, out: Outcome, key: DeviceKey, node: _Node, now_us: int) -> None:
        if node.rebirth_at_us is not None and now_us - node.rebirth_at_us < self.rebirth_holdoff_us:
            return
        node.rebirth_at_us = now_us
        out.rebirth = key.node


def _value(d: MetricDef, m: Metric) -> Value:
    # DATA metrics may omit the datatype: the birth's declares how to read the wire value.
    raw = m.value if m.datatype is not DataType.UNKNOWN else interpret(m.value, d.datatype)
    return Value(d, None if m.is_null else raw, m.timestamp_ms, m.is_null)


def _int(v: object) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None
