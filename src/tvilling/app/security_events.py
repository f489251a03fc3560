"""The security denials that happen outside an API request, as :class:`~tvilling.app.security_audit.Denial` records
(reliability S-15). The API's own (401, 403, 429, WebSocket refusals and closes, errors marked as denials) are
counted by ``api.errors.audit_denial``.

- ``webhook.target_refused`` (S-11), in the route's tenant, actor ``system``: a delivery not sent because the
  route's host is no longer allowed (the route pauses), or a receiver's redirect that was not followed, in a delivery
  or a test ping (``status`` is its 3xx). A URL refused to the API or the dashboard (a route created, changed or
  tested) is counted there, with the caller (``EventRouteService.check_url`` marks the error).
- ``mqtt.identity_refused`` (S-05), in the mapping's tenant (the twin the payload would have fed is the tenant's):
  a payload whose ``device_id`` is not the topic's device. The platform does not authenticate MQTT publishers (the
  broker does), so the actor is ``anonymous``; the claimed id is kept as a sample (``claimedDeviceIds``), never
  grouped on. Counted per batch, after the commit that quarantined the payloads: a flood is one call per batch.
- ``opcua.refused`` (S-12), in ``_security``, actor ``system``, source the server's URL: a connection attempt the
  platform's OPC UA client refused (no endpoint with the configured security, an expired, wrong-URI or not-pinned
  server certificate) or that the server refused (our certificate not trusted). Once per attempt; attempts follow
  the client's backoff. The OPC UA connection is the server's, not a tenant's, hence ``_security``.

Outside HTTP, ``status`` is the HTTP status closest in meaning (403 refused, 422 a URL not allowed, a receiver's
3xx), and the reason says what happened.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from tvilling.app.security_audit import SECURITY_TENANT, Denial, SecurityAudit
from tvilling.core.errors import TvillingError

TARGET_REFUSED = "webhook.target_refused"
IDENTITY_REFUSED = "mqtt.identity_refused"
OPCUA_REFUSED = "opcua.refused"


def webhook_refused(audit: SecurityAudit | None, tenant: str, route_id: str, url: str, *, status: int,
                    reason: str) -> None:
    """One delivery the platform would not send, or a redirect it would not follow (``url``: the route's)."""
    if audit is not None:
        host = urlsplit(url).hostname or "unknown"
        audit.record(Denial(TARGET_REFUSED, tenant, host, "system", "POST", f"event-routes/{route_id}", status,
                            reason[:200]))


def identity_refusals(audit: SecurityAudit) -> Callable[[Any], None]:
    """An ingest ``on_commit`` hook: the batch's refused identities (``Rows.identity_refused``) into the audit."""

    def hook(committed: Any) -> None:
        for (tenant, source, topic, device, claimed), n in committed.rows.identity_refused.items():
            audit.record(Denial(IDENTITY_REFUSED, tenant, source, "anonymous", "PUBLISH", topic, 403,
                                f"the payload's device_id is not {device!r}, the topic's device"[:200],
                                claimed=claimed), n)

    return hook


def opcua_refusals(audit: SecurityAudit | None, client: str, url: str) -> Callable[[TvillingError], None] | None:
    """The ``on_refused`` callback of one of the platform's OPC UA clients (``client``: ingest or commands)."""
    if audit is None:
        return None

    source = _without_userinfo(url)  # opc.tcp://user:password@host is valid; no password goes into the chain

    def refused(exc: TvillingError) -> None:
        audit.record(Denial(OPCUA_REFUSED, SECURITY_TENANT, source, "system", "CONNECT", f"opcua/{client}", 403,
                            exc.message[:200]))

    return refused


def _without_userinfo(url: str) -> str:
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = (f"[{host}]" if ":" in host else host) + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))
