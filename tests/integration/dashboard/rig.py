"""A real platform on a loopback port with the bottling plant's twins, plus Debian Chromium through Playwright.

Shared by the dashboard tests, the screenshot script and bench/bench_dashboard.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import uvicorn
import yaml
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from pydantic import SecretStr

from tests.support.services import free_port, unavailable
from tvilling.app.site import SitePackage, load_site
from tvilling.bootstrap import Platform, build_platform
from tvilling.core.context import Context, new_id
from tvilling.core.events import Event
from tvilling.core.roles import Role
from tvilling.ports.commands import CommandOutcome, CommandRequest, OutcomeCallback
from tvilling.settings import Settings

ROOT = Path(__file__).resolve().parents[3]
SITE = ROOT / "examples" / "bottling-plant"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
TENANT = "default"


@dataclass
class Rig:
    platform: Platform
    base: str
    loop: asyncio.AbstractEventLoop
    tokens: dict[Role, str] = dataclass_field(default_factory=dict)

    def url(self, path: str) -> str:
        return self.base + path

    def run(self, coro: Coroutine[Any, Any, Any], timeout: float = 10.0) -> Any:
        """Run a coroutine on the server's loop (where the dashboard lives) and wait for it."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def post(self, readings: list[dict[str, Any]]) -> None:
        r = httpx.post(self.url("/api/v1/telemetry"), json={"readings": readings}, timeout=10,
                       headers={"Authorization": f"Bearer {self.tokens[Role.ADMIN]}"})
        r.raise_for_status()


def now_iso() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def plant_readings(step: int) -> list[dict[str, Any]]:
    """Plausible values for every mapped point of the bottling plant (a gentle wave per step)."""
    data = yaml.safe_load((SITE / "mappings.yaml").read_text())
    t = now_iso()
    out = []
    for i, m in enumerate(data["mappings"]):
        base = 10.0 + (i % 7) * 3.0
        out.append({"twinId": m["twin"], "name": m["property"], "value": round(base + (step % 10) * 0.1, 3),
                    "unit": m.get("unit"), "sourceTime": t})
    return out


@contextlib.contextmanager
def running_platform(tmp: Path, *, extra_twins: int = 0, commands: bool = False) -> Iterator[Rig]:
    # commands: map the site's commands.yaml (then the command service sweeps for expiries 4 times a second; the
    # dashboard benchmark leaves it off so its CPU figures stay comparable).
    settings = Settings(db=SecretStr(f"sqlite:///{tmp / 'dash.db'}"), host="127.0.0.1", port=free_port(),
                        data_dir=tmp, mappings_file=SITE / "mappings.yaml",
                        commands_file=SITE / "commands.yaml" if commands else None)
    platform = build_platform(settings, announce=lambda _t: None)
    services = platform.services
    load_site(services, TENANT, SitePackage(SITE), Context.new(actor="test"))
    if extra_twins:
        add_fleet(platform, extra_twins)
    tokens = {role: services.tokens.create(TENANT, role, f"dash-{role.value}").token for role in Role}
    loop = asyncio.new_event_loop()
    server = uvicorn.Server(uvicorn.Config(platform.app, host="127.0.0.1", port=settings.port, log_level="warning",
                                           access_log=False, lifespan="on"))
    def serve() -> None:
        loop.run_until_complete(server.serve())
        # Socket.IO leaves ping tasks behind: end them so closing the loop is quiet.
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for task in pending:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the platform did not start")
        time.sleep(0.02)
    try:
        yield Rig(platform, f"http://127.0.0.1:{settings.port}", loop, tokens)
    finally:
        server.should_exit = True
        thread.join(15)
        loop.close()
        platform.close()


