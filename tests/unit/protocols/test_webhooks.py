"""Outbound webhooks on the wire: Standard Webhooks signatures (checked against the spec's published vector and an
implementation written here from the spec's text), CloudEvents 1.0 structured mode, the retry schedule, Retry-After
and the allow-list of target hosts."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from tvilling.protocols import webhooks
from tvilling.protocols.webhooks import Target, UrlRefused

# The Standard Webhooks reference libraries' test vector (standard-webhooks/standard-webhooks, libraries/*/tests).
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID, SPEC_TS, SPEC_BODY = "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def by_the_spec(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The spec's algorithm, independently: key = base64(secret without whsec_), HMAC-SHA256 over
    "{id}.{timestamp}.{body}", "v1," + base64 of the digest."""
    key = base64.b64decode(secret.split("_", 1)[1])
    content = msg_id.encode() + b"." + str(timestamp).encode() + b"." + body
    return "v1," + base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()


def test_signature_matches_the_spec_vector_and_an_independent_implementation() -> None:
    key = webhooks.secret_key(SPEC_SECRET)
    assert webhooks.sign(key, SPEC_ID, SPEC_TS, SPEC_BODY) == SPEC_SIGNATURE
    assert by_the_spec(SPEC_SECRET, SPEC_ID, SPEC_TS, SPEC_BODY) == SPEC_SIGNATURE
    key = bytes(range(32))
    secret = webhooks.secret_text(key)
    assert secret.startswith("whsec_") and webhooks.secret_key(secret) == key
    body = webhooks.encode({"ä": "ö", "n": 1})
    assert webhooks.sign(key, "42-abc", 1_700_000_000, body) == by_the_spec(secret, "42-abc", 1_700_000_000, body)


def test_headers_and_verification() -> None:
    key = b"k" * 32
    body = b'{"a":1}'
    sent = webhooks.headers(key, "id-1", 1000, body)
    assert sent["content-type"] == "application/cloudevents+json"
    assert sent["webhook-id"] == "id-1" and sent["webhook-timestamp"] == "1000"
    assert webhooks.verify(key, sent, body, now=1000.0)
    assert webhooks.verify(key, {k.upper(): v for k, v in sent.items()}, body, now=1100.0)  # header case
    assert not webhooks.verify(key, sent, b'{"a":2}', now=1000.0)  # tampered body
    assert not webhooks.verify(b"x" * 32, sent, body, now=1000.0)  # another secret
    assert not webhooks.verify(key, sent, body, now=1000.0 + 301)  # stale (replay)
    rotated = {**sent, "webhook-signature": "v1,bm90IGl0 " + sent["webhook-signature"]}
    assert webhooks.verify(key, rotated, body, now=1000.0)  # any one of several signatures (the spec's rotation)
    assert not webhooks.verify(key, {**sent, "webhook-timestamp": "soon"}, body, now=1000.0)


def test_cloud_event_is_structured_mode_json() -> None:
    doc = webhooks.cloud_event(event_id="7-ab", tenant="acme co", kind="workorder.created", subject="pump-1",
                               time="2026-01-02T03:04:05Z", data={"payload": {"x": 1}}, seq=7)
    assert {k: doc[k] for k in ("specversion", "id", "source", "type", "subject", "time", "datacontenttype")} == {
        "specversion": "1.0", "id": "7-ab", "source": "/tenants/acme%20co", "type": "io.tvilling.workorder.created",
        "subject": "pump-1", "time": "2026-01-02T03:04:05Z", "datacontenttype": "application/json"}
    assert doc["tvillingseq"] == 7 and doc["data"] == {"payload": {"x": 1}}
    body = webhooks.encode(doc)
    assert b" " not in body.replace(b"acme%20co", b"") and json.loads(body) == doc  # compact, round-trips
    with pytest.raises(ValueError):
        webhooks.encode({"x": float("nan")})
    # Extension attribute names: lower-case letters and digits only (CloudEvents 1.0, "Attribute Naming").
    assert all(k.isalnum() and k.islower() for k in doc)


def test_backoff_doubles_to_the_cap_with_equal_jitter() -> None:
    top = [webhooks.backoff_s(n, initial_s=1.0, max_s=300.0, draw=1.0) for n in range(1, 12)]
    assert top == [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]
    low = [webhooks.backoff_s(n, initial_s=1.0, max_s=300.0, draw=0.0) for n in range(1, 12)]
    assert low == [t / 2 for t in top]  # never less than half the schedule's wait
    mid = webhooks.backoff_s(3, initial_s=1.0, max_s=300.0, draw=0.5)
    assert 2.0 < mid < 4.0


