"""Event routes end to end: a live platform (SQLite and PostgreSQL) pushes its events to a real HTTP receiver on
127.0.0.1 — signed, in order, retried, dead-lettered and redelivered, paused by a 410, never lost across a restart,
never sent to a host outside the allow-list, and never held up by another route's slow receiver."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.support import dtdl_samples
from tests.support.platform import ApiRig, api_rig
from tests.support.receiver import BODY, Receiver, Request, receiver
from tests.support.security import denials, security_records
from tests.support.services import until
from tests.unit.protocols.test_webhooks import by_the_spec
from tvilling.app.alarms import alarm_service
from tvilling.core.roles import Role

FAST = {"webhook_backoff_initial_s": 0.05, "webhook_backoff_max_s": 0.2, "webhook_poll_s": 0.2,
        "webhook_lease_s": 15.0, "webhook_max_attempts": 5, "webhook_timeout_s": 4.0}


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@contextmanager
def platform(db_url: str, data_dir: Path, *, seed: bool = True, **settings: Any) -> Iterator[ApiRig]:
    with api_rig(db_url, seed_models=seed, data_dir=data_dir, **{**FAST, **settings}) as rig:
        for twin in ("pump-1", "pump-2"):
            r = rig.call("PUT", f"/api/v1/twins/{twin}", json=dtdl_samples.room())
            assert r.status_code in (200, 201), r.text
        yield rig


def add_route(rig: ApiRig, url: str, *, kinds: list[str] | None = None, name: str = "cmms",
              flt: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    body = {"name": name, "url": url, "filter": flt or {"kinds": kinds or ["workorder", "alarm"]}, **extra}
    r = rig.call("POST", "/api/v1/event-routes", role=Role.ENGINEER, json=body)
    assert r.status_code == 201, r.text
    assert r.headers["location"] == f"/api/v1/event-routes/{r.json()['id']}"
    created: dict[str, Any] = r.json()
    return created


def work_order(rig: ApiRig, title: str, twin: str = "pump-1") -> str:
    r = rig.call("POST", "/api/v1/work-orders", role=Role.OPERATOR, json={"twinId": twin, "title": title})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def route_view(rig: ApiRig, route_id: str) -> dict[str, Any]:
    r = rig.call("GET", f"/api/v1/event-routes/{route_id}", role=Role.VIEWER)
    assert r.status_code == 200, r.text
    view: dict[str, Any] = r.json()
    return view


def deliveries(rig: ApiRig, route_id: str, **params: Any) -> list[dict[str, Any]]:
    r = rig.call("GET", f"/api/v1/event-routes/{route_id}/deliveries", role=Role.VIEWER, params=params)
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["value"]
    return items


def titles(rx: Receiver) -> list[str]:
    return [e["data"]["payload"]["work_order"]["title"] for e in rx.events() if e["type"].startswith(
        "io.tvilling.workorder.")]


def assert_signed(request: Request, secret: str) -> None:
    h = request.headers
    assert h["content-type"] == "application/cloudevents+json"
    timestamp = int(h["webhook-timestamp"])
    assert abs(time.time() - timestamp) < 60
    assert h["webhook-signature"] == by_the_spec(secret, h["webhook-id"], timestamp, request.body)
    assert h["webhook-id"] == request.json()["id"]


def test_work_orders_and_alarms_arrive_signed_and_in_order(db_url: str, data_dir: Path) -> None:
    with receiver() as rx, platform(db_url, data_dir) as rig:
        route = add_route(rig, rx.url)
        assert route["secret"].startswith("whsec_") and route["status"]["backlog"] == 0
        assert "secret" not in route_view(rig, route["id"])  # shown once
        order = work_order(rig, "Check the seal")
        r = rig.call("POST", f"/api/v1/work-orders/{order}/complete", role=Role.OPERATOR, json={"comment": "done"})
        assert r.status_code == 200, r.text
        alarm_service(rig.platform.app.state, rig.platform.services).raise_alarm("acme", "pump-2", "temperature",
                                                                                 "major", "too hot")
        work_order(rig, "Second pump", twin="pump-2")
        got = rx.wait_for(4)
        for request in got:
            assert_signed(request, route["secret"])
        events = [g.json() for g in got]
        assert [e["type"] for e in events] == ["io.tvilling.workorder.created", "io.tvilling.workorder.completed",
                                               "io.tvilling.alarm.raised", "io.tvilling.workorder.created"]
        assert [e["subject"] for e in events] == ["pump-1", "pump-1", "pump-2", "pump-2"]
        seqs = [e["tvillingseq"] for e in events]
        assert seqs == sorted(seqs) and len(set(seqs)) == 4
        first = events[0]
        assert first["source"] == "/tenants/acme" and first["specversion"] == "1.0"
        assert first["data"]["payload"]["work_order"]["id"] == order
        assert first["data"]["context"]["actor"].startswith("token:")
        assert events[2]["data"]["payload"]["alarm"]["message"] == "too hot"
        until(lambda: route_view(rig, route["id"])["status"]["cursor"] == seqs[-1])  # logged after the 2xx
        time.sleep(0.3)
        assert len(rx.requests) == 4  # twin.* and the route's own events are not in its filter
        view = route_view(rig, route["id"])
        assert view["state"] == "active" and view["status"]["backlog"] == 0 and view["status"]["lastSuccessAt"]
        log = deliveries(rig, route["id"])
        assert [d["eventSeq"] for d in log] == seqs[::-1]  # newest first
        assert all(d["status"] == "delivered" and d["attempts"] == 1 and d["statusCode"] == 204 for d in log)


def test_a_failing_receiver_gets_everything_in_order_after_retries(db_url: str, data_dir: Path) -> None:
    def plan(n: int) -> tuple[int, dict[str, str]]:
        if n <= 2:
            return 500, {}
        if n == 3:
            return 429, {"Retry-After": "0"}
        return (503, {}) if n == 5 else (204, {})

    with receiver(plan) as rx, platform(db_url, data_dir) as rig:
        route = add_route(rig, rx.url)
        names = [f"wo-{i}" for i in range(4)]
        for name in names:
            work_order(rig, name)
        rx.wait_for(4)
        assert titles(rx) == names  # in order, each once: nothing after a failed one overtook it
        log = {d["eventSeq"]: d for d in deliveries(rig, route["id"])}
        first, second = (log[s] for s in sorted(log)[:2])
        assert first["attempts"] == 4 and first["statusCode"] == 204 and first["status"] == "delivered"
        assert second["attempts"] == 2
        view = route_view(rig, route["id"])
        assert view["status"]["consecutiveFailures"] == 0 and view["status"]["lastError"].startswith("HTTP 503")


def test_dead_letters_after_max_attempts_and_redeliver(db_url: str, data_dir: Path) -> None:
    answers = {"status": 500}
    with receiver(lambda _n: (answers["status"], {})) as rx, \
            platform(db_url, data_dir, webhook_max_attempts=2) as rig:
        route = add_route(rig, rx.url)
        work_order(rig, "first")
        work_order(rig, "second")
        until(lambda: len(deliveries(rig, route["id"], status="dead")) == 2)
        assert len(rx.requests) == 4  # 2 events x 2 attempts, then the route moved on
        dead = deliveries(rig, route["id"], status="dead")
        assert all(d["attempts"] == 2 and d["error"].startswith("dead-lettered after 2 attempt(s): HTTP 500")
                   for d in dead)
        view = route_view(rig, route["id"])
        assert view["status"]["deadLetters"] == 2 and view["status"]["backlog"] == 0
        assert view["state"] == "failing" and view["status"]["consecutiveFailures"] == 4

        answers["status"] = 204
        oldest = dead[-1]
        r = rig.call("POST", f"/api/v1/event-routes/{route['id']}/deliveries/{oldest['id']}/redeliver",
                     role=Role.OPERATOR)
        assert r.status_code == 202 and r.json()["status"] == "queued", r.text
        rx.wait_for(1)
        assert titles(rx) == ["first"]
        until(lambda: deliveries(rig, route["id"], status="delivered"))
        again = rig.call("POST", f"/api/v1/event-routes/{route['id']}/deliveries/{oldest['id']}/redeliver",
                         role=Role.OPERATOR)
        assert again.status_code == 409 and "delivered" in again.json()["detail"]
        missing = rig.call("POST", f"/api/v1/event-routes/{route['id']}/deliveries/999999/redeliver")
        assert missing.status_code == 404 and missing.json()["problems"][0]["where"] == "delivery"
        work_order(rig, "third")  # the stream goes on after the redelivery
        rx.wait_for(2)
        assert titles(rx) == ["first", "third"]


def test_an_interrupted_redelivery_is_resumed_after_a_restart(db_url: str, data_dir: Path) -> None:
    """Between its attempts a redelivery stays queued: stopped then, the next server sends it again (it used to
    stay 'pending', which nothing picked up and the API refused to redeliver)."""
    answers = {"status": 500}
    with receiver(lambda _n: (answers["status"], {})) as rx:
        with platform(db_url, data_dir, webhook_max_attempts=1) as rig:
            route = add_route(rig, rx.url)
            work_order(rig, "first")
            until(lambda: len(deliveries(rig, route["id"], status="dead")) == 1)
        with platform(db_url, data_dir, seed=False, webhook_max_attempts=50, webhook_backoff_initial_s=5.0,
                      webhook_backoff_max_s=5.0) as rig:
            (dead,) = deliveries(rig, route["id"], status="dead")
            r = rig.call("POST", f"/api/v1/event-routes/{route['id']}/deliveries/{dead['id']}/redeliver",
                         role=Role.OPERATOR)
            assert r.status_code == 202, r.text
            until(lambda: any(d["id"] == dead["id"] and d["attempts"] >= 1
                              for d in deliveries(rig, route["id"], status="queued")))  # failed once, waits
        answers["status"] = 204
        with platform(db_url, data_dir, seed=False) as rig:  # the next server resumes it
            until(lambda: any(d["id"] == dead["id"] for d in deliveries(rig, route["id"], status="delivered")))
        assert titles(rx)[-1] == "first"


def test_each_route_keeps_only_its_newest_deliveries(db_url: str, data_dir: Path) -> None:
    """Two routes taking the same events: both logs are pruned to webhook_log_keep (pruning used to be keyed on one
    counter shared by all routes, so one route of two could grow without bound)."""
    from tvilling.app import event_route_worker

    with receiver() as rx, platform(db_url, data_dir, webhook_log_keep=3) as rig:
        routes = [add_route(rig, rx.url, name=name, kinds=["workorder"]) for name in ("a", "b")]
        every = event_route_worker.PRUNE_EVERY
        for i in range(2 * every):
            work_order(rig, f"wo-{i}")
        rx.wait_for(4 * every, timeout=60)
        for route in routes:  # one page holds them all: the count is the log's, not a page's
            until(lambda r=route: len(deliveries(rig, r["id"], status="delivered",
                                                 maxItemsPerPage=1000)) <= every)

def test_a_restart_mid_stream_loses_nothing(db_url: str, data_dir: Path) -> None:
    """The cursor is durable: stopping the server while deliveries are in flight, then making more events and
    starting it again, delivers every event, in order, re-sending at most the one in flight."""
    with receiver(delay_s=0.1) as rx:
        with platform(db_url, data_dir) as rig:
            route = add_route(rig, rx.url, kinds=["workorder"])
            for i in range(6):
                work_order(rig, f"wo-{i}")
            rx.wait_for(2)
        stopped_at = len(rx.requests)
        assert stopped_at < 6  # stopped mid-stream
        with platform(db_url, data_dir, seed=False) as rig:
            for i in range(6, 10):
                work_order(rig, f"wo-{i}")
            rx.wait_for(10)
            until(lambda: route_view(rig, route["id"])["status"]["backlog"] == 0)
            time.sleep(0.3)
        seen = titles(rx)
        assert list(dict.fromkeys(seen)) == [f"wo-{i}" for i in range(10)]  # all, in order of first arrival
        assert len(seen) - 10 <= 1  # at most the in-flight one twice
        for request in rx.requests:  # the same key signs after the restart (derived from the data directory)
            assert_signed(request, route["secret"])


def test_410_gone_pauses_the_route_until_resumed(db_url: str, data_dir: Path) -> None:
    answers = {"status": 410}
    with receiver(lambda _n: (answers["status"], {})) as rx, platform(db_url, data_dir) as rig:
        route = add_route(rig, rx.url)
        work_order(rig, "gone")
        until(lambda: route_view(rig, route["id"])["state"] == "paused")
        view = route_view(rig, route["id"])
        assert view["enabled"] is False and "410" in view["pausedReason"]
        work_order(rig, "while paused")
        time.sleep(0.5)
        assert len(rx.requests) == 1 and route_view(rig, route["id"])["status"]["backlog"] == 2
        answers["status"] = 204
        r = rig.call("PATCH", f"/api/v1/event-routes/{route['id']}", role=Role.OPERATOR, json={"enabled": True})
        assert r.status_code == 200 and r.json()["state"] == "active" and r.json()["pausedReason"] is None
        rx.wait_for(2)
        assert titles(rx) == ["gone", "while paused"]


@pytest.mark.parametrize("url", ["http://169.254.169.254/latest/meta-data", "http://10.1.2.3:8080/x",
                                 "https://cmms.example.com/hooks", "file:///etc/passwd", "gopher://127.0.0.1:70/x",
                                 "http://admin:pw@127.0.0.1:9/x"])
def test_disallowed_targets_are_refused(rig: ApiRig, url: str) -> None:
    r = rig.call("POST", "/api/v1/event-routes", role=Role.ENGINEER, json={"name": "x", "url": url})
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json", r.text
    problem = r.json()["problems"][0]
    assert problem["where"] == "url" and problem["hint"]
    if url.startswith(("http://1", "https://")):
        assert "TVILLING_WEBHOOK_ALLOWED_HOSTS" in problem["hint"]
    assert rig.call("GET", "/api/v1/event-routes").json()["value"] == []


def test_redirects_are_not_followed(db_url: str, data_dir: Path) -> None:
    with receiver() as canary, receiver(lambda _n: (307, {"Location": canary.url})) as rx, \
            platform(db_url, data_dir, webhook_max_attempts=1) as rig:
        route = add_route(rig, rx.url)
        work_order(rig, "redirected")
        until(lambda: deliveries(rig, route["id"], status="dead"))
        assert canary.requests == [] and len(rx.requests) == 1
        assert "redirects are not followed" in deliveries(rig, route["id"])[0]["error"]


def test_every_refused_target_is_a_security_event(db_url: str, data_dir: Path) -> None:
    """S-11 in the audit trail (S-15): URLs the allow-list refuses to the API, a test ping or a delivery to a host
    no longer allowed, and every redirect not followed — each counted once, in the tenant's chain."""
    with receiver() as canary, receiver(lambda _n: (307, {"Location": canary.url})) as rx, \
            platform(db_url, data_dir, webhook_max_attempts=3) as rig:
        for url in ("http://169.254.169.254/latest/meta-data", "file:///etc/passwd", "http://admin:pw@127.0.0.1:9/x"):
            r = rig.call("POST", "/api/v1/event-routes", role=Role.ENGINEER, json={"name": "x", "url": url})
            assert r.status_code == 422, r.text
        for typo in ("http://127.0.0.1:9/x#top", "http:///x", "127.0.0.1:9/x"):  # malformed: a 422, not a denial
            r = rig.call("POST", "/api/v1/event-routes", role=Role.ENGINEER, json={"name": "x", "url": typo})
            assert r.status_code == 422, r.text
        route = add_route(rig, rx.url, kinds=["workorder"])
        path = f"/api/v1/event-routes/{route['id']}"
        assert rig.call("PATCH", path, role=Role.ENGINEER, json={"url": "http://10.1.2.3:8080/x"}).status_code == 422
        assert rig.call("POST", path + "/test", role=Role.OPERATOR).json()["statusCode"] == 307
        work_order(rig, "redirected")
        until(lambda: deliveries(rig, route["id"], status="dead"))  # three attempts, three redirects
        rig.platform.app.state.settings.webhook_allowed_hosts = ["localhost"]  # an administrator narrows the list
        assert rig.call("POST", path + "/test", role=Role.OPERATOR).status_code == 422
        work_order(rig, "after the change")
        until(lambda: route_view(rig, route["id"])["state"] == "paused")
        records = security_records(rig.platform, "acme")
        engineer, operator = (f"token:{rig.platform.services.tokens.verify(rig.tokens[('acme', role)]).token_id}"
                              for role in (Role.ENGINEER, Role.OPERATOR))
    assert canary.requests == [] and len(rx.requests) == 1 + 3
    assert denials(records, "webhook.target_refused") == 3 + 1 + 1 + 4 + 1 == denials(records)
    by: Counter[tuple[str, int]] = Counter()
    for r in records:
        by[(r["actor"], r["detail"]["status"])] += r["detail"]["count"]
    assert by == {(engineer, 422): 4, (operator, 422): 1, ("system", 307): 4, ("system", 422): 1}
    paused = next(r for r in records if r["actor"] == "system" and r["detail"]["status"] == 422)
    assert paused["subject"] == f"event-routes/{route['id']}" and paused["detail"]["source"] == "127.0.0.1"
    assert "not an allowed webhook target" in paused["detail"]["reason"]


