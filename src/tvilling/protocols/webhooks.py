"""Outbound webhooks on the wire: CloudEvents 1.0 in structured JSON mode, signed per the Standard Webhooks spec,
with the retry schedule and the allow-list of target hosts.

Pure (no I/O, no clock, no randomness of its own): times and random draws are passed in, so the schedule and the
signatures are testable against the specs by hand.

- CloudEvents 1.0, structured content mode over HTTP: the whole event is the JSON body,
  ``Content-Type: application/cloudevents+json`` (https://github.com/cloudevents/spec, http-protocol-binding.md).
- Standard Webhooks (https://www.standardwebhooks.com): headers ``webhook-id``, ``webhook-timestamp`` (Unix
  seconds) and ``webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">``; the secret is
  ``whsec_<base64 key>`` and the key is its base64-decoded bytes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, urlsplit

SPECVERSION = "1.0"
CONTENT_TYPE = "application/cloudevents+json"
TYPE_PREFIX = "io.tvilling."
SECRET_PREFIX = "whsec_"
SIGNATURE_VERSION = "v1"
DEFAULT_TOLERANCE_S = 300  # the Standard Webhooks recommendation for accepting a timestamp
SCHEMES = ("http", "https")
DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_URL = 2000


def cloud_event(*, event_id: str, tenant: str, kind: str, subject: str, time: str, data: Any,
                seq: int | None = None) -> dict[str, Any]:
    """One platform event as a CloudEvents 1.0 JSON document. ``source`` names the tenant (the producer's scope);
    ``subject`` the object (a twin id, ``fmus/<id>``, …); ``tvillingseq`` the event's position in the log."""
    doc: dict[str, Any] = {"specversion": SPECVERSION, "id": event_id, "source": source_of(tenant),
                           "type": TYPE_PREFIX + kind, "subject": subject, "time": time,
                           "datacontenttype": "application/json", "data": data}
    if seq is not None:
        doc["tvillingseq"] = seq  # an extension attribute: lower-case letters and digits only (spec)
    return doc


def source_of(tenant: str) -> str:
    return "/tenants/" + quote(tenant, safe="")


def encode(document: Mapping[str, Any]) -> bytes:
    """The body exactly as sent and signed: compact UTF-8 JSON (NaN/Infinity refused: not JSON)."""
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False, allow_nan=False,
                      default=str).encode("utf-8")


def secret_text(key: bytes) -> str:
    """A signing key as users see it: ``whsec_`` + base64 (what receivers configure)."""
    return SECRET_PREFIX + base64.b64encode(key).decode("ascii")


def secret_key(text: str) -> bytes:
    """The signing key of a ``whsec_…`` secret (the prefix is optional, as in the spec's libraries)."""
    return base64.b64decode(text.removeprefix(SECRET_PREFIX), validate=True)


def sign(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>``."""
    content = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, content, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode('ascii')}"


def headers(key: bytes, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The request headers of one delivery attempt (the id stays the same across retries: receivers dedupe)."""
    return {"content-type": CONTENT_TYPE, "webhook-id": msg_id, "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(key, msg_id, timestamp, body)}


def verify(key: bytes, received: Mapping[str, str], body: bytes, now: float,
           tolerance_s: float = DEFAULT_TOLERANCE_S) -> bool:
    """What a receiver does: a fresh timestamp and at least one matching ``v1`` signature (constant-time)."""
    lowered = {k.lower(): v for k, v in received.items()}
    try:
        msg_id, timestamp = lowered["webhook-id"], int(lowered["webhook-timestamp"])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance_s:
        return False
    expected = sign(key, msg_id, timestamp, body).encode()
    return any(hmac.compare_digest(expected, candidate.encode())
               for candidate in lowered.get("webhook-signature", "").split() if candidate.startswith("v1,"))


# -- retries ---------------------------------------------------------------------------------------------------
def backoff_s(attempt: int, *, initial_s: float, max_s: float, draw: float) -> float:
    """The wait after failed attempt number ``attempt`` (1-based): ``initial_s`` doubling per attempt up to
    ``max_s``, then "equal jitter" (a uniform share of the upper half, ``draw`` in [0, 1)), so many routes failing
    at once do not retry in lock-step yet every wait is at least half the schedule's."""
    ceiling = min(max_s, initial_s * math.pow(2.0, max(0, attempt - 1)))
    return ceiling / 2 + ceiling / 2 * min(max(draw, 0.0), 1.0)


def retry_after_s(value: str | None, now_epoch_s: float, *, max_s: float) -> float | None:
    """The receiver's ``Retry-After`` (seconds, or an HTTP date) as a wait in seconds, capped at ``max_s``;
    None when absent or unreadable."""
    if not value or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(text).timestamp() - now_epoch_s
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    if not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), max_s)