def test_retry_after_seconds_or_http_date() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC).timestamp()
    assert webhooks.retry_after_s("7", now, max_s=300) == 7.0
    assert webhooks.retry_after_s("Thu, 01 Jan 2026 12:00:30 GMT", now, max_s=300) == 30.0
    assert webhooks.retry_after_s("86400", now, max_s=300) == 300.0  # capped
    assert webhooks.retry_after_s("-5", now, max_s=300) == 0.0
    for junk in (None, "", "soon", "nan"):
        assert webhooks.retry_after_s(junk, now, max_s=300) is None


LOOPBACK = ["127.0.0.1", "::1", "localhost"]


def test_allowed_targets() -> None:
    assert webhooks.check_url("http://127.0.0.1:9000/h", LOOPBACK, setting="S") == Target("http", "127.0.0.1", 9000)
    assert webhooks.check_url("https://LOCALHOST/h", LOOPBACK, setting="S") == Target("https", "localhost", 443)
    assert webhooks.check_url("http://[::1]:8080/h", LOOPBACK, setting="S") == Target("http", "::1", 8080)
    only_port = ["cmms.example.com:8443", "[::1]:9000"]
    assert webhooks.check_url("https://cmms.example.com:8443/x", only_port, setting="S").port == 8443
    assert webhooks.check_url("http://[::1]:9000/x", only_port, setting="S").host == "::1"
    for refused in ("https://cmms.example.com/x", "http://[::1]:9001/x"):
        with pytest.raises(UrlRefused):
            webhooks.check_url(refused, only_port, setting="S")


@pytest.mark.parametrize("url", [
    "http://169.254.169.254/latest/meta-data",  # cloud metadata (SSRF, reliability S-11)
    "http://10.0.0.1/x", "http://127.1/x", "http://0x7f.0.0.1/x", "http://127.0.0.1.nip.io/x",  # not literally listed
    "file:///etc/passwd", "gopher://127.0.0.1:5432/x", "ftp://127.0.0.1/x", "127.0.0.1:9000/x",  # not http(s)
    "http://user:pw@127.0.0.1/x", "http://127.0.0.1/x#frag", "http://127.0.0.1/ x", "http:///x",
    "http://127.0.0.1:99999/x", "http://" + "a" * 2000 + "/",
])
def test_refused_targets(url: str) -> None:
    with pytest.raises(UrlRefused) as caught:
        webhooks.check_url(url, LOOPBACK, setting="TVILLING_WEBHOOK_ALLOWED_HOSTS")
    assert caught.value.hint and str(caught.value)


def test_refusal_names_the_setting() -> None:
    with pytest.raises(UrlRefused) as caught:
        webhooks.check_url("https://cmms.example.com/x", LOOPBACK, setting="TVILLING_WEBHOOK_ALLOWED_HOSTS")
    assert "TVILLING_WEBHOOK_ALLOWED_HOSTS" in caught.value.hint and "cmms.example.com" in str(caught.value)


@pytest.mark.parametrize("entry", ["cmms.example.com:44x", "https://cmms.example.com", "[::1]:x", "[::1",
                                   "host:0", "host:70000", "cmms.example.com/hooks", "user@host", ""])
def test_malformed_allow_list_entries_are_refused_not_widened(entry: str) -> None:
    with pytest.raises(ValueError):
        webhooks.parse_allowed(entry)


def test_well_formed_allow_list_entries() -> None:
    assert webhooks.parse_allowed("CMMS.example.com:8443") == ("cmms.example.com", 8443)
    assert webhooks.parse_allowed("[::1]:9000") == ("::1", 9000) and webhooks.parse_allowed("::1") == ("::1", None)
    assert webhooks.parse_allowed("127.0.0.1") == ("127.0.0.1", None)


def test_the_refusal_does_not_disclose_the_allow_list() -> None:
    with pytest.raises(UrlRefused) as caught:
        webhooks.check_url("https://cmms.example.com/x", ["secret-host.internal:9000"], setting="S")
    assert "secret-host" not in str(caught.value) + caught.value.hint


def test_a_receiver_that_trickles_its_answer_is_cut_off_by_one_limit_per_attempt() -> None:
    """httpx's timeout is per phase: a receiver sending a byte every 0.2 s never trips it. The sender's limit
    covers the whole attempt."""
    import asyncio
    import socket
    import threading
    import time

    from tvilling.adapters.webhook_http import WebhookSender

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]

    def trickle() -> None:
        conn, _ = server.accept()
        conn.recv(65536)
        for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 100:
            try:
                conn.sendall(bytes([byte]))
            except OSError:
                break
            time.sleep(0.2)
        conn.close()

    threading.Thread(target=trickle, daemon=True).start()

    async def attempt() -> tuple[Any, float]:
        sender = WebhookSender(1.0)
        began = time.monotonic()
        try:
            return await sender.post(f"http://127.0.0.1:{port}/h", b"{}", {}), time.monotonic() - began
        finally:
            await sender.aclose()

    answer, took = asyncio.run(attempt())
    server.close()
    assert not answer.ok and answer.error == "no answer within 1 s" and took < 2.0
