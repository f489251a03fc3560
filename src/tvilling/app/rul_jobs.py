"""Training jobs for fleet RUL models, run by the platform itself and registered in the model registry.

A job takes a history table (run-to-failure histories of a fleet; the format of :mod:`tvilling.app.offline_rul`),
checks it at once (so bad input is refused while the caller waits), then fits the default estimator in a worker
thread and registers the model file as the next version of its name (kind ``rul``, format
``tvilling.rul-lightgbm/1``) with its metrics, training data, parameters and lineage. The version is a candidate
unless the job asked to promote it. Estimates come from :func:`predict_registered`.

Why a job and not one request: a fit takes minutes on a fleet of a hundred units. Jobs run one at a time (each
fit uses one core); at most :data:`MAX_WAITING` wait behind it. The fit itself runs in a child process (spawned
per job): a crash in native code (or the OOM killer) would otherwise take the platform down with it; here it only
fails the job. Measured (bench/bench_rul_jobs.py): request latency during an FD001 fit is the same as idle in
either design, so the process is for isolation, not speed.

Job records are rows of ``ml_jobs`` (the last :data:`MAX_KEPT` per tenant), so a job's outcome survives a
restart. The process holding a queued or running job renews its heartbeat every :data:`HEARTBEAT_S`; a queued
or running row whose heartbeat is older than :data:`STALE_S` belongs to a process that stopped, and reads as
failed ("interrupted"). The table itself is never needed to run a job: the data waits in the process's queue,
so an interrupted job must be submitted again. Nothing half-trained is ever registered.
"""

from __future__ import annotations

import logging
import multiprocessing
import queue
import threading
import weakref
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa

from tvilling.adapters.sql.schema_registry import ml_jobs
from tvilling.app.offline_rul import (
    HistoryOptions,
    TrainSettings,
    fit_model,
    load_model_bytes,
    predict,
    read_histories,
    schema_for,
    sha256_of,
)
from tvilling.app.registry import RegistryService, check_name, registry_for
from tvilling.core.context import Context, new_id
from tvilling.core.errors import ConflictError, NotFoundError, TvillingError, ValidationError
from tvilling.ml.rul import Schema
from tvilling.ml.rul.artifact import RUL_FORMAT
from tvilling.ml.rul.features import check_history
from tvilling.ports.clock import Clock

log = logging.getLogger(__name__)
MAX_WAITING = 4
MAX_KEPT = 100
HEARTBEAT_S = 20.0
STALE_S = 90.0
ACTIVE = ("queued", "running")


@dataclass
class RulJob:
    id: str
    tenant: str
    name: str
    created_by: str
    created_at: datetime
    promote: bool
    status: str = "queued"  # queued -> running -> succeeded | failed
    started_at: datetime | None = None
    finished_at: datetime | None = None
    version: int | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        def iso(t: datetime | None) -> str | None:
            return t.isoformat() if t else None
        return {"id": self.id, "name": self.name, "status": self.status, "promote": self.promote,
                "created_by": self.created_by, "created_at": iso(self.created_at), "started_at": iso(self.started_at),
                "finished_at": iso(self.finished_at), "version": self.version, "summary": self.summary,
                "error": self.error}


@dataclass
class _Work:
    job: RulJob
    frame: pd.DataFrame
    schema: Schema
    settings: TrainSettings
    sha256: str
    context: Context


