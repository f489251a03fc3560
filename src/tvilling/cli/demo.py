"""``tvilling demo``: the platform, an embedded MQTT broker and the virtual plant, wired together.

The plant runs as its own process (``python -m tvilling.virtual_plant``) and speaks MQTT JSON, Sparkplug B
(chiller-1, hall) and OPC UA (its line PLC, line-1; SignAndEncrypt with certificates made at first start in the
data directory); nothing here imports it (house rule 8). With ``--headless --duration S`` the demo stops by itself
and prints the summary from ``shared/docs/contracts.md``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from tvilling.cli.demo_certs import opcua_certificates
from tvilling.cli.output import emit_json, fail
from tvilling.core.errors import TvillingError

DEFAULT_SITE = Path("examples/bottling-plant")
INTERACTIVE_SIM_DAYS = 90.0  # an open-ended demo replays one 90-day season ending now, then keeps serving
TENANT = "default"
SPARKPLUG_DEVICES = "chiller-1,hall"  # published as Sparkplug B; examples/bottling-plant/mappings.yaml maps them


def _opcua_rows(mappings_file: Path) -> set[tuple[str, str]]:
    """(twin, property) of the points the site maps from OPC UA NodeIds."""
    from tvilling.quality.mapping import load_mappings

    return {(p.twin_id, p.name) for t in load_mappings(mappings_file).topics.values() if t.node_id is not None
            for p in t.points}


def _commands_file(root: Path) -> Path | None:
    """The site's command mappings (commands.yaml), if it has them."""
    path = root / "commands.yaml"
    return path if path.exists() else None


def _check_commands(platform: Any) -> None:
    """Command mappings must fit the loaded twins and models; a bad row is reported before anything runs."""
    problems = platform.app.state.commands.check_mappings()
    if problems:
        raise TvillingError(f"commands.yaml: {problems[0].where}: {problems[0].message}",
                            hint=f"{len(problems)} problem(s) in the command mappings")
    loops = getattr(platform.app.state, "setpoints", None)
    problems = loops.check() if loops is not None else []
    if problems:
        raise TvillingError(f"{problems[0].where}: {problems[0].message}", hint=problems[0].hint)


def _set_aside_previous_run(db: Path) -> Path | None:
    """Move an earlier run's database to ``tvilling.prev.db`` (replacing an older one) so this run starts fresh.

    Why: every run replays a season that ends now, and a reading older than a twin's current state does not
    move it; on top of the previous run's history the twins would look frozen until the replay caught up with
    where that run stopped (measured: 113 s after a 2-minute earlier run; up to the whole season)."""
    if not db.exists():
        return None
    prev = db.with_name(db.stem + ".prev" + db.suffix)
    for suffix in ("", "-wal", "-shm"):
        Path(str(prev) + suffix).unlink(missing_ok=True)
        if Path(str(db) + suffix).exists():
            Path(str(db) + suffix).rename(Path(str(prev) + suffix))
    return prev