def test_the_receivers_answer_body_is_never_shown(db_url: str, data_dir: Path) -> None:
    """Only the status line of a failed answer is kept (the log, lastError, a test ping): the body may be some
    other service's error page on an allowed host, not for the tenant's eyes."""
    leak = "internal: db password hunter2"
    with receiver(lambda _n: (500, {BODY: leak})) as rx, platform(db_url, data_dir, webhook_max_attempts=1) as rig:
        route = add_route(rig, rx.url)
        ping = rig.call("POST", f"/api/v1/event-routes/{route['id']}/test", role=Role.OPERATOR).json()
        assert ping["ok"] is False and ping["statusCode"] == 500 and ping["error"] == "HTTP 500 Internal Server Error"
        work_order(rig, "failing")
        until(lambda: deliveries(rig, route["id"], status="dead"))
        (dead,) = deliveries(rig, route["id"], status="dead")
        view = route_view(rig, route["id"])
        assert dead["error"].endswith("HTTP 500 Internal Server Error") and dead["statusCode"] == 500
        assert leak not in dead["error"] and leak not in (view["status"]["lastError"] or "")
        assert len(rx.requests) == 2


def test_ping_rotate_pause_change_and_page(db_url: str, data_dir: Path) -> None:
    with receiver() as rx, platform(db_url, data_dir) as rig:
        base = add_route(rig, rx.url, kinds=["workorder"])
        path = f"/api/v1/event-routes/{base['id']}"
        r = rig.call("POST", path + "/test", role=Role.OPERATOR)
        assert r.status_code == 200, r.text
        result = r.json()
        assert result["ok"] is True and result["statusCode"] == 204 and result["latencyMs"] >= 0
        ping = rx.wait_for(1)[0]
        assert ping.json()["type"] == "io.tvilling.ping" and ping.json()["id"] == result["eventId"]
        assert_signed(ping, base["secret"])

        rotated = rig.call("POST", path + "/rotate-secret", role=Role.ENGINEER).json()
        assert rotated["secret"] != base["secret"] and rotated["secretVersion"] == 2
        rig.call("POST", path + "/test", role=Role.OPERATOR)
        second = rx.wait_for(2)[1]
        assert_signed(second, rotated["secret"])
        with pytest.raises(AssertionError):
            assert_signed(second, base["secret"])

        assert rig.call("PATCH", path, role=Role.OPERATOR, json={"enabled": False}).json()["state"] == "paused"
        refused = rig.call("PATCH", path, role=Role.OPERATOR, json={"filter": {"kinds": ["alarm"]}})
        assert refused.status_code == 403 and "engineer" in refused.json()["detail"]
        for i in range(5):
            work_order(rig, f"wo-{i}")
        assert route_view(rig, base["id"])["status"]["backlog"] == 5
        narrowed = rig.call("PATCH", path, role=Role.ENGINEER, json={"filter": {"kinds": ["workorder"],
                                                                               "twins": ["pump-2"]}})
        assert narrowed.status_code == 200 and narrowed.json()["status"]["backlog"] == 0
        rig.call("PATCH", path, role=Role.ENGINEER, json={"filter": {"kinds": ["workorder"]}, "enabled": True})
        rx.wait_for(7)
        until(lambda: len(deliveries(rig, base["id"], status="delivered")) == 5)  # logged after the receiver's 2xx
        page1 = rig.call("GET", path + "/deliveries", params={"maxItemsPerPage": 3}).json()
        page2 = rig.call("GET", path + "/deliveries", params={"maxItemsPerPage": 3,
                                                             "continuationToken": page1["continuationToken"]}).json()
        ids = [d["id"] for d in page1["value"] + page2["value"]]
        assert len(ids) == 5 and ids == sorted(ids, reverse=True) and page2["continuationToken"] is None
        bad = rig.call("GET", path + "/deliveries", params={"continuationToken": "eyJ4IjoxfQ.00000000"})
        assert bad.status_code == 422

        clash = rig.call("POST", "/api/v1/event-routes", role=Role.ENGINEER, json={"name": "cmms", "url": rx.url})
        assert clash.status_code == 409 and clash.json()["problems"][0]["where"] == "name"
        typo = rig.call("POST", "/api/v1/event-routes", role=Role.ENGINEER,
                        json={"name": "typo", "url": rx.url, "filter": {"kinds": ["work_order"]}})
        assert typo.status_code == 422 and "did you mean workorder" in typo.json()["hint"]
        assert rig.call("DELETE", path, role=Role.ENGINEER).status_code == 204
        assert rig.call("GET", path).status_code == 404