class RulJobs:
    """The job queue of one platform process: a daemon worker thread fits one job after another; every job's
    record is a row of ``ml_jobs``."""

    def __init__(self, store: Any, registry: Callable[[], RegistryService], clock: Clock,
                 fit: Callable[..., tuple[bytes, dict[str, Any]]] = fit_model) -> None:
        self._store = store
        self._registry = registry
        self._clock = clock
        self._fit_model = fit  # a module-level function: it is sent to the child process by name
        self._mine: set[str] = set()  # ids of the queued and running jobs this process holds
        self._queue: queue.Queue[_Work] = queue.Queue()
        self._lock = threading.Lock()
        self._worker: threading.Thread | None = None

    def submit(self, tenant: str, name: str, raw: bytes, options: HistoryOptions, settings: TrainSettings,
               context: Context, *, promote: bool = False) -> RulJob:
        """Check the table and queue its fit; raises ValidationError (bad input) or ConflictError (queue full)."""
        check_name(name)
        settings.check()
        frame = read_histories(raw, options)
        schema = schema_for(frame, options, name="the request body")
        units = frame[schema.unit].nunique()
        if units < settings.folds:
            raise ValidationError(f"the histories hold {units} unit(s); the {settings.folds}-fold cross-validation "
                                  f"by unit needs at least {settings.folds}", where="folds",
                                  hint="send more run-to-failure units or lower folds (at least 2)")
        # Missing or non-finite values, repeated time steps: refused now, not minutes later in the job.
        frame = check_history(frame[[schema.unit, schema.time, *(schema.settings or ()), *(schema.sensors or ())]],
                              schema)
        digest = sha256_of(raw)  # up to the upload limit: hashed before taking the lock other submitters wait on
        with self._lock:
            if self._queue.qsize() >= MAX_WAITING:
                raise ConflictError(f"{MAX_WAITING} training jobs are already waiting",
                                    hint="wait for one to finish (GET its job) and submit again")
            job = RulJob(id=new_id(), tenant=tenant, name=name, created_by=context.actor,
                         created_at=self._clock.now(), promote=promote)
            self._insert(job)
            self._mine.add(job.id)
            self._queue.put(_Work(job, frame, schema, settings, digest, context))
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._run, name="rul-training", daemon=True)
                self._worker.start()
        return job

    def get(self, tenant: str, job_id: str) -> RulJob:
        c = ml_jobs.c
        with self._store.read() as tx:
            row = tx.conn.execute(sa.select(ml_jobs).where(c.tenant == tenant, c.id == job_id)).first()
        if row is None:  # another tenant's job looks like no job
            raise NotFoundError(f"no training job {job_id!r}", where="id",
                                hint=f"the last {MAX_KEPT} jobs of a tenant are kept")
        return self._view(row)

    def list(self, tenant: str) -> list[RulJob]:
        c = ml_jobs.c
        with self._store.read() as tx:
            rows = tx.conn.execute(sa.select(ml_jobs).where(c.tenant == tenant)
                                   .order_by(c.created_at.desc(), c.id).limit(MAX_KEPT)).all()
        return [self._view(r) for r in rows]

    # -- records ------------------------------------------------------------------------------------------------
    def _insert(self, job: RulJob) -> None:
        c = ml_jobs.c
        with self._store.write() as tx:
            tx.conn.execute(sa.insert(ml_jobs).values(
                tenant=job.tenant, id=job.id, name=job.name, status=job.status, promote=job.promote,
                created_by=job.created_by, created_at=job.created_at, heartbeat_at=job.created_at, summary={}))
            old = tx.conn.execute(sa.select(c.id).where(c.tenant == job.tenant).order_by(c.created_at.desc(), c.id)
                                  .offset(MAX_KEPT)).scalars().all()
            if old:
                tx.conn.execute(sa.delete(ml_jobs).where(c.tenant == job.tenant, c.id.in_(old)))

    def _save(self, job: RulJob) -> None:
        """Write the job's state (and a heartbeat); a failed write is logged, never raised into the worker."""
        try:
            with self._store.write() as tx:
                tx.conn.execute(sa.update(ml_jobs).where(ml_jobs.c.tenant == job.tenant, ml_jobs.c.id == job.id)
                                .values(status=job.status, started_at=job.started_at, finished_at=job.finished_at,
                                        heartbeat_at=self._clock.now(), version=job.version,
                                        summary=job.summary, error=job.error[:2000] if job.error else None))
        except Exception:
            log.exception("could not record the state of RUL training job %s", job.id)

    def _beat(self) -> None:
        """Renew the heartbeat of every job this process holds."""
        with self._lock:
            ids = list(self._mine)
        if not ids:
            return
        try:
            with self._store.write() as tx:
                tx.conn.execute(sa.update(ml_jobs).where(ml_jobs.c.id.in_(ids), ml_jobs.c.status.in_(ACTIVE))
                                .values(heartbeat_at=self._clock.now()))
        except Exception:
            log.exception("could not renew the heartbeat of RUL training jobs")

    def _view(self, row: Any) -> RulJob:
        job = RulJob(id=row.id, tenant=row.tenant, name=row.name, created_by=row.created_by,
                     created_at=_utc(row.created_at) or row.created_at, promote=bool(row.promote), status=row.status,
                     started_at=_utc(row.started_at), finished_at=_utc(row.finished_at), version=row.version,
                     summary=dict(row.summary or {}), error=row.error)
        beat = _utc(row.heartbeat_at)
        if job.status in ACTIVE and beat is not None and (self._clock.now() - beat).total_seconds() > STALE_S:
            job.status = "failed"
            job.error = (f"interrupted: the server holding the job stopped (no sign of it since "
                         f"{beat.isoformat(timespec='seconds')}); submit the job again")
        return job

    # -- the worker ---------------------------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            work = self._queue.get()
            try:
                self._fit(work)
            finally:
                with self._lock:
                    self._mine.discard(work.job.id)
                self._queue.task_done()

    def _fit_in_child(self, work: _Work) -> tuple[bytes, dict[str, Any]]:
        try:
            with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
                future = pool.submit(self._fit_model, work.frame, work.schema, work.settings, source="upload",
                                     source_sha256=work.sha256)
                while True:
                    try:
                        return future.result(timeout=HEARTBEAT_S)
                    except TimeoutError:
                        self._beat()  # still fitting: this process is alive, and so are its jobs
        except BrokenProcessPool:
            raise TvillingError("the training process ended unexpectedly (out of memory, or a crash in native "
                                "code)", hint="check the server's log and memory; submit the job again") from None

    def _fit(self, work: _Work) -> None:
        job = work.job
        job.status, job.started_at = "running", self._clock.now()
        self._save(job)
        try:
            schema = work.schema
            data, summary = self._fit_in_child(work)
            registry = self._registry()
            production = registry.production(job.tenant, job.name)
            version = registry.register(
                job.tenant, job.name, "rul", data, RUL_FORMAT, work.context,
                metrics={"cv_rmse": summary["cv_rmse"], "cv_folds": summary["cv_folds"],
                         "horizon": summary["horizon"]},
                training={"units": summary["units"], "rows": summary["rows"], "sha256": work.sha256,
                          "sensors": summary["sensors_used"], "settings": summary["settings"],
                          "regimes": summary["regimes"]},
                parameters={"estimator": "LightGbmRul", "level": summary["level"], "horizon": summary["horizon"],
                            "folds": summary["cv_folds"], "seed": work.settings.seed, "unit": schema.unit,
                            "time": schema.time},
                lineage={"parent_version": production[0].version if production else None, "reason": "trained",
                         "data_fingerprint": work.sha256[:16], "job": job.id},
                promote=job.promote)
            job.version, job.summary, job.status = version.version, summary, "succeeded"
        except TvillingError as exc:
            job.status, job.error = "failed", str(exc)
        except Exception as exc:  # a fit that breaks must not kill the worker; the job says what happened
            log.exception("RUL training job %s failed", job.id)
            job.status, job.error = "failed", f"{type(exc).__name__}: {exc}"
        finally:
            job.finished_at = self._clock.now()
            self._save(job)