def _example_fmu(platform: Any, data_dir: Path) -> str:
    """Put the example thermal-zone FMU in the demo tenant's library, so the Scenarios page has a model to run.

    It is compiled from ``examples/fmus`` (a source checkout and gcc); where either is missing the demo goes on
    without it and says why.
    """
    import importlib.util

    from tvilling.app.fmus import fmu_library
    from tvilling.core.context import Context
    from tvilling.core.errors import ConflictError
    from tvilling.core.roles import Role

    script = Path(__file__).resolve().parents[3] / "examples" / "fmus" / "build.py"
    spec = importlib.util.spec_from_file_location("tvilling_example_fmus", script)
    if not script.is_file() or spec is None or spec.loader is None:
        return "no example FMU (examples/fmus is not in this installation)"
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
        built = Path(module.build_fmu("3.0", data_dir / "fmus"))
        library = fmu_library(platform.app.state, platform.services)
        library.upload(TENANT, built.read_bytes(), Context.new(actor="demo"), role=Role.ADMIN,
                       name="Hall thermal zone (example)")
    except ConflictError:
        pass  # kept from an earlier run of the demo on the same database
    except Exception as exc:  # a missing compiler must not stop the demo; say why instead
        return f"no example FMU ({' '.join(str(exc).split())[:160]})"
    return "the example thermal-zone FMU is in the library (/ui/scenarios)"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _say(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


async def _start_opcua_when_up(platform: Any, port: int, plant_done: asyncio.Task[Any],
                               limit_s: float = 60.0) -> asyncio.Task[None] | None:
    """Start the platform's OPC UA ingestion as soon as the PLC accepts connections on ``port`` (None if the
    plant ended or the PLC never came up within ``limit_s``); the task joins the platform's background tasks."""
    from tvilling.app.ingest_opcua import run_opcua

    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit_s
    while not plant_done.done() and loop.time() < deadline:
        try:
            _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.1)
            continue
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        task = asyncio.create_task(run_opcua(platform), name="run_opcua")
        platform.tasks.append(task)  # cancelled and awaited with the other background services at shutdown
        return task
    return None


async def _wait_until_quiet(engine: Any, tenant: str, *, expected: int | None = None, quiet_s: float = 10.0,
                            limit_s: float = 900.0, live: set[tuple[str, str]] | None = None) -> None:
    """Drain: wait until the store holds ``expected`` rows (samples + quarantine: one per point the plant
    published), or no row has arrived for ``quiet_s``, bounded by ``limit_s``. The embedded broker and the
    platform share one process and may work through a backlog for minutes after the plant exits, with pauses
    of seconds under load; the former 1.5 s quiet / 30 s limit summarised counts that were still growing.

    ``live``: (twin, property) points fed by an OPC UA subscription, a live view that may skip values; their
    samples and quarantine rows (from the OPC UA source, or the store's, e.g. two values at one source time) are
    not counted (``expected`` then counts the other points only)."""
    import sqlalchemy as sa

    from tvilling.adapters.sql import schema

    s, q = schema.series, schema.quarantine
    raw = schema.raw_samples()
    sample_points = raw.join(s, s.c.id == raw.c.series_id)
    points = sorted(live or ())
    skip_samples = [sa.not_(sa.and_(s.c.twin_id == twin, s.c.name == name)) for twin, name in points]
    # quarantine.twin_id/name may be NULL (an unparsable message): coalesce so NOT(...) keeps those rows
    skip_quarantine = [sa.not_(sa.and_(sa.func.coalesce(q.c.twin_id, "") == twin,
                                       sa.func.coalesce(q.c.name, "") == name)) for twin, name in points]
    if live:
        skip_quarantine.append(q.c.source != "opcua")

    def counts() -> tuple[int, int]:
        with engine.connect() as conn:
            n = conn.execute(sa.select(sa.func.count()).select_from(sample_points)
                             .where(s.c.tenant == tenant, *skip_samples)).scalar_one()
            m = conn.execute(sa.select(sa.func.count()).select_from(q)
                             .where(q.c.tenant == tenant, *skip_quarantine)).scalar_one()
        return int(n), int(m)

    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit_s
    last, since = await asyncio.to_thread(counts), loop.time()
    while loop.time() < deadline:
        await asyncio.sleep(0.25)
        now = await asyncio.to_thread(counts)
        if expected is not None and sum(now) >= expected:
            return
        if now != last:
            last, since = now, loop.time()
        elif loop.time() - since >= quiet_s:
            return