def test_start_from_the_beginning_and_model_filters(db_url: str, data_dir: Path) -> None:
    with receiver() as rx, platform(db_url, data_dir) as rig:
        r = rig.call("PUT", "/api/v1/twins/office-1", json=dtdl_samples.room(model=dtdl_samples.OFFICE))
        assert r.status_code == 201
        work_order(rig, "before the route", twin="office-1")
        work_order(rig, "a room, not an office")
        add_route(rig, rx.url, start="beginning", flt={"kinds": ["workorder"], "models": [dtdl_samples.OFFICE]})
        rx.wait_for(1)
        work_order(rig, "after", twin="office-1")
        rx.wait_for(2)
        time.sleep(0.3)
        assert titles(rx) == ["before the route", "after"]


def test_a_slow_receiver_does_not_hold_up_other_routes(db_url: str, data_dir: Path) -> None:
    with receiver(delay_s=2.0) as slow, receiver() as fast, platform(db_url, data_dir) as rig:
        add_route(rig, slow.url, name="slow")
        add_route(rig, fast.url, name="fast")
        for i in range(3):
            work_order(rig, f"wo-{i}")
        fast.wait_for(3, timeout=1.8)
        assert len(slow.requests) <= 1  # its second request can only come after its first answer, 2 s later
        slow.wait_for(2, timeout=10)

