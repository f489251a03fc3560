"""examples/webhook_receiver.py as docs/integrations.md runs it: a route made paused with its secret, the example
started with that secret, the route resumed, and a work order printed by the receiver; a forged delivery is
refused with 401."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support import dtdl_samples
from tests.support.platform import api_rig
from tests.support.services import free_port, until
from tvilling.core.roles import Role

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "webhook_receiver.py"


def test_the_example_receiver_verifies_and_prints_work_orders(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/hooks/tvilling"
    with api_rig(f"sqlite:///{tmp_path / 'ex.db'}", data_dir=tmp_path, webhook_poll_s=0.2) as rig:
        assert rig.call("PUT", "/api/v1/twins/pump-1", json=dtdl_samples.room()).status_code == 201
        route = rig.call("POST", "/api/v1/event-routes", role=Role.ENGINEER, json={
            "name": "cmms", "url": url, "enabled": False, "filter": {"kinds": ["workorder", "alarm"]}}).json()
        out = tmp_path / "receiver.out"
        with out.open("w") as sink:
            proc = subprocess.Popen([sys.executable, str(EXAMPLE), "--port", str(port), "--secret", route["secret"]],
                                    stdout=sink, stderr=subprocess.STDOUT)
        try:
            until(lambda: "listening on" in out.read_text())
            forged = httpx.post(url, content=b'{"specversion":"1.0"}', headers={
                "webhook-id": "x", "webhook-timestamp": str(int(time.time())), "webhook-signature": "v1,AAAA"})
            assert forged.status_code == 401
            rig.call("PATCH", f"/api/v1/event-routes/{route['id']}", role=Role.OPERATOR, json={"enabled": True})
            rig.call("POST", "/api/v1/work-orders", role=Role.OPERATOR,
                     json={"twinId": "pump-1", "title": "Replace the seal", "priority": "high"})
            until(lambda: "io.tvilling.workorder.created" in out.read_text())
            line = next(x for x in out.read_text().splitlines() if "workorder.created" in x)
            assert "pump-1 open high: Replace the seal" in line
            until(lambda: rig.call("GET", f"/api/v1/event-routes/{route['id']}").json()["status"]["lastSuccessAt"])
        finally:
            proc.terminate()
            proc.wait(10)


def test_the_example_and_the_documented_check_refuse_a_non_ascii_signature() -> None:
    """hmac.compare_digest raises TypeError on non-ASCII str: both compare bytes, so a forged header is a refusal
    (401), not a crash of the receiver."""
    import base64
    import importlib.util
    import re

    spec = importlib.util.spec_from_file_location("webhook_receiver_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    doc = (EXAMPLE.parents[1] / "docs" / "integrations.md").read_text(encoding="utf-8")
    snippet = re.search(r"```python\n(.*?def verify\(.*?)```", doc, re.S)
    assert snippet is not None
    documented: dict[str, object] = {}
    exec(snippet.group(1), documented)  # the documentation's own snippet
    secret = "whsec_" + base64.b64encode(b"k" * 32).decode()
    now = time.time()
    headers = {"webhook-id": "1-c", "webhook-timestamp": str(int(now)), "webhook-signature": "v1,ü"}
    assert example.verify(secret, headers, b"{}", now) is False
    check = documented["verify"]
    assert callable(check) and check(secret, headers, b"{}") is False
