"""Opaque continuation tokens for keyset paging (stable under inserts, no OFFSET scans)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from typing import Any

from tvilling.core.errors import ValidationError

TOKEN_PATTERN = r"^[A-Za-z0-9_-]{1,4000}\.[0-9a-f]{8}$"


def _check(body: str) -> str:
    # A checksum, not a signature: it turns edited or made-up tokens into a clear 422 instead of a silently
    # different page. Tenancy never depends on it (every query is scoped to the caller's tenant).
    return hashlib.sha256(body.encode()).hexdigest()[:8]


def encode(value: Any) -> str:
    raw = json.dumps(value, separators=(",", ":")).encode()
    body = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    return f"{body}.{_check(body)}"


def _invalid() -> ValidationError:
    return ValidationError("the continuation token is not valid", where="continuationToken",
                           hint="pass back the continuationToken from the previous page unchanged")


def decode(token: str | None) -> Any:
    if token is None:
        return None
    body, _, check = token.partition(".")
    if not body or check != _check(body):
        raise _invalid()
    try:
        return json.loads(base64.urlsafe_b64decode((body + "=" * (-len(body) % 4)).encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise _invalid() from exc


def decode_str(token: str | None) -> str | None:
    value = decode(token)
    if value is not None and not isinstance(value, str):
        raise ValidationError("the continuation token is not valid", where="continuationToken",
                              hint="pass back the continuationToken from the previous page unchanged")
    return value


def decode_int(token: str | None) -> int | None:
    """A token made from an integer position (e.g. the last id of a page)."""
    value = decode(token)
    if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
        raise _invalid()
    return value


def clamp(requested: int | None, default: int, maximum: int) -> int:
    """Page sizes are capped (reliability S-10): a huge request gets the maximum, not an error."""
    if requested is None:
        return default
    return max(1, min(requested, maximum))
