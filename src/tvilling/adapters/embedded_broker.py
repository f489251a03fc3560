"""An MQTT broker inside the platform process, for ``tvilling demo`` and laptops without Mosquitto.

amqtt is the maintained asyncio broker on PyPI. It is the *embedded default* only: production and the reliability
tests use Mosquitto (``--broker mqtt://host:port``), whose persistence and ACLs amqtt does not match. Its session
state lives in memory, so it gives no durability across a restart of the demo process.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from tvilling.core.errors import UnavailableError

log = logging.getLogger(__name__)


@dataclass
class EmbeddedBroker:
    host: str = "127.0.0.1"
    port: int = 1883
    _broker: Any = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    async def start(self) -> None:
        from amqtt.broker import Broker  # imported here: only the demo pays for it

        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
            # Loopback only; the demo's broker accepts anonymous clients like a bench PLC network would.
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
        }
        self._broker = Broker(config)
        try:
            await self._broker.start()
        except Exception as exc:  # amqtt raises its own BrokerError / OSError on a busy port
            raise UnavailableError(f"embedded MQTT broker could not listen on {self.host}:{self.port}: {exc}",
                                   hint="pass --broker mqtt://host:port to use an external broker") from exc
        log.info("embedded MQTT broker on %s", self.url)

    async def stop(self) -> None:
        if self._broker is not None:
            await self._broker.shutdown()
            self._broker = None
