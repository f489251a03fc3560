"""Continuation tokens, page-size caps and bearer tokens (hash-only storage, revocation)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tvilling.adapters.sql.engine import make_engine
from tvilling.adapters.sql.migrate import check_version
from tvilling.adapters.sql.store import SqlStore
from tvilling.app import paging
from tvilling.app.auth import TokenService
from tvilling.core.errors import AuthenticationError, ValidationError
from tvilling.core.roles import Role
from tvilling.ports.clock import SystemClock


def test_continuation_round_trip_and_tamper_detection() -> None:
    token = paging.encode(["src", "rel"])
    assert paging.decode(token) == ["src", "rel"]
    body, _, check = token.partition(".")
    for bad in (body + "x." + check, body, "", "." + check, token[:-1] + ("0" if token[-1] != "0" else "1")):
        with pytest.raises(ValidationError):
            paging.decode(bad)
    with pytest.raises(ValidationError):
        paging.decode_str(token)  # a list where a string is expected
    assert paging.decode(None) is None


def test_page_size_is_capped() -> None:
    assert paging.clamp(None, 100, 1000) == 100
    assert paging.clamp(10**9, 100, 1000) == 1000
    assert paging.clamp(0, 100, 1000) == 1


@pytest.fixture
def tokens(tmp_path: Path) -> Iterator[TokenService]:
    engine = make_engine(f"sqlite:///{tmp_path / 't.db'}")
    check_version(engine, auto_migrate=True)
    store = SqlStore(engine)
    yield TokenService(store, SystemClock(), cache_ttl_s=0.0)
    store.dispose()


def test_tokens_store_only_a_hash(tokens: TokenService) -> None:
    issued = tokens.create("acme", Role.OPERATOR, "ci")
    prefix, token_id, secret = issued.token.split("_")
    assert prefix == "tvl" and token_id == issued.id and len(secret) == 48
    record = tokens.list("acme")[0]
    assert secret not in repr(record) and record.secret_hash != secret and len(record.secret_hash) == 64
    principal = tokens.verify(issued.token)
    assert (principal.tenant, principal.role) == ("acme", Role.OPERATOR)


def test_bad_tokens_are_refused(tokens: TokenService) -> None:
    issued = tokens.create("acme", Role.VIEWER)
    wrong_secret = issued.token[:-1] + ("0" if issued.token[-1] != "0" else "1")
    for bad in (None, "", "tvl_x_y", wrong_secret, "tvl_" + "0" * 16 + "_" + "0" * 48):
        with pytest.raises(AuthenticationError):
            tokens.verify(bad)
    tokens.revoke("acme", issued.id)
    with pytest.raises(AuthenticationError):
        tokens.verify(issued.token)


def test_first_start_creates_one_admin_once(tokens: TokenService) -> None:
    first = tokens.first_start()
    assert first is not None and first.role is Role.ADMIN and first.tenant == "default"
    assert tokens.first_start() is None
    with pytest.raises(ValidationError):
        tokens.create("Bad Tenant!", Role.VIEWER)
