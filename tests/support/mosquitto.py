"""A real Mosquitto broker for tests, on a free loopback port in a temporary directory.

Use ``start_mosquitto(tmp_path)`` directly, or the ``mosquitto_broker`` fixture (import it into a test module or
a conftest). When the binary is missing the fixture skips locally but FAILS under ``CI=true``, because CI must
prove the protocol path, not quietly skip it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.services import unavailable

MOSQUITTO_CANDIDATES = ("/usr/sbin/mosquitto", "/usr/bin/mosquitto", "/usr/local/sbin/mosquitto")


def mosquitto_binary() -> str | None:
    for c in MOSQUITTO_CANDIDATES:
        if os.access(c, os.X_OK):
            return c
    return shutil.which("mosquitto")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_listening(port: int, proc: subprocess.Popen[bytes], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"mosquitto exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"mosquitto did not listen on 127.0.0.1:{port} within {timeout_s} s")


def start_mosquitto(tmp_path: Path, *, timeout_s: float = 10.0) -> tuple[int, subprocess.Popen[bytes]]:
    """Start Mosquitto on a free 127.0.0.1 port; returns (port, process). The caller terminates it."""
    binary = mosquitto_binary()
    if binary is None:
        raise FileNotFoundError("mosquitto binary not found")
    last: Exception | None = None
    for _ in range(3):  # a free port can be taken between probing and binding; retry on a fresh one
        port = free_port()
        conf = tmp_path / f"mosquitto-{port}.conf"
        conf.write_text(
            f"listener {port} 127.0.0.1\nallow_anonymous true\nset_tcp_nodelay true\npersistence false\n"
            f"max_queued_messages 100000\n",
            encoding="utf-8",
        )
        with (tmp_path / f"mosquitto-{port}.log").open("wb") as log:  # the child keeps its own descriptor
            proc = subprocess.Popen([binary, "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_listening(port, proc, timeout_s)
            return port, proc
        except RuntimeError as exc:
            last = exc
            stop_mosquitto(proc)
    raise RuntimeError(f"could not start mosquitto: {last}")


def stop_mosquitto(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def require_mosquitto() -> str:
    """The binary's path; fails the test under CI=true when it is missing, skips it elsewhere."""
    binary = mosquitto_binary()
    if binary is None:
        unavailable("mosquitto binary not found (expected /usr/sbin/mosquitto)")
    assert binary is not None
    return binary


@pytest.fixture
def mosquitto_broker(tmp_path: Path) -> Iterator[int]:
    """Yields the port of a fresh Mosquitto on 127.0.0.1; fails (not skips) under CI=true when absent."""
    require_mosquitto()
    port, proc = start_mosquitto(tmp_path)
    try:
        yield port
    finally:
        stop_mosquitto(proc)
