from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.platform import ApiRig, api_rig, database_url


@pytest.fixture
def rig(db_url: str) -> Iterator[ApiRig]:
    """A fresh platform per test, on SQLite and on PostgreSQL."""
    with api_rig(db_url) as r:
        yield r


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def shared_rig(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiRig]:
    """One platform per module and backend, for the large read-mostly matrices."""
    tmp: Path = tmp_path_factory.mktemp("rig")
    url = database_url(request.param, tmp, request.getfixturevalue("pg_cluster"))
    with api_rig(url) as r:
        yield r
