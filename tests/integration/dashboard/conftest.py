"""Fixtures shared by the dashboard tests: ONE platform and ONE Chromium for the whole package (start-up is the
expensive part), and a page factory that signs in with a role and records console errors."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.dashboard.rig import Rig, chromium, plant_readings, running_platform, sign_in
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
