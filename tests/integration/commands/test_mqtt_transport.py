"""The MQTT command transport on its own against a real Mosquitto: MQTT 5 properties on the command, an answer on
the response topic only (matched by correlation data), duplicate answers dropped, and a refusal when the broker
is gone."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from tests.support.mosquitto import mosquitto_broker, start_mosquitto, stop_mosquitto  # noqa: F401
from tvilling.adapters.mqtt_commands import MqttCommandSettings, MqttCommandTransport, parse_answer
from tvilling.ports.commands import CommandOutcome, CommandRequest, CommandSendError, CommandTarget

pytestmark = pytest.mark.mosquitto


def _request(cid: str, topic: str, value: Any = 1.5, seconds: float = 20.0) -> CommandRequest:
    return CommandRequest(cid, "default", "dev-1", "set_x", value, CommandTarget("mqtt", topic, "set_x_raw"),
                          datetime.now(UTC) + timedelta(seconds=seconds))


async def test_response_topic_and_correlation(mosquitto_broker: int) -> None:  # noqa: F811
    seen: list[dict[str, Any]] = []
    device = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="dev-1", protocol=mqtt.MQTTv5)

    def on_message(client: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        p: Any = msg.properties
        seen.append({"body": json.loads(msg.payload), "response": p.ResponseTopic, "corr": p.CorrelationData,
                     "expiry": p.MessageExpiryInterval})
        props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        props.CorrelationData = p.CorrelationData
        answer = json.dumps({"status": "applied", "applied_at": "t"})  # no command_id: correlation data only
        client.publish(p.ResponseTopic, answer, qos=1, properties=props)
        client.publish(p.ResponseTopic, answer, qos=1, properties=props)  # a duplicate answer

    device.on_message = on_message
    device.connect("127.0.0.1", mosquitto_broker)
    device.subscribe("dev/1/commands", qos=1)
    device.loop_start()
    transport = MqttCommandTransport(MqttCommandSettings(port=mosquitto_broker, client_id="cmd-test"))
    outcomes: list[CommandOutcome] = []
    got = asyncio.Event()

    async def collect(o: CommandOutcome) -> None:
        outcomes.append(o)
        got.set()

    await transport.start(collect)
    try:
        await asyncio.sleep(0.3)  # the device's subscription is in place
        assert await transport.send(_request("cmd-7", "dev/1/commands")) is None  # PUBACK: sent
        await asyncio.wait_for(got.wait(), 5)
        await asyncio.sleep(0.3)
    finally:
        await transport.close()
        device.loop_stop()
        device.disconnect()
    assert seen[0]["body"] == {"command_id": "cmd-7", "command": "set_x_raw", "value": 1.5}
    assert seen[0]["response"] == transport.response_topic and seen[0]["corr"] == b"cmd-7"
    assert 15 <= seen[0]["expiry"] <= 21
    assert outcomes == [CommandOutcome("cmd-7", "acked", "", {"applied_at": "t"})]  # duplicate dropped


async def test_send_refused_without_a_broker(tmp_path: Path) -> None:
    port, proc = start_mosquitto(tmp_path)
    transport = MqttCommandTransport(MqttCommandSettings(port=port, client_id="cmd-down", connect_timeout_s=1))

    async def ignore(_o: CommandOutcome) -> None:
        return None

    await transport.start(ignore)
    try:
        stop_mosquitto(proc)
        for _ in range(50):
            if not transport.connected:
                break
            await asyncio.sleep(0.1)
        with pytest.raises(CommandSendError, match="not connected"):
            await transport.send(_request("c", "dev/1/commands"))
    finally:
        await transport.close()


def test_answer_parsing() -> None:
    assert parse_answer(b'{"command_id": "a", "status": "rejected", "reason": "no"}') == \
        CommandOutcome("a", "failed", "no", {})
    assert parse_answer(b'{"status": "applied"}', b"corr") == CommandOutcome("corr", "acked", "", {})
    assert parse_answer(b'{"command_id": "a", "status": "thinking"}') is None
    assert parse_answer(b"not json") is None and parse_answer(b"[1]") is None
    assert parse_answer(b'{"status": "applied"}') is None  # no id anywhere