# -- where a route may send ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # lower case, IPv6 without brackets
    port: int


class UrlRefused(ValueError):
    """A target URL that may not be used; ``args[0]`` says why, ``hint`` how to fix it. ``denial``: the refusal S-11
    is about (another scheme — ``file://``, ``gopher://`` —, credentials, a host not on the allow-list), as opposed
    to a malformed URL, which is a plain input mistake."""

    def __init__(self, message: str, hint: str, *, denial: bool = False) -> None:
        super().__init__(message)
        self.hint = hint
        self.denial = denial


def parse_target(url: str) -> Target:
    """The scheme, host and port of a route's URL; only absolute http(s) URLs without credentials or fragment."""
    if len(url) > MAX_URL or any(ord(c) < 33 or ord(c) == 127 for c in url):
        raise UrlRefused("the URL is too long or contains spaces or control characters",
                         f"give an absolute http(s) URL of at most {MAX_URL} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UrlRefused(f"the URL cannot be read: {exc}", "e.g. https://cmms.example.com/hooks/tvilling") from None
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise UrlRefused(f"the scheme {parts.scheme or '(none)'!r} is not allowed", "use http:// or https://",
                         denial=bool(parts.scheme))
    if not parts.hostname:
        raise UrlRefused("the URL names no host", "e.g. https://cmms.example.com/hooks/tvilling")
    if parts.username is not None or parts.password is not None:
        raise UrlRefused("the URL carries credentials (user:password@)",
                         "leave them out: receivers check the webhook signature instead", denial=True)
    if parts.fragment:
        raise UrlRefused("the URL has a fragment (#…)", "leave it out: it is never sent")
    return Target(scheme, parts.hostname.lower(), port if port is not None else DEFAULT_PORTS[scheme])


def parse_allowed(entry: str) -> tuple[str, int | None]:
    """An allow-list entry: ``host``, ``host:port``, an IPv6 address, or ``[v6]`` / ``[v6]:port``; (host, port or
    None). Anything else (a scheme, a path, a port that is not 1-65535) raises ValueError: a malformed entry must
    not end up allowing more than it says."""
    text = entry.strip().lower()
    if any(c in text for c in "/@?# "):
        raise ValueError(f"{entry!r} is not a host name or address (no scheme, no path)")
    port: str | None = None
    if text.startswith("["):
        host, close, rest = text[1:].partition("]")
        if not close or (rest and not rest.startswith(":")):
            raise ValueError(f"{entry!r} is not [IPv6] or [IPv6]:port")
        port = rest[1:] if rest else None
        if not _is_v6(host):
            raise ValueError(f"{entry!r} does not hold an IPv6 address in its brackets")
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    else:
        host = text  # a name, an IPv4 address, or a bare IPv6 address (two or more colons)
    if ":" in host:
        if not _is_v6(host):
            raise ValueError(f"{entry!r} is not a host name or address (no scheme, no path)")
    elif not _HOST.fullmatch(host):
        raise ValueError(f"{entry!r} is not a host name or address (no scheme, no path)")
    if port is None:
        return host, None
    if not _PORT.fullmatch(port) or not 1 <= int(port) <= 65535:
        raise ValueError(f"{entry!r} has no valid port (1-65535)")
    return host, int(port)


_HOST = re.compile(r"[a-z0-9_](?:[a-z0-9_.-]{0,251}[a-z0-9_])?", re.ASCII)
_PORT = re.compile(r"[0-9]{1,5}", re.ASCII)


def _is_v6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


def host_allowed(target: Target, allowed: Sequence[str]) -> bool:
    """Exact names only (no wildcards, no resolution): ``127.1`` or a DNS alias of an allowed host is refused, so
    the list fails closed (a malformed entry, refused when the settings load, allows nothing)."""
    for entry in allowed:
        try:
            host, port = parse_allowed(entry)
        except ValueError:
            continue
        if host == target.host and (port is None or port == target.port):
            return True
    return False


def check_url(url: str, allowed: Sequence[str], *, setting: str) -> Target:
    """The URL's target when it may be used; :class:`UrlRefused` naming ``setting`` when its host is not listed."""
    target = parse_target(url)
    if not host_allowed(target, allowed):
        # the list itself is the server's business, not every tenant's: only the setting is named
        raise UrlRefused(f"the host {target.host!r} (port {target.port}) is not an allowed webhook target",
                         f"an administrator adds the receiver's host (or host:port) to {setting} and restarts the "
                         "server", denial=True)
    return target