async def run_demo(*, headless: bool, speed: float, duration: float | None, seed: int, broker: str | None,
                   data_dir: Path, port: int, site: Path, plant_args: list[str]) -> dict[str, Any] | None:
    import uvicorn

    from tvilling.adapters.embedded_broker import EmbeddedBroker
    from tvilling.app.demo_summary import build_summary
    from tvilling.app.setpoint_loops import summary as setpoint_summary
    from tvilling.app.site import SitePackage, load_site
    from tvilling.bootstrap import build_platform
    from tvilling.core.context import Context
    from tvilling.core.roles import Role
    from tvilling.settings import load_settings

    package = SitePackage(site)
    package.check()
    data_dir.mkdir(parents=True, exist_ok=True)
    previous = _set_aside_previous_run(data_dir / "tvilling.db")
    embedded = None
    protocol = 5
    if broker is None:
        protocol = 4  # amqtt speaks MQTT 3.1.1 only

        embedded = EmbeddedBroker(port=_free_port())
        await embedded.start()
        broker = embedded.url
    # Accelerated time: the plant's clock runs `speed` times faster than the wall clock. It starts far enough in
    # the past that its last reading lands at about "now", so the platform's time policy (future readings are
    # quarantined) holds unchanged; the accepted age is widened to the simulated span instead.
    sim_span_s = speed * duration if duration is not None else INTERACTIVE_SIM_DAYS * 86400.0
    wall = sim_span_s / speed
    start = datetime.now(UTC) - timedelta(seconds=sim_span_s)
    # The line PLC (OPC UA) on a free loopback port, SignAndEncrypt only; the platform refuses anything less (G8).
    certs = await asyncio.to_thread(opcua_certificates, data_dir)
    plc_port = _free_port()
    plc_url = f"opc.tcp://127.0.0.1:{plc_port}/tvilling/plc/"  # the path the plant's PLC serves
    settings = load_settings(None, db=f"sqlite:///{data_dir / 'tvilling.db'}", data_dir=data_dir, host="127.0.0.1",
                             port=port, quality_max_age_s=sim_span_s + 86400.0,
                             mappings_file=package.mappings_file, mqtt_url=broker,
                             commands_file=_commands_file(package.root),
                             mqtt_client_id=f"tvilling-demo-{os.getpid()}", mqtt_protocol=protocol,
                             # chiller-1 and hall speak Sparkplug B (the plant's --sparkplug-devices below)
                             sparkplug_enabled=True, sparkplug_client_id=f"tvilling-demo-spb-{os.getpid()}",
                             opcua_url=plc_url, opcua_security="SignAndEncrypt", opcua_certificate=certs.client_cert,
                             opcua_private_key=certs.client_key, opcua_server_certificate=certs.plc_cert)
    platform = build_platform(settings, announce=lambda _text: None, dashboard=not headless)
    # OPC UA ingestion starts once the PLC answers (_start_opcua_when_up), not with the server: the PLC comes up
    # with the plant process seconds later, and a source started at once would sit out its reconnect backoff
    # (0.5 s doubling) and miss those seconds of line-1 data.
    from tvilling.app.ingest_opcua import run_opcua

    platform.background.remove(run_opcua)
    # For the same reason the OPC UA command transport's first session attempt (at server start) finds no PLC;
    # that warning is held back until the PLC is up, after which its warnings are real (the next send retries).
    opcua_commands_log = logging.getLogger("tvilling.adapters.opcua_commands")
    opcua_commands_log.setLevel(logging.ERROR)
    # SIGTERM (systemd, CI, a terminal closing) must stop the plant child too, not orphan it.
    main_task, loop = asyncio.current_task(), asyncio.get_running_loop()

    def _stop() -> None:  # once: a second SIGTERM must not interrupt the clean-up
        loop.remove_signal_handler(signal.SIGTERM)
        if main_task is not None:
            main_task.cancel()

    loop.add_signal_handler(signal.SIGTERM, _stop)
    plant: asyncio.subprocess.Process | None = None
    plant_done: asyncio.Task[Any] | None = None
    server: uvicorn.Server | None = None
    try:
        report = await asyncio.to_thread(load_site, platform.services, TENANT, package, Context.new(actor="demo"))
        await asyncio.to_thread(_check_commands, platform)
        token = platform.first_token or platform.services.tokens.create(TENANT, Role.ADMIN, "demo")
        server = uvicorn.Server(uvicorn.Config(platform.app, host="127.0.0.1", port=port, log_level="warning",
                                               access_log=False, lifespan="on"))
        server_task = asyncio.create_task(server.serve())
        while not server.started:
            if server_task.done():
                raise TvillingError(f"the API server could not start on 127.0.0.1:{port}",
                                    hint="choose another --port")
            await asyncio.sleep(0.05)
        url = f"http://127.0.0.1:{port}"
        _say(f"Tvilling demo: {report.twins} twins, {report.models} models loaded; broker {broker}")
        for name in await _enable_autonomy(platform):
            _say(f"  Setpoint loop {name}: autonomy enabled by the demo (an engineer does this on a real site)")
        if previous is not None:
            _say(f"  The previous run's database is kept as {previous}")
        _say(f"  Line PLC: {plc_url} (OPC UA, SignAndEncrypt; certificates in {certs.trust_dir.parent})")
        if not headless:
            _say(f"  Dashboard: {url}/ui/  (sign in with the token)")
            _say("  Scenarios: " + await asyncio.to_thread(_example_fmu, platform, data_dir))
        _say(f"  API:   {url}/api/v1  (docs: {url}/api/v1/docs)")
        _say(f"  Token: {token.token}")
        _say(f"  Try:   curl -H 'Authorization: Bearer {token.token}' {url}/api/v1/twins/pump-1")
        truth = data_dir / "ground-truth.json"
        plant = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tvilling.virtual_plant", "--broker", broker, "--speed", str(speed),
            "--duration", str(wall), "--seed", str(seed), "--truth-out", str(truth),
            "--mqtt-version", str(protocol), "--sparkplug-devices", SPARKPLUG_DEVICES,
            "--opcua-port", str(plc_port), "--opcua-cert", str(certs.plc_cert), "--opcua-key", str(certs.plc_key),
            "--opcua-trust", str(certs.trust_dir),
            "--start", start.strftime("%Y-%m-%dT%H:%M:%SZ"), *plant_args,
            stdout=asyncio.subprocess.PIPE)
        plant_done = asyncio.create_task(plant.communicate())
        opcua_task = await _start_opcua_when_up(platform, plc_port, plant_done)
        opcua_commands_log.setLevel(logging.NOTSET)
        out, _ = await plant_done
        if opcua_task is not None:  # the PLC left with the plant: reconnecting to it would only log warnings
            opcua_task.cancel()
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await opcua_task
        if plant.returncode != 0:
            raise TvillingError(f"the virtual plant stopped with exit code {plant.returncode}",
                                hint="run `python -m tvilling.virtual_plant --help` to check its options")
        lines = [ln for ln in out.decode().splitlines() if ln.strip().startswith("{")]
        plant_summary: dict[str, Any] = json.loads(lines[-1]) if lines else {}
        points, over_opcua = plant_summary.get("points"), plant_summary.get("points_opcua", 0)
        await _wait_until_quiet(platform.store.engine, TENANT, live=_opcua_rows(package.mappings_file),
                                expected=points - over_opcua if isinstance(points, int) and
                                isinstance(over_opcua, int) else None)
        if headless:
            summary = build_summary(platform.store.engine, TENANT, plant_summary)
            summary["points_published_opcua"] = over_opcua  # of points_published; a live view, may skip values
            summary["maintenance_plan"] = await asyncio.to_thread(_plan, platform)
            summary["setpoint_loops"] = await asyncio.to_thread(setpoint_summary, platform.store.engine, TENANT)
            # The plant's side of the loops' leases (C-13): points still held at the end, and fall-backs.
            summary["setpoint_leases"] = {k: plant_summary.get(f"leases_{k}") for k in ("held", "expired", "released")}
            return summary
        _say(f"The plant has run its {sim_span_s / 86400:.0f} simulated days; the platform keeps serving "
             "history and the dashboard until Ctrl-C.")
        await asyncio.Event().wait()
        return None
    finally:
        if plant is not None and plant.returncode is None:
            plant.terminate()
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(plant.wait(), 10)
        if plant_done is not None and not plant_done.done():
            plant_done.cancel()
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await plant_done
        if server is not None:
            server.should_exit = True
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(server_task, 15)
        platform.close()
        if embedded is not None:
            # amqtt logs its own task cancellation at shutdown as an error; it is the expected way to stop it.
            logging.getLogger("amqtt").setLevel(logging.CRITICAL)
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await embedded.stop()