def _utc(t: datetime | None) -> datetime | None:
    """A stored time as aware UTC (SQLite returns it without its zone)."""
    return t.replace(tzinfo=UTC) if t is not None and t.tzinfo is None else t


_BY_STORE: weakref.WeakKeyDictionary[Any, RulJobs] = weakref.WeakKeyDictionary()
_BY_STORE_LOCK = threading.Lock()


def jobs_for(services: Any) -> RulJobs:
    """The one job queue of a :class:`~tvilling.app.services.Services` bundle (keyed by its store), shared by the
    API and the dashboard of the process; made on first use."""
    with _BY_STORE_LOCK:
        found = _BY_STORE.get(services.store)
        if found is None:
            found = _BY_STORE[services.store] = RulJobs(services.store, lambda: registry_for(services),
                                                        services.clock)
        return found


def predict_registered(registry: RegistryService, tenant: str, name: str, raw: bytes, *, version: int | None,
                       options: HistoryOptions, within: float,
                       every_row: bool = False) -> tuple[int, pd.DataFrame, dict[str, Any]]:
    """Estimates from a registered RUL model (its production version unless ``version`` is given): the version
    used, the table and its summary (as ``tvilling rul predict``)."""
    if version is None:
        found = registry.production(tenant, name)
        if found is None:
            registry.versions(tenant, name)  # 404 when the name is unknown
            raise ConflictError(f"model {name!r} has no production version",
                                hint="promote one (POST …/versions/{version}/promote) or give version")
        meta, data = found
    else:
        meta, data = registry.get(tenant, name, version), registry.artifact(tenant, name, version)
    if meta.kind != "rul" or meta.format != RUL_FORMAT:
        raise ConflictError(f"model {name!r} version {meta.version} is not a RUL model ({meta.kind}, {meta.format})",
                            hint="estimates come from models trained by POST /api/v1/ml/rul/jobs")
    model, _ = load_model_bytes(data)
    frame = read_histories(raw, HistoryOptions(format=options.format, sep=options.sep,
                                               unit_col=model.schema.unit, time_col=model.schema.time))
    table, summary = predict(model, frame, within=within, every_row=every_row)
    return meta.version, table, summary
