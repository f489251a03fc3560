"""A real HTTP receiver for event-route tests and the webhook benchmark: ``http.server`` on an ephemeral loopback
port in a thread, recording every request; what it answers is programmable (status per request, delay,
headers)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.time() when the body had been read
    status: int  # what the receiver answered

    def json(self) -> Any:
        return json.loads(self.body)


# request number (1-based) -> (status, extra headers)
Plan = Callable[[int], tuple[int, dict[str, str]]]


@dataclass
class Receiver:
    url: str = ""
    requests: list[Request] = field(default_factory=list)
    plan: Plan = lambda _n: (204, {})
    delay_s: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def accepted(self) -> list[Request]:
        """The requests answered with a 2xx, in arrival order."""
        with self.lock:
            return [r for r in self.requests if 200 <= r.status < 300]

    def events(self) -> list[dict[str, Any]]:
        return [r.json() for r in self.accepted()]

    def wait_for(self, count: int, timeout: float = 15.0, *, accepted: bool = True) -> list[Request]:
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                got = [r for r in self.requests if not accepted or 200 <= r.status < 300]
            if len(got) >= count:
                return got
            assert time.monotonic() < deadline, f"{len(got)} of {count} request(s) arrived: {got[-3:]}"
            time.sleep(0.02)


BODY = "x-answer-body"  # in a plan's headers: not a header, the answer's body


@contextmanager
def receiver(plan: Plan | None = None, *, delay_s: float = 0.0) -> Iterator[Receiver]:
    state = Receiver(delay_s=delay_s)
    if plan is not None:
        state.plan = plan

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            at = time.time()
            with state.lock:
                number = len(state.requests) + 1
                status, extra = state.plan(number)
                state.requests.append(Request(self.path, {k.lower(): v for k, v in self.headers.items()}, body, at,
                                              status))
            if state.delay_s:
                time.sleep(state.delay_s)
            headers = dict(extra)
            answer = headers.pop(BODY, "").encode()  # a plan may give the answer a body
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("content-length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *_args: Any) -> None:  # quiet
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/tvilling"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
