"""Event routes without a server: a logged event as a CloudEvent (what the receiver reads), route filters (the
stream's semantics, kinds checked), and the delivery side's retry policy read from the settings."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from tvilling.app.event_route_worker import Policy
from tvilling.app.event_routes import EventRouteService, envelope, route_filter
from tvilling.core.errors import ValidationError
from tvilling.core.event_routes import EventRoute
from tvilling.core.events import Event
from tvilling.settings import Settings


def test_a_logged_event_as_a_cloud_event() -> None:
    event = Event(kind="workorder.created", tenant="acme", subject="pump-1",
                  time=datetime(2026, 3, 9, 14, 5, 0, 123000, tzinfo=UTC), context_id="c0ffee", parent_id="beef",
                  actor="policy:bearing-72h", data={"work_order": {"id": "w1", "title": "Replace"}})
    event_id, body = envelope(41, event)
    doc = json.loads(body)
    assert event_id == "41-c0ffee" == doc["id"]
    assert doc == {
        "specversion": "1.0", "id": "41-c0ffee", "source": "/tenants/acme", "type": "io.tvilling.workorder.created",
        "subject": "pump-1", "time": "2026-03-09T14:05:00.123000Z", "datacontenttype": "application/json",
        "tvillingseq": 41,
        "data": {"context": {"id": "c0ffee", "parent_id": "beef", "actor": "policy:bearing-72h"},
                 "payload": {"work_order": {"id": "w1", "title": "Replace"}}}}


def test_route_filters() -> None:
    parse = EventRouteService.parse_filter
    assert parse(None) == {"kinds": None, "twins": None, "models": None}
    assert parse({"kinds": ["workorder", "alarm", "alarm"], "twins": [], "models": None}) == {
        "kinds": ["alarm", "workorder"], "twins": None, "models": None}
    with pytest.raises(ValidationError) as caught:
        parse({"kinds": ["work_order"]})
    assert caught.value.where == "filter.kinds" and "workorder" in caught.value.hint
    with pytest.raises(ValidationError) as caught:
        parse({"properties": ["x"]})
    assert caught.value.where == "filter"
    with pytest.raises(ValidationError) as caught:
        parse({"twins": ["", 3]})
    assert caught.value.problems[0].where == "filter.twins"
    now = datetime.now(UTC)
    route = EventRoute(tenant="t", id="rt-1", name="n", url="http://127.0.0.1/", enabled=True, secret_version=1,
                       cursor_seq=0, created_by="a", created_at=now, updated_by="a", updated_at=now,
                       filter={"kinds": ["alarm"], "twins": None, "models": ["dtmi:x:Pump;1"]})
    flt = route_filter(route)
    assert flt.kinds == {"alarm"} and flt.twins is None and flt.needs_model
    assert flt.kind_ok("alarm.raised") and not flt.kind_ok("alarmx.raised") and not flt.kind_ok("workorder.created")


def test_retry_policy_defaults_and_settings() -> None:
    policy = Policy.from_settings(Settings())
    assert (policy.max_attempts, policy.initial_s, policy.max_s) == (8, 1.0, 300.0)
    assert Settings().webhook_allowed_hosts == ["127.0.0.1", "::1", "localhost"]
    assert Settings(webhook_allowed_hosts="cmms.example.com, 127.0.0.1:9000").webhook_allowed_hosts == [
        "cmms.example.com", "127.0.0.1:9000"]


def test_what_an_attempt_needs_left_on_the_lease() -> None:
    """Its time limit plus a third of the lease (the clock skew tolerated between servers): under two thirds of
    the lease however short it is set (the time limit is under a third of it), so a fresh lease always lets an
    attempt start."""
    assert Policy.from_settings(Settings()).attempt_lease_s == 10.0 + 15.0  # 45 s lease
    assert Policy.from_settings(Settings(webhook_lease_s=6.0, webhook_timeout_s=1.5)).attempt_lease_s == 3.5
    short = Policy.from_settings(Settings(webhook_lease_s=1.5, webhook_timeout_s=0.49))
    assert short.attempt_lease_s == pytest.approx(0.99) and short.attempt_lease_s < short.lease_s * 2 / 3


def test_an_unexpected_error_while_syncing_does_not_end_delivery() -> None:
    """EventDelivery.run catches everything from a sync (logged), not only TvillingError: a bug there must not end
    delivery for every route; it tries again at the next poll."""
    import asyncio
    from types import SimpleNamespace

    import sqlalchemy as sa

    from tvilling.app.event_delivery import EventDelivery

    engine = sa.create_engine("sqlite://")
    services = SimpleNamespace(store=SimpleNamespace(engine=engine))
    delivery = EventDelivery(services, SimpleNamespace(), Settings(webhook_poll_s=0.01), sender=object())  # type: ignore[arg-type]
    calls: list[int] = []

    async def flaky_sync() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("a bug")

    async def main() -> None:
        delivery._changed = asyncio.Event()
        delivery._sync = flaky_sync  # type: ignore[method-assign]
        task = asyncio.create_task(delivery.run())
        for _ in range(200):
            if len(calls) >= 2:
                break
            await asyncio.sleep(0.01)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(main())
    engine.dispose()
    assert len(calls) >= 2
