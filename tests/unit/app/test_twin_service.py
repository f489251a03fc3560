"""TwinService used in-process (as ingestion does): property updates with source time and quality metadata."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.support import dtdl_samples
from tvilling.adapters.sql.engine import make_engine
from tvilling.adapters.sql.migrate import check_version
from tvilling.adapters.sql.store import SqlStore
from tvilling.app.services import Services
from tvilling.app.twins import PropertyUpdate
from tvilling.core.context import Context
from tvilling.core.errors import NotFoundError, ValidationError
from tvilling.core.events import Event


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    engine = make_engine(f"sqlite:///{tmp_path / 's.db'}")
    check_version(engine, auto_migrate=True)
    svc = Services.build(SqlStore(engine))
    svc.models.upload("t", dtdl_samples.models(), Context.new("test"))
    svc.twins.put("t", "r1", dtdl_samples.room(), Context.new("test"))
    yield svc
    svc.store.dispose()


def test_update_properties_records_source_time_and_quality(services: Services) -> None:
    seen: list[Event] = []
    services.bus.listen(seen.append)
    source = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    parent = Context.new("mqtt")
    doc = services.twins.update_properties(
        "t", "r1", {"temperature": PropertyUpdate(23.5, source, "good"),
                    "thermostat/setpoint": PropertyUpdate(19.0, source, "uncertain")}, parent.child())
    assert doc["temperature"] == 23.5 and doc["thermostat"]["setpoint"] == 19.0
    assert doc["$metadata"]["temperature"]["sourceTime"] == "2026-05-01T12:00:00Z"
    assert doc["$metadata"]["temperature"]["quality"] == "good"
    assert doc["thermostat"]["$metadata"]["setpoint"]["quality"] == "uncertain"
    assert services.twins.get("t", "r1") == doc
    assert [e.kind for e in seen] == ["twin.updated"] and seen[0].parent_id == parent.id
    with pytest.raises(ValidationError):
        services.twins.update_properties("t", "r1", {"temperature": PropertyUpdate("hot")}, Context.new())
    with pytest.raises(NotFoundError):
        services.twins.update_properties("other-tenant", "r1", {"temperature": PropertyUpdate(1.0)}, Context.new())
