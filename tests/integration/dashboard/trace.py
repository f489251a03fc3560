"""What the browser sent and what the server handled, printed only when a dashboard test fails.

A rare failure family of these tests (a few in a hundred runs, never on demand) is "a value was filled and Run
clicked, and the server acted as if the value were not there". The trace tells the candidate causes apart: the
browser never emitted the event, the socket reconnected in between, or the server received it late or not at all.
:class:`tests.integration.dashboard.rig.Field` reads the browser's side to confirm each fill was sent. Both sides
are timestamped on one clock (seconds since the test's first page opened, from the browser's
``performance.timeOrigin``-based wall clock and the server's ``time.time()``).
"""

from __future__ import annotations

import collections
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from nicegui.client import Client

LIMIT = 400  # the newest events on each side: enough for one test's last few steps
TOKEN = re.compile(r"tvl_[0-9A-Za-z_]+")

# An init script of the browser context (every page and navigation): once NiceGUI has made its socket, socket
# (re)connects and disconnects and every UI event emitted.
BROWSER_HOOK = """(() => {
  const install = () => {
    if (!window.socket) { setTimeout(install, 20); return; }
    window.__tvTrace = [];  // [time s, text, sequence number, an event's args (JSON strings) or null]
    window.__tvSeq = 0;
    const s = window.socket;
    const log = (x, args = null) => { window.__tvTrace.push([Date.now() / 1000, x, ++window.__tvSeq, args]);
                                      if (window.__tvTrace.length > LIMIT) window.__tvTrace.shift(); };
    s.on('connect', () => log('connect'));
    s.on('disconnect', (reason) => log('disconnect: ' + reason));
    const emit = s.emit.bind(s);
    s.emit = (kind, msg, ...rest) => {
        if (kind === 'event') log('emit #' + msg.id + ' ' + JSON.stringify(msg.args).slice(0, 80), msg.args);
        return emit(kind, msg, ...rest);
    };
  };
  install();
})();""".replace("LIMIT", str(LIMIT))


class ServerTrace:
    """The UI events the server handled (all clients), newest last."""

    def __init__(self) -> None:
        self.events: collections.deque[tuple[float, str]] = collections.deque(maxlen=LIMIT)
        self._lock = threading.Lock()

    @contextmanager
    def installed(self) -> Iterator[ServerTrace]:
        original = Client.handle_event

        def handle_event(client: Client, msg: dict[str, Any]) -> None:
            element = client.elements.get(msg.get("id", -1))
            listener = getattr(element, "_event_listeners", {}).get(msg.get("listener_id"))
            with self._lock:
                self.events.append((time.time(), f"handled #{msg.get('id')} {type(element).__name__} "
                                                  f"{getattr(listener, 'type', '?')} {str(msg.get('args'))[:80]}"))
            original(client, msg)

        Client.handle_event = handle_event  # type: ignore[method-assign,assignment]
        try:
            yield self
        finally:
            Client.handle_event = original  # type: ignore[method-assign]

    def since(self, start: float) -> list[tuple[float, str]]:
        with self._lock:
            return [e for e in self.events if e[0] >= start]


def report(pages: list[Any], server: ServerTrace, start: float) -> str:
    """Both sides merged by time, for a failed test's captured output."""
    rows: list[tuple[float, str]] = []
    for i, page in enumerate(pages):
        try:
            rows += [(float(e[0]), f"page {i} {e[1]}") for e in page.evaluate("() => window.__tvTrace || []")]
        except Exception as exc:  # a closed page: say so, keep the rest
            rows.append((start, f"page {i}: trace unavailable ({exc})"))
    rows += [(t, f"server {x}") for t, x in server.since(start)]
    # the sign-in form's token is among the events: never print one, even a test's
    return "\n".join(TOKEN.sub("tvl_…", f"{t - start:8.3f} {x}") for t, x in sorted(rows))