def add_fleet(platform: Platform, n: int) -> list[str]:
    """``n`` extra motors (fleet-0000 …) for the benchmark; they reuse the plant's Motor model."""
    ids = [f"fleet-{i:04d}" for i in range(n)]
    ctx = Context.new(actor="bench")
    for twin_id in ids:
        platform.services.twins.put(TENANT, twin_id, {"$metadata": {"$model": "dtmi:tvilling:bottling:Motor;1"},
                                                       "ratedPower": 4.0, "poles": 4}, ctx)
    return ids


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    """A headless Debian Chromium (never a downloaded browser); fails under CI when missing."""
    if not CHROMIUM.exists():
        unavailable(f"Debian Chromium not installed at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("playwright is not installed (pip install -e '.[dev]')")
        raise
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def field(page: Any, test_id: str) -> Field:
    """A text/number field by test id (Quasar puts the attribute on the native input or on its wrapper)."""
    return Field(page, test_id, page.locator(f'input[data-testid="{test_id}"], [data-testid="{test_id}"] input').first)


# Whether the page's trace (tests/integration/dashboard/trace.py) holds an event sent after ``after`` whose args
# include ``value`` as the browser encodes it.
SENT = """([after, value]) => (window.__tvTrace || []).some(
    e => e[2] > after && Array.isArray(e[3]) && e[3].includes(JSON.stringify(value)))"""
FILL_TRIES = 3


class Field:
    """A field's locator whose ``fill`` is confirmed: the browser must send the value to the server, else it is
    filled again. Traced in a failed run (trace.py): Playwright's fill (select and focus, then a separate insertText)
    now and then sent nothing for a number field filled right after another - the server kept the old value and the
    test's Run computed something else (the residuals and uncertainty cards' rare failures). Everything else is the
    locator's."""

    def __init__(self, page: Any, test_id: str, locator: Any) -> None:
        self._page, self._test_id, self._locator = page, test_id, locator

    def fill(self, value: str, **options: Any) -> None:
        traced = self._page.evaluate("() => Array.isArray(window.__tvTrace)")
        if not traced or self._locator.input_value() == value:  # no trace, or no change: nothing is sent
            self._locator.fill(value, **options)
            return
        for _ in range(FILL_TRIES):
            after = self._page.evaluate("() => window.__tvSeq || 0")
            self._locator.fill(value, **options)
            try:
                self._page.wait_for_function(SENT, arg=[after, value], timeout=2000)
                return
            except PlaywrightTimeoutError:  # said in the test's captured output: how often it happens
                print(f"fill of {value!r} into {self._test_id} was not sent; filling again")
        raise AssertionError(f"the browser never sent {value!r} for {self._test_id} ({FILL_TRIES} fills)")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._locator, name)


def open_zone(page: Any, name: str) -> None:
    """Select the FMU named ``name`` on the Scenarios page and wait for its card."""
    page.get_by_test_id("fmu-table").locator("tr").filter(has_text=name).first.click()
    page.get_by_test_id("fmu-selected").filter(has_text=name).wait_for(timeout=5000)


def sign_in(page: Any, rig: Rig, role: Role, path: str = "/ui/") -> None:
    page.goto(rig.url(path))
    page.locator("input[type=password]").fill(rig.tokens[role])
    page.get_by_test_id("sign-in").click()
    page.wait_for_url(lambda u: "/login" not in u, timeout=10_000)
    # Until the page's socket has shaken hands, a click is not delivered to the server: a test that clicks at once
    # on a slow machine would wait for an answer that never comes.
    page.wait_for_function("() => window.did_handshake === true", timeout=10_000)


class Channel:
    """One transport name (mqtt, opcua) of the recording device."""

    def __init__(self, name: str, device: RecordingDevice) -> None:
        self.name = name
        self.device = device

    async def start(self, on_outcome: OutcomeCallback) -> None:
        self.device.on_outcome = on_outcome

    async def send(self, request: CommandRequest) -> CommandOutcome | None:
        self.device.sent.append(request)
        return None  # the answer comes later, as from a real device

    async def close(self) -> None:
        return None


class RecordingDevice:
    """Stands in for the device path of every transport the site maps: records what was sent; the test answers
    through ``answer``."""

    def __init__(self) -> None:
        self.sent: list[CommandRequest] = []
        self.on_outcome: OutcomeCallback | None = None
        self.detach: Callable[[], None] = lambda: None

    async def answer(self, outcome: CommandOutcome) -> None:
        assert self.on_outcome is not None
        await self.on_outcome(outcome)

    def wait_sent(self, count: int, timeout: float = 5.0) -> CommandRequest:
        deadline = time.monotonic() + timeout
        while len(self.sent) < count:
            assert time.monotonic() < deadline, f"{count} command(s) not sent: {self.sent}"
            time.sleep(0.02)
        return self.sent[count - 1]


def attach_device(rig: Rig) -> RecordingDevice:
    """Register the recording device under every transport name the site's commands.yaml uses."""
    service = rig.platform.app.state.commands
    device, names = RecordingDevice(), sorted(service.mappings.transports())
    for name in names:
        rig.run(service.attach(Channel(name, device)))

    def detach() -> None:
        for name in names:
            service.transports.pop(name, None)

    device.detach = detach
    return device


BEARING = "dtmi:tvilling:bottling:Bearing;1"


def publish_insight(rig: Rig, kind: str, twin: str, data: dict[str, Any], model: str = BEARING) -> Event:
    """An insight as the monitoring layer writes it: committed to the event log, then published on the bus."""
    services = rig.platform.services
    event = Event(kind=kind, tenant=TENANT, subject=twin, time=services.clock.now(), context_id=new_id(),
                  actor="monitoring", data={"twin": twin, "model": model, **data})
    with services.store.write() as tx:
        tx.events.append([event])
    services.bus.publish([event])
    return event
