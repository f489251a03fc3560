"""The FMU library: upload a co-simulation FMU once, list it, inspect its variables, simulate it — no code.

Uploads are checked before they are stored (a zip with a valid modelDescription.xml, a co-simulation interface and
a binary for this server's platform), so a stored FMU is one the server can run. Simulations run in a child
process each (:mod:`tvilling.app.fmu_runner`), at most ``fmu_concurrency`` at once. Uploading and deleting are
events on subject ``fmus/<id>`` (the audit trail); a simulation stores nothing.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import re
import tempfile
import threading
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from tvilling.adapters.sql.schema_fmus import fmus
from tvilling.app.auth import require_role as _need
from tvilling.app.fmu_runner import SimulationRequest, simulate_isolated
from tvilling.app.shared import shared
from tvilling.core.context import Context
from tvilling.core.errors import ConflictError, NotFoundError, UnavailableError, ValidationError
from tvilling.core.events import Event
from tvilling.core.roles import Role

ENSEMBLE_BUDGET = 10  # an ensemble may take this many times one run's step limit, over all its samples
_NAME = re.compile(r"^[^\x00-\x1f\x7f]{1,200}$")
_META = [fmus.c.id, fmus.c.name, fmus.c.sha256, fmus.c.size, fmus.c.fmi_version, fmus.c.model_name,
         fmus.c.created_by, fmus.c.created_at]


def fmu_id(sha256: str) -> str:
    """Ids come from the content: the same file is the same FMU, and an id never points at other bytes."""
    return "fmu-" + sha256[:16]


class FmuLibrary:
    def __init__(self, store: Any, bus: Any, clock: Any, *, timeout_s: float = 60.0, max_steps: int = 200_000,
                 concurrency: int = 2) -> None:
        self.store, self.bus, self.clock = store, bus, clock
        self.timeout_s, self.max_steps = timeout_s, max_steps
        self._slots = threading.BoundedSemaphore(concurrency)

    # -- reads ------------------------------------------------------------------------------------------------
    def list(self, tenant: str) -> list[dict[str, Any]]:
        with self.store.read() as tx:
            rows = tx.conn.execute(sa.select(*_META, fmus.c.info).where(fmus.c.tenant == tenant)
                                   .order_by(fmus.c.created_at, fmus.c.id)).all()
        return [_summary(r) for r in rows]

    def get(self, tenant: str, fmu: str) -> dict[str, Any]:
        with self.store.read() as tx:
            r = tx.conn.execute(sa.select(*_META, fmus.c.info).where(fmus.c.tenant == tenant,
                                                                     fmus.c.id == fmu)).first()
        if r is None:
            raise _missing(fmu)
        return {**_summary(r), **r.info}

    def artifact(self, tenant: str, fmu: str) -> bytes:
        with self.store.read() as tx:
            data = tx.conn.execute(sa.select(fmus.c.artifact).where(fmus.c.tenant == tenant,
                                                                    fmus.c.id == fmu)).scalar_one_or_none()
        if data is None:
            raise _missing(fmu)
        return bytes(data)

    # -- writes -----------------------------------------------------------------------------------------------
    def upload(self, tenant: str, data: bytes, context: Context, *, role: Role,
               name: str | None = None) -> dict[str, Any]:
        """Check and store an FMU; 409 when this tenant already has the same file. Engineers and admins only."""
        _need(role, Role.ENGINEER, "upload FMUs")
        if not data:
            raise ValidationError("the request body is empty", where="body", hint="send the .fmu file as the body")
        info = _inspect(data, label=name)
        label = (name or info["modelName"] or "FMU").strip()
        if not _NAME.fullmatch(label):
            raise ValidationError("the name must be 1-200 characters without control characters", where="name")
        digest = hashlib.sha256(data).hexdigest()
        ident = fmu_id(digest)
        now = self.clock.now()
        with self.store.write() as tx:
            exists = tx.conn.execute(sa.select(fmus.c.id).where(fmus.c.tenant == tenant,
                                                                fmus.c.sha256 == digest)).scalar_one_or_none()
            if exists is not None:
                raise ConflictError(f"this file is already in the library as {exists}", where="body",
                                    hint=f"use GET /api/v1/fmus/{exists}; delete it first to upload it again")
            tx.conn.execute(sa.insert(fmus).values(
                tenant=tenant, id=ident, name=label, sha256=digest, size=len(data),
                fmi_version=info["fmiVersion"], model_name=info["modelName"], info=info, artifact=data,
                created_by=context.actor, created_at=now))
            event = self._event("fmu.uploaded", tenant, ident, context,
                                {"name": label, "sha256": digest, "size": len(data), "fmiVersion": info["fmiVersion"],
                                 "modelName": info["modelName"]})
            tx.events.append([event])
        self.bus.publish([event])
        return self.get(tenant, ident)

    def delete(self, tenant: str, fmu: str, context: Context, *, role: Role) -> None:
        _need(role, Role.ENGINEER, "delete FMUs")
        with self.store.write() as tx:
            gone = tx.conn.execute(sa.delete(fmus).where(fmus.c.tenant == tenant, fmus.c.id == fmu)).rowcount
            if not gone:
                raise _missing(fmu)
            event = self._event("fmu.deleted", tenant, fmu, context, {})
            tx.events.append([event])
        self.bus.publish([event])

    # -- runs -------------------------------------------------------------------------------------------------
    def simulate(self, tenant: str, fmu: str, request: SimulationRequest, *, role: Role) -> dict[str, Any]:
        """Run a stored FMU in a child process (blocking: call it from a worker thread). Operators and above."""
        _need(role, Role.OPERATOR, "simulate FMUs")
        return self._run(tenant, fmu, dataclasses.replace(request, vary={}, max_steps=self.max_steps))

    def ensemble(self, tenant: str, fmu: str, request: SimulationRequest, *, role: Role) -> dict[str, Any]:
        """A Monte Carlo ensemble (``request.vary``) in one child process; samples × steps at most ten times a
        single run's limit. Operators and above."""
        _need(role, Role.OPERATOR, "simulate FMUs")
        if not request.vary:
            raise ValidationError("nothing varies: give at least one uncertain value", where="vary",
                                  hint='for example {"UA": {"dist": "normal", "mean": 500, "sd": 50}}')
        return self._run(tenant, fmu, dataclasses.replace(request, max_steps=self.max_steps * ENSEMBLE_BUDGET))

    def calibrate(self, tenant: str, fmu: str, request: SimulationRequest, *, role: Role) -> dict[str, Any]:
        """Fit parameters (``request.fit``) to measurements, in one child process. Engineers and above: a
        calibration decides what the model is, as an upload does."""
        _need(role, Role.ENGINEER, "calibrate FMUs")
        if not request.fit:
            raise ValidationError("nothing to fit: name at least one parameter with its bounds", where="fit",
                                  hint='for example {"UA": [100, 2000]}')
        return self._run(tenant, fmu, dataclasses.replace(request, vary={}, max_steps=self.max_steps))

    def residuals(self, tenant: str, fmu: str, request: SimulationRequest, *, role: Role) -> dict[str, Any]:
        """Compare measurements with the model driven by the measured inputs and chart the residuals
        (:mod:`tvilling.simulation.residuals`), in one child process. Operators and above: an analysis, it
        changes nothing."""
        _need(role, Role.OPERATOR, "analyse FMU residuals")
        return self._run(tenant, fmu, dataclasses.replace(request, fit={}, vary={}, residuals=True,
                                                          max_steps=self.max_steps))

    def _run(self, tenant: str, fmu: str, request: SimulationRequest) -> dict[str, Any]:
        artifact = self.artifact(tenant, fmu)
        if not self._slots.acquire(timeout=self.timeout_s):
            raise UnavailableError(f"every FMU simulation slot stayed busy for {self.timeout_s:g} s",
                                   hint="retry later; the server setting TVILLING_FMU_CONCURRENCY allows more")
        try:
            return {"fmu": fmu, **simulate_isolated(artifact, request, timeout_s=self.timeout_s)}
        finally:
            self._slots.release()

    def _event(self, kind: str, tenant: str, fmu: str, context: Context, data: dict[str, Any]) -> Event:
        return Event(kind=kind, tenant=tenant, subject=f"fmus/{fmu}", time=self.clock.now(), context_id=context.id,
                     parent_id=context.parent_id, actor=context.actor, data={"fmu": fmu, **data})


