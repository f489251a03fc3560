"""A database outage answers 503 + Retry-After (never a 500) and /health reports degraded; service resumes.

On PostgreSQL with a real server stop and start (reliability G3: serving again within 10 s of the restart)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import dtdl_samples
from tests.support.platform import ApiRig, api_rig
from tests.support.postgres import PostgresCluster, _as_postgres, postgres_cluster
from tests.support.services import unavailable
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


def _pg_ctl(cluster: PostgresCluster, *args: str) -> None:
    _as_postgres([os.path.join(cluster.bindir, "pg_ctl"), "-D", cluster.datadir, *args])


def _restart_options(cluster: PostgresCluster) -> str:
    # The same settings tests/support/postgres.py starts the cluster with (pg_ctl start does not remember them).
    sockdir = os.path.join(os.path.dirname(cluster.datadir), "sock")
    return (f"-c listen_addresses=127.0.0.1 -c port={cluster.port} -c unix_socket_directories={sockdir} "
            "-c fsync=on -c synchronous_commit=on -c max_connections=200 -c shared_buffers=128MB")


def _start(cluster: PostgresCluster) -> None:
    # -l matters: without a log file the server inherits pg_ctl's captured pipes and the call never returns.
    _pg_ctl(cluster, "-o", _restart_options(cluster), "-l", os.path.join(os.path.dirname(cluster.datadir), "log"),
            "-w", "-t", "60", "start")


def _no_internals(r: Any) -> None:
    assert r.headers["content-type"].startswith("application/problem+json")
    text = r.text.lower()
    assert "traceback" not in text and "psycopg" not in text and "127.0.0.1" not in text and "sqlalchemy" not in text


@pytest.fixture
def own_cluster() -> Iterator[PostgresCluster]:
    """A cluster of this test's own: stopping the session cluster would disturb every other PostgreSQL test."""
    try:
        with postgres_cluster() as cluster:
            yield cluster
    except (RuntimeError, OSError) as exc:
        unavailable(f"PostgreSQL could not be started: {exc}")


def test_postgresql_restart_503_while_down_then_serving_within_10_s(own_cluster: PostgresCluster) -> None:
    """G3: 503 problem+json with Retry-After (never another 5xx, never internals) while the database is down, and
    reads and writes served again within 10 s of it coming back — without pool_pre_ping on every request."""
    url = own_cluster.create_database("outage")
    with api_rig(url) as rig:
        assert rig.call("PUT", "/api/v1/twins/r1", json=dtdl_samples.room()).status_code == 201
        assert rig.call("GET", "/api/v1/twins/r1").status_code == 200
        assert rig.call("GET", "/api/v1/twins/r1", role=Role.VIEWER).status_code == 200  # both tokens cached

        _pg_ctl(own_cluster, "-m", "fast", "-w", "stop")
        down = [rig.call("GET", "/api/v1/twins/r1"),
                rig.call("PATCH", "/api/v1/twins/r1", json=[{"op": "replace", "path": "/temperature", "value": 1}]),
                rig.call("PUT", "/api/v1/twins/r2", json=dtdl_samples.room()),
                rig.call("POST", "/api/v1/query", json={"query": "SELECT * FROM DIGITALTWINS"}),
                rig.call("GET", "/api/v1/twins/r1", role=Role.VIEWER)]
        for r in down:
            assert r.status_code == 503, (r.request.method, r.request.url, r.status_code, r.text[:300])
            assert int(r.headers["retry-after"]) >= 1 and r.json()["type"].endswith("unavailable")
            _no_internals(r)
        health = rig.client.get("/health")
        assert health.status_code == 503 and health.json()["status"] == "degraded"

        _start(own_cluster)
        started = time.monotonic()
        statuses: list[int] = []
        while True:
            r = rig.call("GET", "/api/v1/twins/r1")
            statuses.append(r.status_code)
            if r.status_code == 200:
                break
            assert r.status_code == 503, r.text[:300]
            _no_internals(r)
            assert time.monotonic() - started < 10, statuses
            time.sleep(0.1)
        recovered_s = time.monotonic() - started
        assert recovered_s < 10
        # Writes (group commit) and the other token's reads are back too, without further errors.
        patched = rig.call("PATCH", "/api/v1/twins/r1", json=[{"op": "replace", "path": "/temperature", "value": 2}])
        assert patched.status_code == 200, patched.text[:300]
        assert rig.call("PUT", "/api/v1/twins/r2", json=dtdl_samples.room()).status_code == 201
        assert rig.call("GET", "/api/v1/twins/r1", role=Role.VIEWER).json()["temperature"] == 2
        assert rig.client.get("/health").json()["status"] == "ok"

        # A restart nobody noticed: every pooled connection is now stale. Each kind of request recovers on its own
        # (the twin read and group-committed writes retry on a fresh connection; others answer 503 once).
        _pg_ctl(own_cluster, "-m", "fast", "-w", "stop")
        _start(own_cluster)
        started = time.monotonic()
        seen: dict[str, list[int]] = {}
        for name, call in [
            ("read", lambda: rig.call("GET", "/api/v1/twins/r1")),
            ("patch", lambda: rig.call("PATCH", "/api/v1/twins/r1",
                                       json=[{"op": "replace", "path": "/temperature", "value": 3}])),
            ("query", lambda: rig.call("POST", "/api/v1/query", json={"query": "SELECT COUNT() FROM DIGITALTWINS"})),
            ("list", lambda: rig.call("GET", "/api/v1/twins", role=Role.VIEWER)),
        ]:
            codes = seen.setdefault(name, [])
            while True:
                r = call()
                codes.append(r.status_code)
                if r.status_code == 200:
                    break
                assert r.status_code == 503, (name, r.text[:300])
                _no_internals(r)
                assert time.monotonic() - started < 10, seen
                time.sleep(0.1)
        stale_recovered_s = time.monotonic() - started
        assert seen["read"] == [200] and seen["patch"] == [200]  # no caller saw the restart on these paths
    print(json.dumps({"pg_restart_recovered_s": round(recovered_s, 2), "statuses_after_start": statuses,
                      "stale_pool_recovered_s": round(stale_recovered_s, 2), "stale_pool_statuses": seen}))
