"""A webhook receiver for Tvilling's event routes: verifies each delivery's Standard Webhooks signature and prints the
CloudEvent. Standard library only — copy it as the start of a real integration (a CMMS adapter).

    python examples/webhook_receiver.py --port 9000 --secret whsec_…      # or WEBHOOK_SECRET=whsec_…

It listens on 127.0.0.1 only. Answers: 204 taken, 401 bad or stale signature (the platform retries, then
dead-letters), 400 not a CloudEvent. A redelivered event (same webhook-id) is acknowledged and not printed again.
docs/integrations.md walks through it.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOLERANCE_S = 300  # refuse timestamps further off than this (replays)



def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()

def verify(secret: str, headers: dict[str, str], body: bytes, now: float) -> bool:
    """The Standard Webhooks check: HMAC-SHA256 over "{id}.{timestamp}.{body}" with the secret's key."""
    msg_id, stamp = headers.get("webhook-id", ""), headers.get("webhook-timestamp", "")
    if not msg_id or not stamp.isdigit() or abs(now - int(stamp)) > TOLERANCE_S:
        return False
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
    expected = "v1," + base64.b64encode(digest).decode()
    return any(hmac.compare_digest(expected.encode(), s.encode())
               for s in headers.get("webhook-signature", "").split())


def describe(event: dict) -> str:
    """One line per event: when, what, on which object, and the gist of its payload."""
    payload = event.get("data", {}).get("payload", {})
    order, alarm = payload.get("work_order"), payload.get("alarm")
    if isinstance(order, dict):
        gist = f"{order.get('state')} {order.get('priority')}: {order.get('title')}"
    elif isinstance(alarm, dict):
        gist = f"{alarm.get('severity')} {alarm.get('state')}: {alarm.get('message')}"
    else:
        gist = json.dumps(payload)[:120]
    return f"{event.get('time')} {event.get('type')} {event.get('subject')} {gist}"


def serve(port: int, secret: str) -> None:
    seen: set[str] = set()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            headers = {k.lower(): v for k, v in self.headers.items()}
            if not verify(secret, headers, body, time.time()):
                self._answer(401)
                return
            try:
                event = json.loads(body)
            except ValueError:
                event = None
            if not isinstance(event, dict) or event.get("specversion") != "1.0" \
                    or not str(event.get("type", "")).startswith("io.tvilling."):
                self._answer(400)
                return
            if headers["webhook-id"] not in seen:  # at-least-once: the same id may come twice
                seen.add(headers["webhook-id"])
                say(describe(event))
            self._answer(204)

        def _answer(self, status: int) -> None:
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *_args: object) -> None:  # events are printed above; no access log
            return

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    say(f"listening on http://127.0.0.1:{server.server_address[1]}/ (Ctrl-C stops)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=9000)
    ap.add_argument("--secret", default=os.environ.get("WEBHOOK_SECRET"), help="the route's whsec_… secret")
    args = ap.parse_args()
    if not args.secret:
        sys.exit("error: give the route's signing secret (--secret whsec_… or WEBHOOK_SECRET)")
    serve(args.port, args.secret)


if __name__ == "__main__":
    main()
