"""A database outage answers 503 + Retry-After (never a 500) and /health reports degraded; service resumes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.platform import ApiRig, api_rig
from tvilling.core.roles import Role


@pytest.fixture
def sqlite_rig(tmp_path: Path) -> Iterator[ApiRig]:
    with api_rig(f"sqlite:///{tmp_path / 'outage.db'}", seed_models=False) as rig:
        yield rig


def test_database_outage_is_503_with_retry_after(sqlite_rig: ApiRig) -> None:
    from tvilling.adapters.sql.engine import make_engine

    store = sqlite_rig.platform.services.store
    healthy = store.engine
    store.engine = make_engine("postgresql://tv@127.0.0.1:1/down")  # nothing listens on port 1
    try:
        r = sqlite_rig.call("GET", "/api/v1/twins/x", role=Role.VIEWER)  # token check or read: both need the DB
        assert r.status_code == 503 and int(r.headers["retry-after"]) >= 1
        assert r.json()["type"].endswith("unavailable")
        health = sqlite_rig.client.get("/health")
        assert health.status_code == 503 and health.json()["status"] == "degraded"
    finally:
        store.engine.dispose()
        store.engine = healthy
    assert sqlite_rig.client.get("/health").json()["status"] == "ok"
