"""What one events WebSocket client may send (reliability S-08); every close for abuse is a security event (S-15).

Size: a message over ``ws_max_message_bytes`` closes the connection with 1009 (Message Too Big). ``tvilling serve``
gives uvicorn the same limit (``ws_max_size``), and uvicorn then fails the connection itself, before the message is
read: the handler only sees a disconnect with code 1009, and that is what it counts. Under a server that does not
enforce it (``tvilling demo`` keeps uvicorn's 16 MiB, the test client has none) the handler measures the message
itself and closes with 1009. Either way: one close, counted once. (A client that closes with 1009 on its own is
counted too: the code is all the server passes on.)

Rate: each connection has a bucket of ``ws_message_burst`` messages refilled at ``ws_messages_per_s``; the message
that finds it empty is not processed and the connection is closed with 4429. A client only sends subscribe
messages, so a flood is abuse, not a burst to smooth over.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tvilling.app.ratelimit import Limit, TokenBuckets
from tvilling.ports.clock import Clock

TOO_BIG, TOO_FAST = 1009, 4429


@dataclass(frozen=True, slots=True)
class Close:
    code: int  # the WebSocket close code
    status: int  # the HTTP status of the same refusal (what the audit record's ``status`` carries)
    reason: str  # fixed text per limit: it is part of the audit's grouping key
    by_server: bool = False  # the server closed it already: nothing left to send


class WsLimits:
    """One connection's limits; ``check`` runs on the event loop for every message received."""

    def __init__(self, settings: Any, clock: Clock) -> None:
        self.max_bytes = int(settings.ws_max_message_bytes)
        self._bucket = TokenBuckets(Limit(settings.ws_messages_per_s, settings.ws_message_burst), clock, max_keys=1)
        self._too_big = Close(TOO_BIG, 413, f"closed {TOO_BIG}: a message over {self.max_bytes} bytes")
        self._too_fast = Close(TOO_FAST, 429, f"closed {TOO_FAST}: more than {settings.ws_messages_per_s:g} "
                                              f"messages/s (bursts of {settings.ws_message_burst})")

    def check(self, message: Any) -> Close | None:
        """The close ``message`` (an ASGI ``websocket.receive`` or ``websocket.disconnect``) calls for, or None."""
        if message["type"] == "websocket.disconnect":
            return Close(TOO_BIG, 413, self._too_big.reason, by_server=True) if message.get("code") == TOO_BIG \
                else None
        if self._size(message) > self.max_bytes:
            return self._too_big
        if self._bucket.take("") > 0.0:
            return self._too_fast
        return None

    def _size(self, message: Any) -> int:
        data = message.get("bytes")
        if data is not None:
            return len(data)
        text: str = message.get("text") or ""
        # UTF-8 takes 1-4 bytes a character: encode only when the length alone cannot decide
        if len(text) > self.max_bytes or 4 * len(text) <= self.max_bytes:
            return len(text)
        return len(text.encode("utf-8"))
