"""The RUL training-job queue: the fit runs in a child process, so a fit that dies fails its job and nothing else;
the next job still runs and registers its version."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from tests.unit.ml.rul.fleet import make_fleet
from tvilling.adapters.sql.engine import make_engine
from tvilling.adapters.sql.migrate import check_version
from tvilling.adapters.sql.store import SqlStore
from tvilling.app.offline_rul import HistoryOptions, TrainSettings
from tvilling.app.registry import registry_for
from tvilling.app.rul_jobs import RulJob, RulJobs
from tvilling.app.services import Services
from tvilling.core.context import Context


def die(*_args: Any, **_kwargs: Any) -> Any:
    """A fit that ends its process abruptly, as a crash in native code or the OOM killer would."""
    os._exit(3)


@pytest.fixture
def services(tmp_path: Path) -> Services:
    engine = make_engine(f"sqlite:///{tmp_path / 'jobs.db'}", profile="durable")
    check_version(engine, auto_migrate=True)
    return Services.build(SqlStore(engine))


def wait(job: RulJob, timeout: float = 120.0) -> RulJob:
    deadline = time.monotonic() + timeout
    while job.status in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.1)
    return job


def test_a_dying_fit_fails_its_job_only(services: Services) -> None:
    data = make_fleet(6, seed=71)[0].to_csv(index=False).encode()
    crashing = RulJobs(services.store, lambda: registry_for(services), services.clock, fit=die)
    job = wait(crashing.submit("t", "fleet", data, HistoryOptions(), TrainSettings(folds=2), Context.new()))
    assert job.status == "failed" and "ended unexpectedly" in (job.error or ""), job
    assert registry_for(services).list_models("t") == []  # nothing half-trained is registered

    jobs = RulJobs(services.store, lambda: registry_for(services), services.clock)
    done = wait(jobs.submit("t", "fleet", data, HistoryOptions(), TrainSettings(folds=2), Context.new(),
                            promote=True))
    assert done.status == "succeeded" and done.version == 1, done
    assert registry_for(services).production("t", "fleet") is not None
    # Records are rows: another process (here a second queue on the same database) sees both jobs.
    again = RulJobs(services.store, lambda: registry_for(services), services.clock)
    assert [j.id for j in again.list("t")] == [done.id, job.id] and again.list("other") == []
    assert again.get("t", done.id).version == 1 and again.get("t", job.id).status == "failed"


def test_a_job_whose_process_stopped_reads_as_interrupted(services: Services) -> None:
    from datetime import timedelta

    import sqlalchemy as sa

    from tvilling.adapters.sql.schema_registry import ml_jobs

    jobs = RulJobs(services.store, lambda: registry_for(services), services.clock)
    now = services.clock.now()
    with services.store.write() as tx:  # as a server that stopped mid-fit left it
        tx.conn.execute(sa.insert(ml_jobs).values(
            tenant="t", id="j-old", name="fleet", status="running", promote=False, created_by="x",
            created_at=now - timedelta(minutes=10), started_at=now - timedelta(minutes=9),
            heartbeat_at=now - timedelta(minutes=5), summary={}))
        tx.conn.execute(sa.insert(ml_jobs).values(
            tenant="t", id="j-live", name="fleet", status="running", promote=False, created_by="x",
            created_at=now, started_at=now, heartbeat_at=now, summary={}))
    old = jobs.get("t", "j-old")
    assert old.status == "failed" and (old.error or "").startswith("interrupted")
    assert jobs.get("t", "j-live").status == "running"  # its heartbeat is fresh: another process holds it
