"""Fixtures shared by the dashboard tests: ONE platform and ONE Chromium for the whole package (start-up is the
expensive part), and a page factory that signs in with a role and records console errors."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.dashboard.rig import TENANT, Rig, chromium, plant_readings, running_platform, sign_in
from tests.support.fmus import thermal_zone_bytes
from tvilling.app.fmus import FmuLibrary, fmu_library
from tvilling.core.context import Context
from tvilling.core.roles import Role


@pytest.fixture(scope="package")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    with running_platform(tmp_path_factory.mktemp("dash"), commands=True) as r:
        for step in range(3):
            r.post(plant_readings(step))
        yield r


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    with chromium() as b:
        yield b


@pytest.fixture
def page_for(browser: Any, rig: Rig) -> Iterator[Any]:
    contexts: list[Any] = []

    def open_as(role: Role, path: str = "/ui/") -> Any:
        ctx = browser.new_context(viewport={"width": 1440, "height": 900})
        contexts.append(ctx)
        page = ctx.new_page()
        page.problems = []  # console errors and uncaught exceptions, checked by the tests
        page.on("console", lambda m: page.problems.append(f"console {m.type}: {m.text}") if m.type == "error"
                else None)
        page.on("pageerror", lambda e: page.problems.append(f"page error: {e}"))
        sign_in(page, rig, role, path)
        return page

    yield open_as
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
