"""Helpers for tests that need real services: fail under CI, skip on a developer machine that lacks them."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable

import pytest


def running_in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def unavailable(reason: str) -> None:
    """A missing service fails the test in CI (house rule 1) and skips it elsewhere."""
    if running_in_ci():
        pytest.fail(f"required service unavailable in CI: {reason}")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def until(condition: Callable[[], object], timeout: float = 15.0) -> None:
    """Poll ``condition`` every 20 ms until it is true; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)
