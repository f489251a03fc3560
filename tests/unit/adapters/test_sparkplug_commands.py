"""The Sparkplug command transport without a broker: what it writes, and how a metric echo acknowledges."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from tvilling.adapters.sparkplug import SparkplugCommandTransport, ValueObserver
from tvilling.ports.commands import CommandOutcome, CommandRequest, CommandSendError, CommandTarget
from tvilling.protocols.sparkplug import DataType, DeviceKey, Metric, Payload, encode_payload


class Info:
    def __init__(self, published: bool = True) -> None:
        self.published = published

    def wait_for_publish(self, _timeout: float) -> None:
        return None

    def is_published(self) -> bool:
        return self.published


class Source:
    def __init__(self) -> None:
        self.connected = True
        self.published = True
        self.writes: list[tuple[DeviceKey, list[Metric]]] = []

    def write_metrics(self, key: DeviceKey, metrics: list[Metric]) -> Info:
        encode_payload(Payload(metrics=tuple(metrics)))  # as the real source does: SparkplugError if it cannot
        self.writes.append((key, list(metrics)))
        return Info(self.published)


class Host:
    def __init__(self) -> None:
        self.source = Source()
        self.observers: list[ValueObserver] = []

    def add_observer(self, observer: ValueObserver) -> None:
        self.observers.append(observer)


def request(cid: str, value: Any, address: str = "g/e/d", metric: str = "sp", **options: Any) -> CommandRequest:
    return CommandRequest(cid, "acme", "twin", "set", value, CommandTarget("sparkplug", address, metric, "dcmd",
                                                                           options), datetime.now(UTC))


async def test_dcmd_write_and_echo_acknowledgement_in_order() -> None:
    host, outcomes = Host(), []

    async def on_outcome(o: CommandOutcome) -> None:
        outcomes.append(o)

    t = SparkplugCommandTransport(lambda: host)  # type: ignore[arg-type,return-value]
    await t.start(on_outcome)
    assert await t.send(request("c1", 8.5, datatype="Float")) is None
    assert await t.send(request("c2", 9.0)) is None
    assert await t.send(request("c3", None, address="g/e", metric="Node Control/Reboot")) is None
    (k1, [m1]), (_, [m2]), (k3, [m3]) = host.source.writes
    assert k1 == DeviceKey("g", "e", "d") and (m1.name, m1.value, m1.datatype) == ("sp", 8.5, DataType.FLOAT)
    assert m2.datatype is DataType.DOUBLE
    assert k3 == DeviceKey("g", "e") and (m3.value, m3.datatype) == (True, DataType.BOOLEAN)  # NCMD, no value
    assert len(host.observers) == 1
    observe = host.observers[0]
    observe(DeviceKey("g", "e", "d"), "other", 1.0, None)  # not a commanded metric
    observe(DeviceKey("g", "e", "d"), "sp", 8.5, 1000)
    observe(DeviceKey("g", "e", "d"), "sp", 9.0, None)
    observe(DeviceKey("g", "e", "d"), "sp", 9.0, None)  # nothing waits any more
    await asyncio.sleep(0.05)
    assert [(o.command_id, o.status, o.detail["value"]) for o in outcomes] == [("c1", "acked", 8.5),
                                                                              ("c2", "acked", 9.0)]


async def test_refusals_before_anything_is_sent() -> None:
    host = Host()
    t = SparkplugCommandTransport(lambda: host)  # type: ignore[arg-type,return-value]

    async def ignore(_o: CommandOutcome) -> None:
        return None

    await t.start(ignore)
    with pytest.raises(CommandSendError, match="not group/edge"):
        await t.send(request("x", 1.0, address="just-one"))
    with pytest.raises(CommandSendError, match="datatype"):
        await t.send(request("x", 1.0, datatype="Quaternion"))
    with pytest.raises(CommandSendError, match="encode"):
        await t.send(request("x", 300, datatype="UInt8"))
    host.source.published = False
    with pytest.raises(CommandSendError, match="not sent"):
        await t.send(request("lost", 1.0))
    host.observers[0](DeviceKey("g", "e", "d"), "sp", 1.0, None)  # the unsent command is not waiting
    host.source.connected = False
    with pytest.raises(CommandSendError, match="not connected"):
        await t.send(request("x", 1.0))
    nobody = SparkplugCommandTransport(lambda: None)
    await nobody.start(ignore)
    with pytest.raises(CommandSendError, match="not connected"):
        await nobody.send(request("x", 1.0))
