"""Composition root: settings -> engine (durability checked, schema migrated) -> store, bus, services -> API.

The only module that wires concrete adapters. Start-up order matters: the durability check and the schema check
run BEFORE anything can accept a request, so a misconfigured database means no server (promise G1).

Background services (MQTT/OPC UA ingestion, monitors, …) are registered as ``BackgroundFactory`` callables:
``factory(platform) -> coroutine`` run as tasks for the lifetime of the server and cancelled on shutdown. Add
yours to ``BACKGROUND`` (a plain list, one line) or pass ``background=[…]`` to ``build_platform``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from tvilling.adapters.sql.engine import make_engine, verify_durability
from tvilling.adapters.sql.migrate import check_version
from tvilling.adapters.sql.store import SqlStore
from tvilling.api.app import create_app
from tvilling.app.alarms import run_alarms
from tvilling.app.auth import IssuedToken
from tvilling.app.command_runtime import build_command_service, run_commands
from tvilling.app.event_delivery import run_event_routes
from tvilling.app.impact import build_impact_service
from tvilling.app.ingest_opcua import run_opcua
from tvilling.app.ingest_service import run_ingest
from tvilling.app.ingest_sparkplug import run_sparkplug
from tvilling.app.maintenance_planning import build_planner
from tvilling.app.models import Compiler, default_compiler
from tvilling.app.monitoring import run_monitoring
from tvilling.app.physics_live import run_physics
from tvilling.app.retention import run_retention
from tvilling.app.runtime import freeze_startup_heap
from tvilling.app.security_audit import SecurityAudit, run_security_audit
from tvilling.app.services import Services
from tvilling.app.setpoint_loops import build_setpoint_service, run_setpoint_loops
from tvilling.app.wal_checkpoint import run_wal_checkpoint
from tvilling.app.work_orders import run_work_orders
from tvilling.settings import Settings

log = logging.getLogger(__name__)

BackgroundFactory = Callable[["Platform"], Coroutine[Any, Any, None]]
# Background services started with every server; ingestion and other long-running services register here.
BACKGROUND: list[BackgroundFactory] = [run_ingest, run_monitoring, run_physics, run_opcua, run_sparkplug, run_alarms,
                                       run_work_orders, run_retention, run_commands, run_wal_checkpoint,
                                       run_event_routes, run_setpoint_loops, run_security_audit]


@dataclass
class Platform:
    settings: Settings
    store: SqlStore
    services: Services
    app: FastAPI
    first_token: IssuedToken | None = None
    background: list[BackgroundFactory] = field(default_factory=list)
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)

    def close(self) -> None:
        self.store.dispose()


def _report_background_failure(task: asyncio.Task[Any]) -> None:
    """A background service that dies must say so: a silent ingest outage is the worst failure mode."""
    if not task.cancelled() and task.exception() is not None:
        log.error("background service %s stopped: %s", task.get_name(), task.exception(),
                  exc_info=task.exception())


def _stderr(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def open_store(settings: Settings) -> tuple[SqlStore, dict[str, str]]:
    """Engine with the profile's settings, durability verified, schema at head."""
    url = settings.db_url_value()
    if url.startswith("sqlite:///"):
        # Make sure the folder exists so a fresh checkout just works (sqlite:///./data/tvilling.db).
        Path(url.removeprefix("sqlite:///").split("?", 1)[0]).parent.mkdir(parents=True, exist_ok=True)
    engine = make_engine(url, profile=settings.profile, busy_timeout_ms=settings.sqlite_busy_timeout_ms,
                         pool_size=settings.db_pool_size)
    try:
        observed = verify_durability(engine, settings.profile)
        revision = check_version(engine, auto_migrate=settings.auto_migrate)
    except Exception:
        engine.dispose()
        raise
    info = {**observed, "schema_revision": revision, "profile": settings.profile, "backend": engine.dialect.name}
    return SqlStore(engine), info


def build_platform(settings: Settings, *, compiler: Compiler = default_compiler,
                   background: list[BackgroundFactory] | None = None,
                   announce: Callable[[str], None] = _stderr, dashboard: bool = True) -> Platform:
    store, info = open_store(settings)
    services = Services.build(store, compiler=compiler, token_cache_ttl_s=settings.token_cache_ttl_s)
    services.info.update(info)
    log.info("database ready: %s", ", ".join(f"{k}={v}" for k, v in info.items()))
    issued = services.tokens.first_start()
    if issued is not None:
        # Shown once, on the console only (not through logging, whose files outlive the terminal).
        announce(f"First start: created tenant '{issued.tenant}' and an admin token (shown only now):\n"
                 f"  {issued.token}\n"
                 f"Keep it safe; create more with `tvilling token create --role …`.")
    holder: dict[str, Platform] = {}

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        platform = holder["platform"]
        for factory in platform.background:
            task = asyncio.create_task(factory(platform), name=getattr(factory, "__name__", "background"))
            task.add_done_callback(_report_background_failure)
            platform.tasks.append(task)
        try:
            yield
        finally:
            for task in platform.tasks:
                task.cancel()
            for task in platform.tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            platform.tasks.clear()

    app = create_app(services, settings, lifespan=lifespan)
    app.state.commands = build_command_service(services, settings)
    app.state.impact = build_impact_service(services, settings)  # a broken impact.yaml stops the start here
    # likewise planning.yaml (its `line: impact` tasks find their line with the impact service)
    app.state.planner = build_planner(settings, services, app.state.impact)
    app.state.setpoints = build_setpoint_service(services, settings, app.state.commands)  # likewise setpoints.yaml
    app.state.security = SecurityAudit(services.store, services.clock)  # every denial into the audit trail (S-15)
    if dashboard:  # the operator dashboard (NiceGUI) at /ui, same process and tokens
        from tvilling.dashboard import mount

        mount(app, services)
    platform = Platform(settings=settings, store=store, services=services, app=app, first_token=issued,
                        background=[*BACKGROUND, *(background or [])])
    holder["platform"] = platform
    app.state.platform = platform
    return platform


def serve(settings: Settings, *, announce: Callable[[str], None] = _stderr) -> None:
    """Run the platform until interrupted (``tvilling serve``)."""
    import uvicorn

    platform = build_platform(settings, announce=announce)
    # Only here, in a process that serves until it ends: tests build many platforms in one process, and frozen
    # objects are never collected as cyclic garbage.
    freeze_startup_heap()
    try:
        # uvloop + httptools (both dependencies): roughly half the per-request cost of asyncio + h11.
        uvicorn.run(platform.app, host=settings.host, port=settings.port, log_level=settings.log_level.lower(),
                    access_log=False, ws_max_size=settings.ws_max_message_bytes, loop="uvloop",
                    http="httptools")
    finally:
        platform.close()
