"""Interactive `tvilling demo`: seconds from start to the first live twin change, and an OPC UA command round trip.

Starts `tvilling demo` (dashboard on, default 3,600x replay) in a fresh or given data directory, polls the API every
0.5 s until pump-1 flow (MQTT JSON), chiller-1 chilled-water temperature (Sparkplug B) and line-1 throughput (the
line PLC over OPC UA, SignAndEncrypt) have each changed value once, then sends `set_speed_bpm 500` to line-1 (an
OPC UA write) and waits for `acked` and the speed readback; then stops the demo with SIGTERM. Baseline in the same
run: the time until the API answers (the platform's own start, before the plant runs). The issue's bar is 60 s.

Prints one JSON object.

    .venv/bin/python bench/bench_demo_live.py                      # a fresh temp data dir (certificates made)
    .venv/bin/python bench/bench_demo_live.py --data-dir data/demo # reuse one (certificates reused)
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
WATCH = (("pump-1", "flowRate"), ("chiller-1", "chilledWaterTemperature"), ("line-1", "throughput"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def measure(data_dir: Path, limit_s: float) -> dict[str, Any]:
    port = _free_port()
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "tvilling.cli.main", "demo", "--data-dir", str(data_dir),
                             "--port", str(port)], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    lines: list[str] = []
    token_seen = threading.Event()

    def read() -> None:
        assert proc.stderr is not None
        for ln in proc.stderr:
            lines.append(ln)
            if "Token:" in ln:
                token_seen.set()

    threading.Thread(target=read, daemon=True).start()
    out: dict[str, Any] = {"load_avg_1m_start": os.getloadavg()[0]}
    try:
        if not token_seen.wait(limit_s):
            raise SystemExit("the demo did not print its token: " + "".join(lines)[-2000:])
        out["api_up_s"] = round(time.monotonic() - t0, 1)
        token = next(ln.split("Token:", 1)[1].strip() for ln in lines if "Token:" in ln)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}/api/v1", timeout=10,
                          headers={"Authorization": f"Bearer {token}"}) as http:
            first: dict[str, float] = {}
            last: dict[str, Any] = {}
            while time.monotonic() - t0 < limit_s and len(first) < len(WATCH):
                for twin, prop in WATCH:
                    key = f"{twin}.{prop}"
                    value = http.get(f"/twins/{twin}").json().get(prop)
                    if key not in first and last.get(key) is not None and value not in (None, last[key]):
                        first[key] = round(time.monotonic() - t0, 1)
                    last[key] = value
                time.sleep(0.5)
            out["first_live_change_s"] = first
            sent = time.monotonic()
            http.post("/twins/line-1/commands/set_speed_bpm", params={"commandId": f"bench-{port}"}, json=500)
            doc: dict[str, Any] = {}
            while time.monotonic() - sent < 30:
                doc = http.get(f"/commands/bench-{port}").json()
                if doc.get("state") in ("acked", "failed", "expired"):
                    break
                time.sleep(0.1)
            out["command"] = {"state": doc.get("state"), "outcome_s": round(time.monotonic() - sent, 2)}
            while time.monotonic() - sent < 30 and http.get("/twins/line-1").json().get("speedSetpoint") != 500.0:
                time.sleep(0.1)
            out["command"]["readback_s"] = round(time.monotonic() - sent, 2)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            out["exit_code"] = proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            out["exit_code"] = "killed"
    out["load_avg_1m_end"] = os.getloadavg()[0]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, default=None, help="demo data dir (default: a fresh temp dir)")
    ap.add_argument("--limit", type=float, default=120.0, help="give up after this many seconds")
    args = ap.parse_args()
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="tvilling-demo-live-"))
    result = {"bench": "demo_live", "data_dir": str(data_dir), **measure(data_dir, args.limit)}
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
