"""Event routes: a tenant's events pushed to an outside receiver (a CMMS, a ticketing system) as signed CloudEvents.

This module is the configuration side, used by the API, the dashboard and the delivery service
(:mod:`tvilling.app.event_delivery`): create, change, pause/resume, delete, rotate the signing secret, read the
delivery log, queue a dead letter again. Viewers read; operators pause, resume, test and redeliver; engineers
create, change and delete (a route sends the tenant's data out of the platform). The service checks the role itself,
so no front-end can forget. Every change is an ``eventroute.*`` event on subject ``event-routes/<id>``, committed
with the change.

A route's filter has the event stream's semantics (:class:`~tvilling.app.event_filter.EventFilter`): kinds match
as prefixes (``workorder`` matches ``workorder.created``), twins by id, models by the twin's model or a model it
extends. Its URL must be http(s) on a host of the ``webhook_allowed_hosts`` setting (loopback only by default).
"""

from __future__ import annotations

import builtins
import re
import secrets
from collections.abc import Callable, Mapping
from typing import Any

from tvilling.adapters.sql.event_routes import SqlEventRouteRepo
from tvilling.adapters.webhook_http import Answer
from tvilling.app.auth import require_role as _need
from tvilling.app.event_filter import EventFilter, TwinModels
from tvilling.app.security_audit import MARK, SecurityAudit
from tvilling.app.security_events import TARGET_REFUSED, webhook_refused
from tvilling.app.shared import shared
from tvilling.app.webhook_keys import SigningKeys
from tvilling.core.context import new_id
from tvilling.core.errors import ConflictError, NotFoundError, TvillingError, ValidationError
from tvilling.core.event_routes import DELIVERY_STATES, FILTER_KEYS, Delivery, EventRoute
from tvilling.core.events import Event
from tvilling.core.roles import Role
from tvilling.ports.documents import iso
from tvilling.protocols import webhooks

ALLOWED_HOSTS_SETTING = "TVILLING_WEBHOOK_ALLOWED_HOSTS"
BACKLOG_CAP = 10_000  # backlogs are counted up to this many events
_NAME = re.compile(r"^[^\x00-\x1f\x7f]{1,200}$")
STARTS = ("now", "beginning")


def route_filter(route: EventRoute) -> EventFilter:
    f = route.filter
    return EventFilter(**{k: frozenset(f[k] or ()) if f.get(k) else None for k in FILTER_KEYS})


def envelope(seq: int, event: Event) -> tuple[str, bytes]:
    """(CloudEvents id, body) of a logged event. The id carries the log position and the change's random context
    id, so it is unique even across databases (a receiver dedupes on it, also across retries)."""
    event_id = f"{seq}-{event.context_id}"
    data = {"context": {"id": event.context_id, "parent_id": event.parent_id, "actor": event.actor},
            "payload": event.data}
    return event_id, webhooks.encode(webhooks.cloud_event(
        event_id=event_id, tenant=event.tenant, kind=event.kind, subject=event.subject, time=iso(event.time),
        data=data, seq=seq))


def _missing(route_id: str) -> NotFoundError:
    return NotFoundError(f"no event route {route_id!r}", where="id", hint="GET /api/v1/event-routes lists them")


