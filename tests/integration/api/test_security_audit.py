"""Security events in the audit trail (reliability S-15) on SQLite and PostgreSQL: every 401 and 403 the API
answers and every refused WebSocket is counted into a hash-chained audit record — the caller's tenant when it is
known, the ``_security`` chain when not — and the counts add up to exactly the denials sent; a scan becomes a few
records, not one per request; no token secret is ever written; the chains still verify."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from starlette.websockets import WebSocketDisconnect

from tests.support.platform import ApiRig, api_rig
from tvilling.adapters.sql.audit_repo import SqlAuditRepo
from tvilling.app.security_audit import SECURITY_TENANT, Denial, SecurityAudit
from tvilling.core.errors import AuthenticationError
from tvilling.core.roles import Role

BAD_SECRET = "tvl_0123456789abcdef_" + "9" * 48


@pytest.fixture
def rig(db_url: str) -> Iterator[ApiRig]:
    with api_rig(db_url, seed_models=False) as r:
        yield r


def _records(rig: ApiRig, tenant: str) -> list[dict[str, Any]]:
    rig.platform.app.state.security.flush()
    with rig.platform.store.read() as tx:
        return [r.as_dict() for r in SqlAuditRepo(tx.conn).records(tenant) if r.category == "security"]


def _count(records: list[dict[str, Any]], action: str | None = None) -> int:
    return sum(r["detail"]["count"] for r in records if action is None or r["action"] == action)


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

    unknown = _records(rig, SECURITY_TENANT)
    assert _count(unknown, "auth.failed") == sent_401
    # no token, an unknown token, a foreign origin (refused before the token is looked at: no tenant known)
    assert _count(unknown, "websocket.refused") == 3
    acme = _records(rig, "acme")
    assert _count(acme, "access.denied") == sent_403_acme and _count(acme) == sent_403_acme
    assert _count(_records(rig, "globex")) == 1
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
    records = _records(rig, SECURITY_TENANT)
    assert _count(records) == 60 and len(records) <= 2  # one per flush window at most, here
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
        records = _records(rig, SECURITY_TENANT)
    assert _count(records, "auth.failed") == 10
    assert {r["detail"]["reason"] for r in records} == {
        "invalid or revoked token", "invalid or revoked token (answered 429: too many from this address)"}
