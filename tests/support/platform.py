"""Build a platform for API tests: a FastAPI app on a fresh database, with tokens per role in two tenants."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from pydantic import SecretStr

from tests.support import dtdl_samples
from tests.support.postgres import PostgresCluster
from tests.support.services import unavailable
from tvilling.bootstrap import Platform, build_platform
from tvilling.core.roles import Role
from tvilling.settings import Settings

TENANTS = ("acme", "globex")


@dataclass
class ApiRig:
    platform: Platform
    client: TestClient
    tokens: dict[tuple[str, Role], str] = field(default_factory=dict)

    def headers(self, tenant: str = "acme", role: Role = Role.ADMIN) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[(tenant, role)]}"}

    def call(self, method: str, path: str, *, tenant: str = "acme", role: Role = Role.ADMIN,
             **kwargs: Any) -> Any:
        headers = {**self.headers(tenant, role), **kwargs.pop("headers", {})}
        return self.client.request(method, path, headers=headers, **kwargs)


def database_url(backend: str, tmp: Path, pg_cluster: PostgresCluster | None) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp / ('t-' + uuid.uuid4().hex[:8] + '.db')}"
    if pg_cluster is None:
        unavailable("PostgreSQL could not be started (see tests/support/postgres.py)")
    assert pg_cluster is not None
    return pg_cluster.create_database("t_" + uuid.uuid4().hex[:12])


@contextmanager
def api_rig(db_url: str, *, seed_models: bool = True, **settings: Any) -> Iterator[ApiRig]:
    # dashboard=False: these tests exercise the REST API; the dashboard has its own suite. Files the platform makes
    # in its data directory (the webhook signing key) go to a temporary one, not the checkout's ./data.
    scratch = tempfile.TemporaryDirectory(prefix="tvilling-rig-")
    settings.setdefault("data_dir", Path(scratch.name))
    platform = build_platform(Settings(db=SecretStr(db_url), **settings), announce=lambda _text: None, dashboard=False)
    rig = ApiRig(platform=platform, client=TestClient(platform.app, raise_server_exceptions=False))
    for tenant in TENANTS:
        for role in Role:
            rig.tokens[(tenant, role)] = platform.services.tokens.create(tenant, role, f"{tenant}-{role}").token
    if seed_models:
        for tenant in TENANTS:
            r = rig.call("POST", "/api/v1/models", tenant=tenant, json=dtdl_samples.models())
            assert r.status_code == 201, r.text
    try:
        with rig.client:
            yield rig
    finally:
        platform.close()
        scratch.cleanup()


@contextmanager
def live_server(app: Any, **config: Any) -> Iterator[str]:
    """Serve an app with uvicorn on a free loopback port in a background thread; yields its base URL. ``config``:
    more uvicorn settings (``ws_max_size``, …)."""
    import threading
    import time

    import uvicorn

    from tests.support.services import free_port

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on",
                                           **config))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
