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
    crashing = RulJobs(lambda: registry_for(services), services.clock, fit=die)
    job = wait(crashing.submit("t", "fleet", data, HistoryOptions(), TrainSettings(folds=2), Context.new()))
    assert job.status == "failed" and "ended unexpectedly" in (job.error or ""), job
    assert registry_for(services).list_models("t") == []  # nothing half-trained is registered

    jobs = RulJobs(lambda: registry_for(services), services.clock)
    done = wait(jobs.submit("t", "fleet", data, HistoryOptions(), TrainSettings(folds=2), Context.new(),
                            promote=True))
    assert done.status == "succeeded" and done.version == 1, done
    assert registry_for(services).production("t", "fleet") is not None
    assert [j.id for j in jobs.list("t")] == [done.id] and jobs.list("other") == []
