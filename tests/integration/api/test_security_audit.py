"""Security events in the audit trail (reliability S-15) on SQLite and PostgreSQL: every 401, 403 and 429 the API
answers, every refused WebSocket and every WebSocket closed for a too-large message or too many messages is counted
into a hash-chained audit record — the caller's tenant when it is known, the ``_security`` chain when not — and the
counts add up to exactly the denials sent; a scan becomes a few records, not one per request; no token secret is
ever written; the chains still verify. (Refused webhook targets: test_event_routes.py; MQTT identities:
ingest/test_platform_mqtt.py; OPC UA: ingest/test_opcua.py.)"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from starlette.websockets import WebSocketDisconnect

from tests.support.platform import ApiRig, api_rig, live_server
from tests.support.security import denials, security_records
from tvilling.adapters.sql.audit_repo import SqlAuditRepo
from tvilling.app.security_audit import SECURITY_TENANT, Denial, SecurityAudit
from tvilling.core.errors import AuthenticationError
from tvilling.core.roles import Role

BAD_SECRET = "tvl_0123456789abcdef_" + "9" * 48


@pytest.fixture
def rig(db_url: str) -> Iterator[ApiRig]:
    with api_rig(db_url, seed_models=False) as r:
        yield r


def test_every_denial_is_counted_once_in_the_right_chain(rig: ApiRig) -> None:
    sent_401 = 0
    for _ in range(7):  # no credentials
        assert rig.client.get("/api/v1/twins").status_code == 401
        sent_401 += 1
    for headers in ({"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "Bearer not-a-token"},
                    {"Authorization": f"Bearer {BAD_SECRET}"}):  # not bearer, malformed, unknown
        for _ in range(3):
            assert rig.client.get("/api/v1/models", headers=headers).status_code == 401
            sent_401 += 1
    for query, headers in (("", {}), (f"?access_token={BAD_SECRET}", {}),
                           (f"?access_token={rig.tokens[('acme', Role.VIEWER)]}", {"Origin": "https://evil.example"})):
        with pytest.raises(WebSocketDisconnect), rig.client.websocket_connect("/api/v1/events" + query,
                                                                               headers=headers) as ws:
            ws.receive_json()
    sent_403_acme = 0
    for _ in range(4):  # a viewer where an engineer is needed; an operator where an admin is
        assert rig.call("GET", "/api/v1/audit", role=Role.VIEWER).status_code == 403
        assert rig.call("POST", "/api/v1/tokens", role=Role.OPERATOR, json={"role": "viewer"}).status_code == 403
        sent_403_acme += 2
    assert rig.call("GET", "/api/v1/audit", tenant="globex", role=Role.VIEWER).status_code == 403
    assert rig.call("GET", "/api/v1/twins", role=Role.VIEWER).status_code == 200  # allowed: not a denial

    unknown = security_records(rig.platform, SECURITY_TENANT)
    assert denials(unknown, "auth.failed") == sent_401
    # no token, an unknown token, a foreign origin (refused before the token is looked at: no tenant known)
    assert denials(unknown, "websocket.refused") == 3
    acme = security_records(rig.platform, "acme")
    assert denials(acme, "access.denied") == sent_403_acme and denials(acme) == sent_403_acme
    assert denials(security_records(rig.platform, "globex")) == 1
    # A scan is a handful of records, each with what S-15 asks for: time, source, category, type, event id, result.
    assert len(unknown) <= 8
    first = next(r for r in unknown if r["detail"].get("claimedTokenIds") == ["0123456789abcdef"]
                 and r["action"] == "auth.failed")
    assert first["actor"] == "anonymous"  # a claimed id is what the caller says: a sample, never the key
    assert first["detail"]["count"] == 3 and first["detail"]["reason"] == "invalid or revoked token"
    assert {"first", "last", "source", "eventId", "status", "path", "method"} <= first["detail"].keys()
    assert first["detail"]["result"] == "denied" and first["category"] == "security"
    assert first["detail"]["path"] == "/api/v1/models" and first["detail"]["source"] == "testclient"
    denied = next(r for r in acme if r["action"] == "access.denied" and r["detail"]["path"] == "/api/v1/audit")
    viewer_id = rig.platform.services.tokens.verify(rig.tokens[("acme", Role.VIEWER)]).token_id
    assert denied["actor"] == f"token:{viewer_id}" and denied["detail"]["status"] == 403
    # No secret reaches the trail (S-13): token ids only.
    text = json.dumps([*unknown, *acme])
    assert "9" * 48 not in text and all(t.split("_")[-1] not in text for t in rig.tokens.values())
    # Readable offline, without a server or a tenant token: `tvilling audit list --database URL --tenant _security`.
    from typer.testing import CliRunner

    from tvilling.cli.main import app

    listed = CliRunner().invoke(app, ["audit", "list", "--database", rig.platform.settings.db.get_secret_value(),
                                      "--tenant", SECURITY_TENANT, "--category", "security", "--json"])
    assert listed.exit_code == 0, listed.output
    assert sum(r["detail"]["count"] for r in json.loads(listed.stdout.strip().splitlines()[-1])["value"]) == \
        sent_401 + 3
    # The chains still verify, the security records included.
    for tenant in (SECURITY_TENANT, "acme", "globex"):
        with rig.platform.store.read() as tx:
            assert SqlAuditRepo(tx.conn).verify(tenant).ok


def test_a_scan_with_invented_token_ids_is_a_few_records(rig: ApiRig) -> None:
    import secrets

    for _ in range(60):
        fake = f"tvl_{secrets.token_hex(8)}_{secrets.token_hex(24)}"
        assert rig.client.get("/api/v1/twins", headers={"Authorization": f"Bearer {fake}"}).status_code == 401
    records = security_records(rig.platform, SECURITY_TENANT)
    assert denials(records) == 60 and len(records) <= 2  # one per flush window at most, here
    assert all(len(r["detail"]["claimedTokenIds"]) <= 5 for r in records)


def test_nothing_is_dropped_past_the_group_limit_and_a_failed_flush_is_retried() -> None:
    written: list[tuple[str, list[Any]]] = []

    class Store:
        fail = True

        def write(self) -> Any:
            store = self

            class Tx:
                conn = None

                def __enter__(self) -> Any:
                    if store.fail:
                        raise OSError("database down")
                    return self

                def __exit__(self, *exc: Any) -> None:
                    return None

            return Tx()

    clock = SimpleNamespace(now=lambda: datetime(2026, 11, 24, tzinfo=UTC))
    audit = SecurityAudit(Store(), clock, max_groups=3)
    for i in range(10):
        audit.record(Denial("auth.failed", SECURITY_TENANT, f"10.0.0.{i}", "anonymous", "GET", "/x", 401, "no"))
    with pytest.raises(OSError):
        audit.flush()  # the counts are kept for the next window
    assert audit.recorded == 10
    Store.fail = False
    import tvilling.app.security_audit as mod

    class Repo:
        def __init__(self, _conn: Any) -> None:
            pass

        def lock(self, _tenant: str) -> None:
            return None

        def append(self, tenant: str, entries: list[Any]) -> None:
            written.append((tenant, entries))

    original = mod.SqlAuditRepo
    mod.SqlAuditRepo = Repo  # type: ignore[misc,assignment]
    try:
        assert audit.flush() == 4  # three sources one by one, the other seven together
    finally:
        mod.SqlAuditRepo = original  # type: ignore[misc]
    entries = written[0][1]
    assert sum(e.detail["count"] for e in entries) == 10
    assert [e.detail["count"] for e in entries if e.detail["source"] == "*"] == [7]


def test_a_failed_dashboard_sign_in_is_counted() -> None:
    from tvilling.dashboard.context import Dashboard

    recorded: list[Denial] = []
    tokens = SimpleNamespace(verify=lambda _t: (_ for _ in ()).throw(AuthenticationError("malformed token")))
    board = Dashboard(services=SimpleNamespace(tokens=tokens), alarms=None, hub=None,  # type: ignore[arg-type]
                      app_state=SimpleNamespace(security=SimpleNamespace(record=recorded.append)))
    with pytest.raises(AuthenticationError):
        board.login("browser-1", "  guess  ", source="10.1.2.3")
    assert recorded == [Denial("dashboard.signin_failed", SECURITY_TENANT, "10.1.2.3", "anonymous", "POST",
                               "/ui/login", 401, "malformed token")]


def test_failed_logins_answered_429_are_still_counted(tmp_path: Any) -> None:
    with api_rig(f"sqlite:///{tmp_path / 'rl.db'}", seed_models=False, rate_limit_enabled=True,
                 rate_limit_anonymous_per_s=0.001, rate_limit_anonymous_burst=3) as rig:
        codes = [rig.client.get("/api/v1/twins", headers={"Authorization": f"Bearer {BAD_SECRET}"}).status_code
                 for _ in range(10)]
        assert codes == [401] * 3 + [429] * 7
        records = security_records(rig.platform, SECURITY_TENANT)
    assert denials(records, "auth.failed") == 10
    assert {r["detail"]["reason"] for r in records} == {
        "invalid or revoked token", "invalid or revoked token (answered 429: too many from this address)"}


def test_every_429_is_counted_once_in_the_right_chain(db_url: str) -> None:
    with api_rig(db_url, seed_models=False, rate_limit_token_per_s=0.001, rate_limit_token_burst=3,
                 rate_limit_anonymous_per_s=0.001, rate_limit_anonymous_burst=2) as rig:
        routed = [rig.call("GET", "/api/v1/twins", role=Role.VIEWER).status_code for _ in range(5)]
        # GET /twins/{id} goes through the read fast lane first (api/fastlane.py): still one 429, counted once
        fast = [rig.call("GET", "/api/v1/twins/pump-1", role=Role.VIEWER).status_code for _ in range(2)]
        other = [rig.call("GET", "/api/v1/twins", tenant="globex", role=Role.OPERATOR).status_code for _ in range(4)]
        health = [rig.client.get("/health").status_code for _ in range(4)]  # public: limited per address
        logins = [rig.client.get("/api/v1/twins", headers={"Authorization": f"Bearer {BAD_SECRET}"}).status_code
                  for _ in range(3)]  # the address is over its limit: 429s, counted as failed logins only
        assert routed == [200] * 3 + [429] * 2 and fast == [429] * 2 and other == [200] * 3 + [429]
        assert health == [200, 200, 429, 429] and logins == [429] * 3
        acme, globex, unknown = (security_records(rig.platform, t) for t in ("acme", "globex", SECURITY_TENANT))
        viewer = rig.platform.services.tokens.verify(rig.tokens[("acme", Role.VIEWER)]).token_id
    assert denials(acme, "rate.limited") == 4 == denials(acme)
    assert {r["actor"] for r in acme} == {f"token:{viewer}"} and {r["detail"]["status"] for r in acme} == {429}
    assert {r["detail"]["path"] for r in acme} == {"/api/v1/twins", "/api/v1/twins/{twin_id}"}
    assert denials(globex, "rate.limited") == 1 == denials(globex)
    assert denials(unknown, "rate.limited") == 2 and denials(unknown, "auth.failed") == 3 and denials(unknown) == 5
    assert next(r for r in unknown if r["action"] == "rate.limited")["detail"]["path"] == "/health"


def _socket(rig: ApiRig, role: Role = Role.VIEWER) -> Any:
    return rig.client.websocket_connect(f"/api/v1/events?access_token={rig.tokens[('acme', role)]}")


def test_websocket_closes_for_size_and_rate_are_counted(db_url: str) -> None:
    """The handler's own limits (the test client, like `tvilling demo`'s uvicorn, enforces no size of its own)."""
    with api_rig(db_url, seed_models=False, ws_max_message_bytes=2048, ws_messages_per_s=0.001,
                 ws_message_burst=3) as rig:
        codes = []
        for big in ("x" * 2049, "é" * 1500, b"\0" * 4096):  # text over the limit in characters, in bytes; binary
            with _socket(rig) as ws:
                if isinstance(big, bytes):
                    ws.send_bytes(big)
                else:
                    ws.send_text(big)
                with pytest.raises(WebSocketDisconnect) as closed:
                    ws.receive_json()
                codes.append(closed.value.code)
        subscribe = json.dumps({"type": "subscribe", "kinds": ["twin"]})
        for _ in range(2):  # a flood: three answered, the fourth closes the connection
            with _socket(rig, Role.OPERATOR) as ws:
                for _ in range(4):
                    ws.send_text(subscribe)
                assert [ws.receive_json()["type"] for _ in range(3)] == ["subscribed"] * 3
                with pytest.raises(WebSocketDisconnect) as closed:
                    ws.receive_json()
                codes.append(closed.value.code)
        with _socket(rig) as ws:  # within the limits, then an ordinary close: not a denial
            ws.send_text("é" * 500)
            assert ws.receive_json()["type"] == "error"
        acme = security_records(rig.platform, "acme")
        operator = rig.platform.services.tokens.verify(rig.tokens[("acme", Role.OPERATOR)]).token_id
    assert codes == [1009] * 3 + [4429] * 2
    closed_for = {r["detail"]["status"]: r for r in acme if r["action"] == "websocket.closed"}
    assert denials(acme, "websocket.closed") == 5 == denials(acme)
    assert closed_for[413]["detail"]["count"] == 3 and closed_for[413]["detail"]["reason"].startswith("closed 1009")
    assert closed_for[429]["detail"]["count"] == 2 and closed_for[429]["actor"] == f"token:{operator}"
    assert closed_for[429]["detail"]["method"] == "WEBSOCKET" and closed_for[429]["detail"]["path"] == "/api/v1/events"


def test_a_frame_uvicorn_refuses_is_counted(tmp_path: Any) -> None:
    """Served as by `tvilling serve`: uvicorn enforces the size itself and fails the connection with 1009 before the
    frame is read; the handler sees only that disconnect, and counts it."""
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    with api_rig(f"sqlite:///{tmp_path / 'ws.db'}", seed_models=False, ws_max_message_bytes=4096) as rig, \
            live_server(rig.platform.app, ws_max_size=4096) as url:
        token = rig.tokens[("acme", Role.VIEWER)]
        for _ in range(3):
            with connect(f"ws{url[4:]}/api/v1/events?access_token={token}") as ws:
                ws.send("x" * 2_000_000)  # S-08's 2 MB frame
                with pytest.raises(ConnectionClosed) as closed:
                    ws.recv(timeout=5)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
        deadline = time.monotonic() + 5  # the handler runs on the server's loop: it may count a moment later
        while denials(security_records(rig.platform, "acme")) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        records = security_records(rig.platform, "acme")
    assert denials(records, "websocket.closed") == 3 == denials(records)
    assert {r["detail"]["reason"] for r in records} == {"closed 1009: a message over 4096 bytes"}