class EventRouteService:
    def __init__(self, services: Any, settings: Any, *, security: SecurityAudit | None = None) -> None:
        self._services = services
        self.security = security  # refusals at delivery are counted here (S-15)
        self._store = services.store
        self._bus = services.bus
        self.clock = services.clock
        self.settings = settings
        self.keys = SigningKeys(settings.webhook_key_path())
        self.on_change: Callable[[], None] | None = None  # set by the delivery service: restart what changed

    # -- checks -----------------------------------------------------------------------------------------------
    def check_url(self, url: str, where: str = "url") -> webhooks.Target:
        """The URL's target, or a 422 marked as a security denial (S-11): whoever answers it counts it (the API's
        error handler, the dashboard page) with the caller it knows; the delivery side counts its own."""
        try:
            return webhooks.check_url(url, list(self.settings.webhook_allowed_hosts), setting=ALLOWED_HOSTS_SETTING)
        except webhooks.UrlRefused as exc:  # only S-11's refusals are security events; a malformed URL is a typo
            raise ValidationError(str(exc), where=where, hint=exc.hint,
                                  extra={MARK: TARGET_REFUSED} if exc.denial else {}) from None

    def delivery_refused(self, route: EventRoute, exc: TvillingError) -> None:
        """A delivery not sent: the route's host is no longer allowed (a security event, S-11; the route pauses).
        A test ping refused the same way is counted where it was asked for, with the caller."""
        webhook_refused(self.security, route.tenant, route.id, route.url, status=422, reason=exc.message)

    def answered(self, route: EventRoute, answer: Answer) -> None:
        """A receiver's redirect is never followed (adapters/webhook_http.py): counted as a refused target."""
        if answer.redirect:
            assert answer.status_code is not None
            webhook_refused(self.security, route.tenant, route.id, route.url, status=answer.status_code,
                            reason="a redirect was not followed")

    @staticmethod
    def parse_filter(raw: Mapping[str, Any] | None) -> dict[str, list[str] | None]:
        """A route filter: ``kinds``, ``twins``, ``models`` (each a list; omitted or empty = no restriction)."""
        raw = dict(raw or {})
        unknown = sorted(set(raw) - set(FILTER_KEYS))
        if unknown:
            raise ValidationError(f"unknown filter key(s): {', '.join(unknown)}", where="filter",
                                  hint="known: " + ", ".join(FILTER_KEYS))
        flt = EventFilter.parse({k: v for k, v in raw.items() if v is not None}, what="filter", where="filter",
                               prefix="filter.")
        flt.check_kinds(where="filter.kinds")
        return {k: sorted(v) if (v := getattr(flt, k)) else None for k in FILTER_KEYS}

    @staticmethod
    def _name(name: str) -> str:
        label = (name or "").strip()
        if not _NAME.fullmatch(label):
            raise ValidationError("the name must be 1-200 characters without control characters", where="name")
        return label

    # -- reads ------------------------------------------------------------------------------------------------
    def list(self, tenant: str) -> builtins.list[dict[str, Any]]:
        with self._store.read() as tx:
            repo = SqlEventRouteRepo(tx.conn)
            end = repo.last_seq()
            return [self._view(repo, r, end) for r in repo.list(tenant)]

    def get(self, tenant: str, route_id: str) -> dict[str, Any]:
        with self._store.read() as tx:
            repo = SqlEventRouteRepo(tx.conn)
            return self._view(repo, self._route(repo, tenant, route_id), repo.last_seq())

    def route(self, tenant: str, route_id: str) -> EventRoute:
        with self._store.read() as tx:
            return self._route(SqlEventRouteRepo(tx.conn), tenant, route_id)

    def deliveries(self, tenant: str, route_id: str, *, status: str | None = None, before: int | None = None,
                   limit: int = 100) -> builtins.list[Delivery]:
        if status is not None and status not in DELIVERY_STATES:
            raise ValidationError(f"unknown delivery status {status!r}", where="status",
                                  hint="one of " + ", ".join(DELIVERY_STATES))
        with self._store.read() as tx:
            repo = SqlEventRouteRepo(tx.conn)
            self._route(repo, tenant, route_id)
            return repo.deliveries(tenant, route_id, status=status, before=before, limit=limit)

    def signing_key(self, route: EventRoute) -> bytes:
        return self.keys.secret(route.tenant, route.id, route.secret_version)

    # -- writes -----------------------------------------------------------------------------------------------
    def create(self, tenant: str, *, name: str, url: str, filter: Mapping[str, Any] | None = None,
               enabled: bool = True, start: str = "now", role: Role, actor: str) -> tuple[dict[str, Any], str]:
        """A new route and its signing secret (``whsec_…``, shown only now). It starts at the current end of the
        log (``start="now"``) or replays the whole log (``"beginning"``)."""
        _need(role, Role.ENGINEER, "create event routes")
        label = self._name(name)
        self.check_url(url)
        flt = self.parse_filter(filter)
        if start not in STARTS:
            raise ValidationError(f"unknown start {start!r}", where="start", hint="one of " + ", ".join(STARTS))
        now = self.clock.now()
        route_id = "rt-" + secrets.token_hex(8)
        with self._store.write() as tx:
            repo = SqlEventRouteRepo(tx.conn)
            if repo.name_taken(tenant, label):
                raise ConflictError(f"an event route named {label!r} exists", where="name",
                                    hint="choose another name, or change the existing route (PATCH)")
            route = EventRoute(tenant=tenant, id=route_id, name=label, url=url, filter=flt, enabled=enabled,
                               secret_version=1, cursor_seq=0 if start == "beginning" else repo.last_seq(),
                               created_by=actor, created_at=now, updated_by=actor, updated_at=now,
                               paused_reason=None if enabled else f"created paused by {actor}")
            # derived inside the transaction: a key file that cannot be made leaves no route whose secret was
            # never shown
            secret = webhooks.secret_text(self.signing_key(route))
            repo.insert(route)
            event = self._event(tx, "eventroute.created", route, actor,
                                {"name": label, "url": url, "filter": flt, "enabled": enabled, "start": start})
        self._published(event)
        return self.get(tenant, route_id), secret

    def update(self, tenant: str, route_id: str, changes: Mapping[str, Any], *, role: Role,
               actor: str) -> dict[str, Any]:
        """``name``, ``url``, ``filter`` (engineer) and ``enabled`` (operator: pause and resume)."""
        unknown = sorted(set(changes) - {"name", "url", "filter", "enabled"})
        if unknown:
            raise ValidationError(f"cannot change {', '.join(unknown)}", where=unknown[0],
                                  hint="changeable: name, url, filter, enabled")
        if set(changes) - {"enabled"}:
            _need(role, Role.ENGINEER, "change an event route's name, URL or filter")
        else:
            _need(role, Role.OPERATOR, "pause or resume event routes")
        values: dict[str, Any] = {}
        if "name" in changes:
            values["name"] = self._name(str(changes["name"]))
        if "url" in changes:
            self.check_url(str(changes["url"]))
            values["url"] = str(changes["url"])
        if "filter" in changes:
            values["filter"] = self.parse_filter(changes["filter"])
        if "enabled" in changes:
            if not isinstance(changes["enabled"], bool):
                raise ValidationError("enabled must be true or false", where="enabled")
            values["enabled"] = changes["enabled"]
            # Resuming starts afresh: the failures that led to a pause are history (kept in the delivery log).
            values.update({"paused_reason": None, "consecutive_failures": 0} if changes["enabled"]
                          else {"paused_reason": f"paused by {actor}", "lease_owner": None, "lease_until": None})
        with self._store.write() as tx:
            repo = SqlEventRouteRepo(tx.conn)
            route = self._route(repo, tenant, route_id)
            if "name" in values and repo.name_taken(tenant, values["name"], other_than=route_id):
                raise ConflictError(f"an event route named {values['name']!r} exists", where="name",
                                    hint="choose another name")
            repo.update(tenant, route_id, {**values, "updated_by": actor, "updated_at": self.clock.now()})
            event = self._event(tx, "eventroute.updated", route, actor,
                                {"changes": {k: v for k, v in values.items() if not k.startswith("lease")}})
        self._published(event)
        return self.get(tenant, route_id)

    def delete(self, tenant: str, route_id: str, *, role: Role, actor: str) -> None:
        _need(role, Role.ENGINEER, "delete event routes")
        with self._store.write() as tx:
            repo = SqlEventRouteRepo(tx.conn)
            route = self._route(repo, tenant, route_id)
            repo.delete(tenant, route_id)
            event = self._event(tx, "eventroute.deleted", route, actor, {"name": route.name})
        self._published(event)

    def rotate_secret(self, tenant: str, route_id: str, *, role: Role, actor: str) -> tuple[dict[str, Any], str]:
        """A new signing secret (shown only now); the old one stops signing at once."""
        _need(role, Role.ENGINEER, "rotate an event route's secret")
        with self._store.write() as tx:
            repo = SqlEventRouteRepo(tx.conn)
            route = self._route(repo, tenant, route_id)
            version = route.secret_version + 1
            repo.update(tenant, route_id, {"secret_version": version, "updated_by": actor,
                                           "updated_at": self.clock.now()})
            event = self._event(tx, "eventroute.secret_rotated", route, actor, {"secretVersion": version})
            # the secret of the version this transaction wrote (a concurrent rotation cannot swap them)
            secret = webhooks.secret_text(self.keys.secret(tenant, route_id, version))
        self._published(event)
        return self.get(tenant, route_id), secret

    def redeliver(self, tenant: str, route_id: str, delivery_id: int, *, role: Role, actor: str) -> Delivery:
        """Queue a dead-lettered event again: the route sends it (with its retries) before its next new event."""
        _need(role, Role.OPERATOR, "redeliver events")
        with self._store.write() as tx:
            repo = SqlEventRouteRepo(tx.conn)
            route = self._route(repo, tenant, route_id)
            found = repo.delivery(tenant, route_id, delivery_id)
            if found is None:
                raise NotFoundError(f"route {route_id} has no delivery {delivery_id}", where="delivery",
                                    hint=f"GET /api/v1/event-routes/{route_id}/deliveries?status=dead lists them")
            if found.status != "dead":
                raise ConflictError(f"delivery {delivery_id} is {found.status}, not dead-lettered", where="status",
                                    hint="only dead-lettered deliveries can be sent again")
            repo.save_delivery(tenant, route_id, found.event_seq, {"status": "queued", "attempts": 0,
                                                                   "next_attempt_at": None})
            event = self._event(tx, "eventroute.redelivery_queued", route, actor,
                                {"delivery": delivery_id, "eventSeq": found.event_seq})
            queued = repo.delivery(tenant, route_id, delivery_id)
        self._published(event)
        assert queued is not None
        return queued

    def test_target(self, tenant: str, route_id: str, *, role: Role) -> tuple[EventRoute, bytes]:
        """What a test ping needs: the route (its URL still allowed) and its signing key. Operators and above."""
        _need(role, Role.OPERATOR, "test event routes")
        route = self.route(tenant, route_id)
        self.check_url(route.url)
        return route, self.signing_key(route)

    # -- helpers ----------------------------------------------------------------------------------------------
    @staticmethod
    def _route(repo: SqlEventRouteRepo, tenant: str, route_id: str) -> EventRoute:
        route = repo.get(tenant, route_id)
        if route is None:
            raise _missing(route_id)
        return route

    def _view(self, repo: SqlEventRouteRepo, route: EventRoute, end: int) -> dict[str, Any]:
        view = route.as_dict()
        view["status"]["backlog"] = self._backlog(repo, route, end)
        view["status"]["deadLetters"] = repo.count(route.tenant, route.id, "dead")
        return view

    def _backlog(self, repo: SqlEventRouteRepo, route: EventRoute, end: int) -> int:
        """Events after the cursor that the filter lets through (counted up to :data:`BACKLOG_CAP`)."""
        flt = route_filter(route)
        kinds = sorted(flt.kinds) if flt.kinds else None
        if not flt.needs_model:
            return repo.count_after(route.tenant, route.cursor_seq, end, kinds=kinds,
                                    subjects=sorted(flt.twins) if flt.twins else None, cap=BACKLOG_CAP)
        lookups = TwinModels(self._services, route.tenant)
        candidates = repo.events_after(route.tenant, route.cursor_seq, end, kinds=kinds, subjects=None,
                                       limit=BACKLOG_CAP)
        return sum(1 for stored in candidates if lookups.apply(flt, stored.event) is not None)

    def _event(self, tx: Any, kind: str, route: EventRoute, actor: str, data: dict[str, Any]) -> Event:
        event = Event(kind=kind, tenant=route.tenant, subject=f"event-routes/{route.id}", time=self.clock.now(),
                      context_id=new_id(), actor=actor, data={"route": route.id, **data})
        tx.events.append([event])
        return event

    def _published(self, event: Event) -> None:
        self._bus.publish([event])
        if self.on_change is not None:
            self.on_change()


def event_route_service(app_state: Any, services: Any) -> EventRouteService:
    """The platform's one event-route service (created on first use; shared by the API, the dashboard and the
    delivery service)."""
    return shared(app_state, "event_routes", EventRouteService,
                  lambda: EventRouteService(services, app_state.settings,
                                            security=getattr(app_state, "security", None)))