def demo(
    headless: Annotated[bool, typer.Option("--headless", help="No dashboard; with --duration, stop and report.")]
    = False,
    speed: Annotated[float, typer.Option("--speed", help="Simulated seconds per wall-clock second.")] = 3600.0,
    duration: Annotated[float | None, typer.Option("--duration", help="Wall-clock seconds to run.")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Plant random seed (faults, noise).")] = 7,
    json_out: Annotated[bool, typer.Option("--json", help="Print the summary as one JSON object.")] = False,
    broker: Annotated[str | None, typer.Option("--broker", help="External broker mqtt://host:port "
                                                                "(default: an embedded one).")] = None,
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="Where the SQLite database lives "
                                                                     "(default ./data/demo; headless: a temp dir).")]
    = None,
    port: Annotated[int, typer.Option("--port", help="API port on 127.0.0.1.")] = 8000,
    site: Annotated[Path, typer.Option("--site", help="Site package folder.")] = DEFAULT_SITE,
    step: Annotated[float | None, typer.Option("--step", help="Plant physics step, simulated seconds.")] = None,
    period_scale: Annotated[float | None, typer.Option("--period-scale", help="Multiply sensor periods.")] = None,
) -> None:
    """Run the platform with the virtual bottling plant on embedded defaults (SQLite, in-process broker)."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # asyncua logs a traceback when the PLC goes away with the plant; the platform's OPC UA adapter reports
    # connection loss itself, in one line.
    logging.getLogger("asyncua").setLevel(logging.CRITICAL)
    if headless and duration is None:
        fail("--headless needs --duration SECONDS (the demo must know when to stop)")
    if data_dir is None:
        data_dir = Path(tempfile.mkdtemp(prefix="tvilling-demo-")) if headless else Path("data/demo")
    plant_args: list[str] = []
    if step is not None:
        plant_args += ["--step", str(step)]
    if period_scale is not None:
        plant_args += ["--period-scale", str(period_scale)]
    try:
        summary = asyncio.run(run_demo(headless=headless, speed=speed, duration=duration, seed=seed, broker=broker,
                                       data_dir=data_dir, port=port, site=site, plant_args=plant_args))
    except TvillingError as exc:
        fail(str(exc))
    except (KeyboardInterrupt, asyncio.CancelledError):
        return
    if summary is not None:
        if json_out:
            emit_json(summary)
        else:
            for key, value in summary.items():
                sys.stdout.write(f"{key}: {value}\n")


async def _enable_autonomy(platform: Any) -> list[str]:
    """The demo plays the engineer: once the setpoint service has started (a start turns autonomy off), it enables
    the site's auto loops. Returns their names."""
    service = getattr(platform.app.state, "setpoints", None)
    if service is None or not service.config.loops:
        return []
    for _ in range(200):
        if service.started:
            break
        await asyncio.sleep(0.05)
    names = [loop.name for loop in service.config.loops if loop.mode == "auto"]
    for name in names:
        await asyncio.to_thread(service.enable, service.tenant, name, "demo")
    return names


def _plan(platform: Any) -> dict[str, Any]:
    """The live maintenance plan at the end of the run (planning.yaml and the bearings' last RUL estimates)."""
    from tvilling.app.maintenance_planning import maintenance_planner, plan_digest

    try:
        return plan_digest(maintenance_planner(platform.app.state, platform.services).live_plan(TENANT,
                                                                                                alternatives=0))
    except TvillingError as exc:  # the summary still reports what was measured
        return {"error": str(exc)}
