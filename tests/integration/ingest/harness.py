"""Test harness pieces: a ledgered QoS 1 publisher and a platform subprocess handle (reliability §3)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import yaml
from paho.mqtt.enums import CallbackAPIVersion

ROOT = Path(__file__).resolve().parents[3]


def write_mappings(path: Path, devices: list[str], points: list[str]) -> Path:
    doc = {"version": 1, "tenant": "default", "topics": [
        {"topic": f"plant/{d}/telemetry", "device": d, "points": [
            {"pointer": f"/points/{p}", "twin": d, "name": p} for p in points]} for d in devices]}
    path.write_text(yaml.safe_dump(doc))
    return path


class LedgerPublisher:
    """Publishes ``{device_id, seq, source_ts, points}`` at QoS 1 and records every seq the broker PUBACKed."""

    def __init__(self, port: int, devices: list[str], points: list[str], client_id: str = "ledger-pub") -> None:
        self.devices, self.points = devices, points
        self.base_ms = int(time.time() * 1000) - 60_000
        self.acked: set[tuple[str, int]] = set()
        self.sent = 0
        self._pending: dict[int, tuple[str, int]] = {}
        self._early: set[int] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
        c.max_inflight_messages_set(100)
        c.max_queued_messages_set(0)
        c.on_publish = self._on_publish
        c.connect("127.0.0.1", port)
        c.loop_start()
        self.client = c

    def _on_publish(self, _c: Any, _u: Any, mid: int, _rc: Any, _p: Any) -> None:
        # paho calls this holding its own message lock: never publish while holding ``_lock`` (deadlock).
        with self._lock:
            key = self._pending.pop(mid, None)
            if key is not None:
                self.acked.add(key)
            else:
                self._early.add(mid)

    def payload(self, device: str, seq: int, value: float | None = None) -> bytes:
        v = float(seq % 97) if value is None else value
        return json.dumps({"device_id": device, "seq": seq, "source_ts": self.base_ms + seq,
                           "points": {p: v + i for i, p in enumerate(self.points)}}).encode()

    def publish(self, device: str, seq: int, payload: bytes | None = None) -> None:
        body = payload if payload is not None else self.payload(device, seq)
        info = self.client.publish(f"plant/{device}/telemetry", body, qos=1)
        with self._lock:
            self.sent += 1
            if info.mid in self._early:  # PUBACK arrived before we registered the mid
                self._early.discard(info.mid)
                self.acked.add((device, seq))
            else:
                self._pending[info.mid] = (device, seq)

    def run(self, rate_per_s: float) -> None:
        """Publish round-robin over the devices at ``rate_per_s`` messages per second, in a thread."""
        def loop() -> None:
            seq = 0
            t0 = time.monotonic()
            while not self._stop.is_set():
                for d in self.devices:
                    self.publish(d, seq)
                seq += 1
                ahead = t0 + seq * len(self.devices) / rate_per_s - time.monotonic()
                if ahead > 0:
                    time.sleep(ahead)
        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()

    def stop(self, settle_s: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        deadline = time.monotonic() + settle_s
        while time.monotonic() < deadline:
            with self._lock:
                if not self._pending:
                    break
            time.sleep(0.05)
        self.client.disconnect()
        self.client.loop_stop()


class Platform:
    """The platform under test as a subprocess (killed by PID only)."""

    def __init__(self, db: Path, port: int, mappings: Path, *extra: str) -> None:
        self.args = [sys.executable, "-m", "tests.integration.ingest.platform_proc", "--db", str(db),
                     "--port", str(port), "--mappings", str(mappings), *extra]
        self.proc: subprocess.Popen[str] | None = None
        self.log = db.parent / "platform.log"

    def start(self, timeout: float = 20.0) -> float:
        t0 = time.monotonic()
        err = self.log.open("a")
        self.proc = subprocess.Popen(self.args, cwd=ROOT, stdout=subprocess.PIPE, stderr=err, text=True,
                                     env={**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + str(ROOT)})
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if line.strip() != "READY":
            raise RuntimeError(f"platform did not start: {line!r}; log: {self.log.read_text()[-2000:]}")
        if time.monotonic() - t0 > timeout:
            raise RuntimeError("platform start too slow")
        return time.monotonic() - t0

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)

    def terminate(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
