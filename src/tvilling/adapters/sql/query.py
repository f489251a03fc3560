"""Run ADT queries against the SQL store: parse once, one SQL statement per page, keyset continuation tokens.

>>> # execute_query(conn, tenant="acme", text="SELECT * FROM DIGITALTWINS WHERE IS_OF_MODEL('dtmi:x;1')",
>>> #               resolve_models=lambda dtmi, exact: {dtmi})
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from tvilling.adapters.sql.query_compile import Compiled, compile_query
from tvilling.adapters.sql.query_expr import ModelResolver
from tvilling.core.errors import ValidationError
from tvilling.query import parse

MAX_PAGE_SIZE = 10_000
_TOKEN_VERSION = 1


@dataclass
class QueryPage:
    items: list[dict[str, Any]]
    continuation: str | None


def _text_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _digest(body: str, tenant: str) -> str:
    # A checksum, not a secret signature: it rejects edited, truncated or other tenants' tokens. A forged token
    # could only move the position inside this tenant's own result set, because tenant scoping is in the SQL.
    return hashlib.sha256(f"{tenant}\x00{body}".encode()).hexdigest()[:24]


def encode_token(*, tenant: str, text: str, last_key: list[Any], returned: int) -> str:
    body = base64.urlsafe_b64encode(json.dumps(
        {"v": _TOKEN_VERSION, "q": _text_hash(text), "k": last_key, "n": returned},
        separators=(",", ":")).encode()).decode().rstrip("=")
    return f"{body}.{_digest(body, tenant)}"


def decode_token(token: str, *, tenant: str, text: str) -> tuple[list[Any], int]:
    """Return (last key, rows already returned); raises ValidationError for anything not issued for this query."""
    bad = ValidationError("invalid continuation token", where="continuationToken",
                          hint="pass back the token exactly as returned, with the same query text")
    body, _, digest = token.partition(".")
    if not body or digest != _digest(body, tenant):
        raise bad
    try:
        payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except (ValueError, UnicodeDecodeError) as exc:
        raise bad from exc
    if not isinstance(payload, dict) or payload.get("v") != _TOKEN_VERSION:
        raise bad
    if payload.get("q") != _text_hash(text):
        raise ValidationError("continuation token was issued for a different query", where="continuationToken",
                              hint="send the same query text with its continuation token")
    key, returned = payload.get("k"), payload.get("n")
    if not isinstance(key, list) or not isinstance(returned, int) or returned < 0:
        raise bad
    return key, returned


def _walk(doc: Any, parts: tuple[str, ...]) -> tuple[bool, Any]:
    for part in parts:
        if not isinstance(doc, dict) or part not in doc:
            return False, None
        doc = doc[part]
    return True, doc


def _shape(compiled: Compiled, row: Any) -> dict[str, Any]:
    if compiled.star is not None:
        doc: dict[str, Any] = row[compiled.docs[compiled.star][1]]
        return doc
    item: dict[str, Any] = {}
    for proj in compiled.projections:
        found, value = _walk(row[compiled.docs[proj.path.alias][1]], proj.path.parts)
        if found:  # as ADT: a projected property a row lacks is left out of that row
            item[proj.name] = value
    return item


def execute_query(conn: sa.Connection, *, tenant: str, text: str, resolve_models: ModelResolver,
                  page_size: int = 1000, continuation: str | None = None) -> QueryPage:
    """Run one page of an ADT query for ``tenant``; pass ``continuation`` back to get the next page."""
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ValidationError(f"page size must be between 1 and {MAX_PAGE_SIZE}, not {page_size}")
    query = parse(text)
    compiled = compile_query(query, tenant=tenant, resolve_models=resolve_models, dialect=conn.dialect.name)
    if compiled.count is not None:
        if continuation is not None:
            decode_token(continuation, tenant=tenant, text=text)
        n = conn.execute(compiled.stmt).scalar_one()
        return QueryPage([{compiled.count: int(n)}], None)
    last_key: list[Any] | None = None
    returned = 0
    if continuation is not None:
        last_key, returned = decode_token(continuation, tenant=tenant, text=text)
        if len(last_key) != len(compiled.keys):
            raise ValidationError("invalid continuation token", where="continuationToken")
    limit = page_size
    if query.top is not None:
        limit = min(limit, query.top - returned)
        if limit <= 0:
            return QueryPage([], None)
    stmt = compiled.stmt
    if last_key is not None:
        stmt = stmt.where(sa.tuple_(*compiled.keys) > sa.tuple_(*[sa.literal(v) for v in last_key]))
    stmt = stmt.order_by(*compiled.keys).limit(limit + 1)
    rows = conn.execute(stmt).all()
    more = len(rows) > limit
    rows = rows[:limit]
    items = [_shape(compiled, row) for row in rows]
    token = None
    if more and rows and (query.top is None or returned + len(rows) < query.top):
        last = rows[-1]
        token = encode_token(tenant=tenant, text=text, last_key=list(last[compiled.key_start:]),
                             returned=returned + len(rows))
    return QueryPage(items, token)
