"""Shared fixtures. ``db_url`` runs a test on SQLite and on a real PostgreSQL cluster started for the session."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.postgres import PostgresCluster, postgres_cluster
from tests.support.services import unavailable

# No library may phone home from tests (house rule 7).
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("SCHEMATHESIS_TELEMETRY", "false")

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SHARED = PROJECT_ROOT.parent / "shared"


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PostgresCluster | None]:
    try:
        with postgres_cluster() as cluster:
            yield cluster
    except (RuntimeError, OSError) as exc:  # reported per test through ``unavailable``
        yield None
        del exc


@pytest.fixture
def pg_url(pg_cluster: PostgresCluster | None) -> str:
    if pg_cluster is None:
        unavailable("PostgreSQL could not be started (see tests/support/postgres.py)")
    assert pg_cluster is not None
    return pg_cluster.create_database("t_" + uuid.uuid4().hex[:12])


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same test on both backends (issue 2: one suite, two stores)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'tvilling.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture(scope="session")
def thermal_zone_fmus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The example thermal-zone FMU built with gcc, FMI 2.0 and 3.0 (``tests/support/fmus.py``)."""
    from tests.support.fmus import build_thermal_zone

    return build_thermal_zone(tmp_path_factory.mktemp("fmus"))
