"""Telemetry: HTTP batch ingest (JSON or NDJSON, ``Idempotency-Key``), history, quarantine.

A 2xx answer to ``POST /api/v1/telemetry`` means the batch is committed (G1); a store failure answers 503 with
Retry-After, and a retry with the same Idempotency-Key never duplicates rows (storage is idempotent, G2).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from tvilling.adapters.sql.timeseries import AGGREGATES, iso_us
from tvilling.api.body import json_body
from tvilling.api.deps import ID_PATTERN, require, services
from tvilling.api.errors import errors
from tvilling.api.responses import Json
from tvilling.app.auth import Principal
from tvilling.app.ingest_rows import HttpReading
from tvilling.app.ingest_service import IngestRuntime
from tvilling.core.errors import ConflictError, UnavailableError, ValidationError
from tvilling.core.roles import Role

router = APIRouter(prefix="/api/v1", tags=["telemetry"])
MAX_READINGS = 10_000
MAX_DEPTH = 8
_BUCKET = re.compile(r"^(\d{1,7})([smhd]?)$")
_UNIT_S = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
READING = {"type": "object", "required": ["twinId", "name", "value"], "properties": {
    "twinId": {"type": "string"}, "name": {"type": "string"}, "value": {},
    "unit": {"type": "string"},
    # No `format: date-time`: a reading whose time does not parse is bad sensor data, quarantined with its reason
    # (rule Q-06), not a malformed request.
    "sourceTime": {"type": "string", "description": "RFC 3339 source time; unparseable values are quarantined"}}}
# No maxItems in the schema: the limit is enforced by the body-size cap (413) and MAX_READINGS (422), and a schema
# bound would make a 413 look like "invalid data accepted" to schema-driven fuzzers.
BATCH_BODY = json_body({"oneOf": [{"type": "object", "required": ["readings"], "properties": {
    "readings": {"type": "array", "items": READING}}}, {"type": "array", "items": READING}]},
    media_types=("application/json", "application/x-ndjson"))


def runtime(request: Request) -> IngestRuntime:
    rt = getattr(request.app.state, "ingest", None)
    if rt is None:
        raise UnavailableError("ingestion is not running", hint="retry once the platform has started")
    assert isinstance(rt, IngestRuntime)
    return rt


def _depth(v: Any, d: int = 0) -> int:
    if d > MAX_DEPTH:
        return d
    if isinstance(v, dict):
        return max((_depth(x, d + 1) for x in v.values()), default=d + 1)
    if isinstance(v, list):
        return max((_depth(x, d + 1) for x in v), default=d + 1)
    return d


def _parse_body(raw: bytes, ndjson: bool) -> list[HttpReading]:
    try:
        if ndjson:
            items: Any = [json.loads(line) for line in raw.splitlines() if line.strip()]
        else:
            doc = json.loads(raw)  # NaN/Infinity are accepted here on purpose: they are quarantined (Q-02)
            items = doc.get("readings") if isinstance(doc, dict) else doc
    except RecursionError as exc:
        raise ValidationError("the JSON is nested too deeply", where="body") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationError(f"the body is not valid JSON: {exc}", where="body",
                              hint='send {"readings": [{"twinId", "name", "value", "unit", "sourceTime"}]}') from exc
    if not isinstance(items, list) or not items:
        raise ValidationError("no readings", where="body.readings", hint="send a non-empty list of readings")
    if len(items) > MAX_READINGS:
        raise ValidationError(f"at most {MAX_READINGS} readings per request", where="body.readings")
    out = []
    for i, it in enumerate(items):
        where = f"body.readings[{i}]"
        if not isinstance(it, dict) or "value" not in it:
            raise ValidationError("each reading is an object with twinId, name and value", where=where)
        twin, name = it.get("twinId"), it.get("name")
        if not isinstance(twin, str) or not re.fullmatch(ID_PATTERN, twin) or not isinstance(name, str) \
                or not name or len(name) > 512:
            raise ValidationError("twinId and name must be valid identifiers", where=where)
        for key in ("unit", "sourceTime"):
            if it.get(key) is not None and not isinstance(it[key], str):
                raise ValidationError(f"{key} must be a string", where=f"{where}.{key}")
        if _depth(it.get("value")) > MAX_DEPTH:
            raise ValidationError("value nested too deeply", where=where + ".value")
        out.append(HttpReading(twin, name, it["value"], it.get("unit"), it.get("sourceTime")))
    return out


@router.post("/telemetry", response_model=None, openapi_extra=BATCH_BODY, responses=errors(409, 413),
             summary="Ingest a batch of readings; answered only after the batch is committed")
async def ingest_batch(request: Request, principal: Annotated[Principal, Depends(require(Role.OPERATOR))],
                       idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)] = None
                       ) -> Response:
    rt = runtime(request)
    raw = await request.body()
    ndjson = "ndjson" in request.headers.get("content-type", "")
    digest = rt.idempotency.digest(raw)
    if idempotency_key:
        seen = rt.idempotency.get(principal.tenant, idempotency_key)
        if seen is not None:
            if seen[0] != digest:
                raise ConflictError("this Idempotency-Key was used with a different body",
                                    hint="use a new key for a new batch")
            return Json({**seen[1], "replayed": True})
    readings = _parse_body(raw, ndjson)
    await rt.pipeline.ingest_http(readings, tenant=principal.tenant, address=f"http:{principal.tenant}")
    answer = {"accepted": len(readings), "committed": True}
    if idempotency_key:
        rt.idempotency.put(principal.tenant, idempotency_key, digest, answer)
    return Json(answer)


def parse_bucket(bucket: str) -> int:
    """``"300"``, ``"5m"``, ``"1h"``, ``"1d"`` as seconds."""
    m = _BUCKET.fullmatch(bucket)
    if m is None or int(m.group(1)) == 0:
        raise ValidationError("bucket is a positive number of seconds or 1m / 1h / 1d", where="bucket")
    return int(m.group(1)) * _UNIT_S[m.group(2)]


def parse_time(value: str | None, default: datetime, where: str) -> int:
    """An ISO 8601 time with its zone (or ``default``) as epoch microseconds; also used by the FMU routes."""
    if value is None:
        dt = default
    else:
        try:
            dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as exc:
            raise ValidationError(f"{where} is not an ISO 8601 time", where=where,
                                  hint="e.g. 2026-01-01T00:00:00Z") from exc
        if dt.tzinfo is None:
            raise ValidationError(f"{where} needs a time zone", where=where, hint="end it with Z")
    delta = dt - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


@router.get("/twins/{twin_id}/history/{name}", response_model=None, responses=errors(404),
            summary="History of one twin property: raw samples, or aggregates per bucket")
async def history(request: Request, principal: Annotated[Principal, Depends(require(Role.VIEWER))],
                  twin_id: Annotated[str, Path(pattern=ID_PATTERN)],
                  name: Annotated[str, Path(min_length=1, max_length=512)],
                  start: Annotated[str | None, Query(max_length=64)] = None,
                  end: Annotated[str | None, Query(max_length=64)] = None,
                  bucket: Annotated[str | None, Query(max_length=12, description="seconds, or 1m, 1h, 1d")] = None,
                  agg: Annotated[str | None, Query(max_length=64, description="min,max,mean,last,count")] = None,
                  limit: Annotated[int, Query(ge=1, le=100_000)] = 10_000) -> Response:
    rt = runtime(request)
    svc = services(request)
    await run_in_threadpool(svc.twins.get, principal.tenant, twin_id)  # 404 for unknown or foreign twins
    now = datetime.now(UTC)
    end_us = parse_time(end, now, "end")
    start_us = parse_time(start, now - timedelta(hours=1), "start")
    if end_us <= start_us:
        raise ValidationError("end must be after start", where="end")
    body: dict[str, Any] = {"twinId": twin_id, "name": name, "start": iso_us(start_us), "end": iso_us(end_us)}
    if bucket is None:
        rows = await run_in_threadpool(rt.history.history, principal.tenant, twin_id, name, start_us, end_us,
                                       limit + 1)
        body["items"] = [{**r, "t": iso_us(r["t"])} for r in rows[:limit]]
        body["truncated"] = len(rows) > limit
        return Json(body)
    bucket_s = parse_bucket(bucket)
    aggs = [a.strip() for a in (agg or "min,max,mean,last,count").split(",") if a.strip()]
    if not aggs or any(a not in AGGREGATES for a in aggs):
        raise ValidationError(f"agg must be a comma list of {', '.join(AGGREGATES)}", where="agg")
    rows = await run_in_threadpool(rt.history.bucketed, principal.tenant, twin_id, name, start_us, end_us,
                                   bucket_s, aggs)
    body.update(bucket=bucket_s, aggregates=aggs, items=[{**r, "t": iso_us(r["t"])} for r in rows])
    return Json(body)


@router.get("/quarantine", response_model=None, responses=errors(),
            summary="Rejected input, newest first, with the reason (raw payloads are not returned)")
async def quarantine_list(request: Request, principal: Annotated[Principal, Depends(require(Role.OPERATOR))],
                          reason: Annotated[str | None, Query(max_length=48, pattern=r"^[a-z_]+$")] = None,
                          limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                          before: Annotated[int | None, Query(ge=1)] = None) -> Response:
    rt = runtime(request)
    items = await run_in_threadpool(rt.history.quarantined, principal.tenant, reason=reason, limit=limit,
                                    before_id=before)
    return Json({"items": items, "next": items[-1]["id"] if len(items) == limit else None})