def _inspect(data: bytes, *, label: str | None) -> dict[str, Any]:
    """What the FMU declares, refusing one this server could not run."""
    from tvilling.adapters.fmu import read_info, runs_here

    with tempfile.TemporaryDirectory(prefix="tvilling-fmu-") as tmp:
        path = Path(tmp) / "upload.fmu"
        path.write_bytes(data)
        info = read_info(path, label=label or "the uploaded file")
    if not info.co_simulation:
        raise ValidationError("the FMU has no co-simulation interface (model exchange only)", where="body",
                              hint="export the model as an FMI 2.0 or 3.0 co-simulation FMU")
    if not runs_here(info):
        raise ValidationError("the FMU has no binary for this server's platform", where="body",
                              hint="it has: " + (", ".join(info.platforms) or "none") + "; export it for "
                              "Linux x86-64")
    return info.as_dict()


def _summary(r: Any) -> dict[str, Any]:
    info = r.info or {}
    return {"id": r.id, "name": r.name, "modelName": r.model_name, "fmiVersion": r.fmi_version, "size": r.size,
            "sha256": r.sha256, "createdBy": r.created_by, "createdAt": r.created_at.isoformat(),
            "description": info.get("description", ""), "canSnapshot": info.get("canSnapshot", False),
            "variableCount": len(info.get("variables", []))}


