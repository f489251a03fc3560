"""Fixtures shared by the dashboard tests: ONE platform and ONE Chromium for the whole package (start-up is the
expensive part), and a page factory that signs in with a role and records console errors."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.dashboard.rig import TENANT, Rig, chromium, plant_readings, running_platform, sign_in
from tests.integration.dashboard.trace import BROWSER_HOOK, ServerTrace, report
from tests.support.fmus import thermal_zone_bytes
from tvilling.app.fmus import FmuLibrary, fmu_library
from tvilling.core.context import Context
from tvilling.core.roles import Role

FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Remember whether the test itself failed, for ``page_for``'s trace."""
    report = yield
    if report.when == "call":
        item.stash[FAILED] = report.failed
    return report


@pytest.fixture(scope="package")
def server_trace() -> Iterator[ServerTrace]:
    with ServerTrace().installed() as trace:
        yield trace


@pytest.fixture(scope="package")
def rig(tmp_path_factory: pytest.TempPathFactory, server_trace: ServerTrace) -> Iterator[Rig]:
    with running_platform(tmp_path_factory.mktemp("dash"), commands=True) as r:
        for step in range(3):
            r.post(plant_readings(step))
        yield r


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    with chromium() as b:
        yield b


@pytest.fixture
def page_for(browser: Any, rig: Rig, server_trace: ServerTrace, request: pytest.FixtureRequest) -> Iterator[Any]:
    contexts: list[Any] = []
    pages: list[Any] = []
    start = time.time()

    def open_as(role: Role, path: str = "/ui/") -> Any:
        ctx = browser.new_context(viewport={"width": 1440, "height": 900})
        ctx.add_init_script(script=BROWSER_HOOK)
        contexts.append(ctx)
        page = ctx.new_page()
        pages.append(page)
        page.problems = []  # console errors and uncaught exceptions, checked by the tests
        page.on("console", lambda m: page.problems.append(f"console {m.type}: {m.text}") if m.type == "error"
                else None)
        page.on("pageerror", lambda e: page.problems.append(f"page error: {e}"))
        sign_in(page, rig, role, path)
        return page

    yield open_as
    if request.node.stash.get(FAILED, False):  # shown with the failure: what was sent, and what was handled
        print("UI events, browser and server (s since the test began):", report(pages, server_trace, start), sep="\n")
    for ctx in contexts:
        ctx.close()


@pytest.fixture(scope="module")
def library(rig: Rig) -> FmuLibrary:
    return fmu_library(rig.platform.app.state, rig.platform.services)


@pytest.fixture(scope="module")
def zone(request: pytest.FixtureRequest, library: FmuLibrary) -> Iterator[dict[str, Any]]:
    """The thermal-zone FMU in the library under the test module's ``ZONE`` name (its own copy: the zip carries
    the module's name, so modules never share or delete each other's entry)."""
    entry = library.upload(TENANT, thermal_zone_bytes("2.0", request.module.__name__), Context.new(actor="test"),
                           role=Role.ENGINEER, name=request.module.ZONE)
    yield entry
    library.delete(TENANT, entry["id"], Context.new(actor="test"), role=Role.ENGINEER)
