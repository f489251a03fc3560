"""``tvilling demo``: the platform, an embedded MQTT broker and the virtual plant, wired together.

The plant runs as its own process (``python -m tvilling.virtual_plant``) and speaks MQTT only; nothing here
imports it (house rule 8). With ``--headless --duration S`` the demo stops by itself and prints the summary from
``shared/docs/contracts.md``.
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

from tvilling.cli.output import emit_json, fail
from tvilling.core.errors import TvillingError

DEFAULT_SITE = Path("examples/bottling-plant")
INTERACTIVE_SIM_DAYS = 90.0  # an open-ended demo replays one 90-day season ending now, then keeps serving
TENANT = "default"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _say(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


async def _wait_until_quiet(engine: Any, tenant: str, *, quiet_s: float = 1.5, limit_s: float = 30.0) -> None:
    """Drain: wait until no sample or quarantine row has arrived for ``quiet_s`` (bounded by ``limit_s``)."""
    import sqlalchemy as sa

    from tvilling.adapters.sql import schema

    def counts() -> tuple[int, int]:
        with engine.connect() as conn:
            n = conn.execute(sa.select(sa.func.count()).select_from(schema.samples)
                             .where(schema.samples.c.tenant == tenant)).scalar_one()
            q = conn.execute(sa.select(sa.func.count()).select_from(schema.quarantine)
                             .where(schema.quarantine.c.tenant == tenant)).scalar_one()
        return int(n), int(q)

    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit_s
    last, since = await asyncio.to_thread(counts), loop.time()
    while loop.time() < deadline:
        await asyncio.sleep(0.25)
        now = await asyncio.to_thread(counts)
        if now != last:
            last, since = now, loop.time()
        elif loop.time() - since >= quiet_s:
            return


async def run_demo(*, headless: bool, speed: float, duration: float | None, seed: int, broker: str | None,
                   data_dir: Path, port: int, site: Path, plant_args: list[str]) -> dict[str, Any] | None:
    import uvicorn

    from tvilling.adapters.embedded_broker import EmbeddedBroker
    from tvilling.app.demo_summary import build_summary
    from tvilling.app.site import SitePackage, load_site
    from tvilling.bootstrap import build_platform
    from tvilling.core.context import Context
    from tvilling.core.roles import Role
    from tvilling.settings import load_settings

    package = SitePackage(site)
    package.check()
    data_dir.mkdir(parents=True, exist_ok=True)
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
    settings = load_settings(None, db=f"sqlite:///{data_dir / 'tvilling.db'}", host="127.0.0.1", port=port,
                             quality_max_age_s=sim_span_s + 86400.0,
                             mappings_file=package.mappings_file, mqtt_url=broker,
                             mqtt_client_id=f"tvilling-demo-{os.getpid()}", mqtt_protocol=protocol)
    platform = build_platform(settings, announce=lambda _text: None, dashboard=not headless)
    # SIGTERM (systemd, CI, a terminal closing) must stop the plant child too, not orphan it.
    main_task, loop = asyncio.current_task(), asyncio.get_running_loop()

    def _stop() -> None:  # once: a second SIGTERM must not interrupt the clean-up
        loop.remove_signal_handler(signal.SIGTERM)
        if main_task is not None:
            main_task.cancel()

    loop.add_signal_handler(signal.SIGTERM, _stop)
    plant: asyncio.subprocess.Process | None = None
    server: uvicorn.Server | None = None
    try:
        report = await asyncio.to_thread(load_site, platform.services, TENANT, package, Context.new(actor="demo"))
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
        if not headless:
            _say(f"  Dashboard: {url}/ui/  (sign in with the token)")
        _say(f"  API:   {url}/api/v1  (docs: {url}/api/v1/docs)")
        _say(f"  Token: {token.token}")
        _say(f"  Try:   curl -H 'Authorization: Bearer {token.token}' {url}/api/v1/twins/pump-1")
        truth = data_dir / "ground-truth.json"
        plant = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tvilling.virtual_plant", "--broker", broker, "--speed", str(speed),
            "--duration", str(wall), "--seed", str(seed), "--truth-out", str(truth),
            "--mqtt-version", str(protocol),
            "--start", start.strftime("%Y-%m-%dT%H:%M:%SZ"), *plant_args,
            stdout=asyncio.subprocess.PIPE)
        out, _ = await plant.communicate()
        if plant.returncode != 0:
            raise TvillingError(f"the virtual plant stopped with exit code {plant.returncode}",
                                hint="run `python -m tvilling.virtual_plant --help` to check its options")
        lines = [ln for ln in out.decode().splitlines() if ln.strip().startswith("{")]
        plant_summary: dict[str, Any] = json.loads(lines[-1]) if lines else {}
        await _wait_until_quiet(platform.store.engine, TENANT)
        if headless:
            return build_summary(platform.store.engine, TENANT, plant_summary)
        _say(f"The plant has run its {sim_span_s / 86400:.0f} simulated days; the platform keeps serving "
             "history and the dashboard until Ctrl-C.")
        await asyncio.Event().wait()
        return None
    finally:
        if plant is not None and plant.returncode is None:
            plant.terminate()
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(plant.wait(), 10)
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