def _missing(fmu: str) -> NotFoundError:
    return NotFoundError(f"no FMU {fmu!r}", where="id", hint="GET /api/v1/fmus lists the library")


def fmu_library(app_state: Any, services: Any) -> FmuLibrary:
    """The platform's one FMU library (created on first use; its slots are shared by every request)."""
    s = app_state.settings
    return shared(app_state, "fmus", FmuLibrary, lambda: FmuLibrary(
        services.store, services.bus, services.clock, timeout_s=s.fmu_timeout_s, max_steps=s.fmu_max_steps,
        concurrency=s.fmu_concurrency))


def measurements_from_history(history: Any, tenant: str, twin: str, *, start_us: int, end_us: int, bucket_s: int,
                              inputs: dict[str, tuple[str, float, float]],
                              outputs: dict[str, tuple[str, float, float]]) -> dict[str, Any]:
    """A twin's stored history as calibration data: the mean of each mapped property per bucket, scaled
    (``value · scale + offset``, e.g. kW → W), on one time grid in seconds from ``start``.

    Inputs are held from their last bucket across gaps (the model needs every input at every step); buckets before
    every input has a value are left out. A missing output bucket stays missing (skipped by the fit).
    """
    series: dict[str, dict[int, float]] = {}
    for name, (prop, scale, offset) in {**inputs, **outputs}.items():
        rows = history.bucketed(tenant, twin, prop, start_us, end_us, bucket_s, ["mean"])
        series[name] = {r["t"]: r["mean"] * scale + offset for r in rows if r["mean"] is not None}
        if not series[name]:
            raise ValidationError(f"{twin} has no history of {prop!r} between the start and the end", where=prop,
                                  hint="check the property name and the time range (GET …/history/{name})")
    grid = sorted(set().union(*(s.keys() for s in series.values())))
    held: dict[str, float] = {}
    times: list[float] = []
    columns: dict[str, list[float]] = {name: [] for name in series}
    for t in grid:
        for name in inputs:
            if t in series[name]:
                held[name] = series[name][t]
        if len(held) < len(inputs):
            continue
        times.append((t - grid[0]) / 1e6)
        for name in inputs:
            columns[name].append(held[name])
        for name in outputs:
            columns[name].append(series[name].get(t, math.nan))
    return {"time": times, "inputs": {n: columns[n] for n in inputs}, "outputs": {n: columns[n] for n in outputs},
            "origin_us": grid[0]}  # the instant of time 0
