"""Explain a change: "why did line 1 slow down last night?" answered from the twin graph and its history.

``ExplainService.explain(tenant, twin, property, start, end, ...)`` walks the twin graph from the twin (relationships
either way, up to ``hops``), takes every numeric series those twins have, puts them on one bucket grid over a
reference window (by default as long as the incident, right before it) and the incident, and ranks them with the
pure engine :mod:`tvilling.ml.explain`. DTDL writable properties are *settings* (set by people or controllers: they
cannot be effects). Beside the ranked signals it lists what happened to those twins in the same span — commands,
alarms, work orders, setpoint loops, kill switches — from the event log: the first thing an engineer asks is "did
anyone change something?".

Read-only; every limit (window length, twins walked, series read) is a named constant, and a request beyond one is a
422 with the hint, never a silent cut; the events listed are the newest ``MAX_EVENTS``, and the answer says when older
ones were left out (``eventsTruncated``). At most ``CONCURRENT`` explanations read history at once per server.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from tvilling.adapters.sql.series import series_names
from tvilling.adapters.sql.timeseries_read import HistoryReader
from tvilling.app.slots import Slots
from tvilling.core.errors import NotFoundError, ValidationError
from tvilling.ml.explain import Direction, Settings, Signal, as_dict, explain
from tvilling.ports.documents import iso

MAX_HOPS = 4
MAX_TWINS = 200
MAX_SERIES = 400
MAX_EVENTS = 200
MAX_WINDOW = timedelta(days=31)
BUCKETS_S = (60, 300, 900, 3600, 6 * 3600, 86400)
MAX_GRID = 720  # buckets over reference + incident: the smallest bucket that keeps the grid within this
CONCURRENT = 2  # explanations reading history at once (per server)
SLOT_WAIT_S = 20.0
# What is listed beside the signals: things that happen *to* a twin, not its readings or the explainer's own output.
EVENT_PREFIXES = ("command.", "alarm.", "workorder.", "setpoint.", "killswitch.", "twin.quality", "insight.anomaly",
                  "twin.updated")


class _Reader(HistoryReader):
    def __init__(self, engine: Any) -> None:
        self.engine = engine


@dataclass(frozen=True, slots=True)
class Related:
    twin: str
    model: str
    hops: int
    path: tuple[str, ...]


@dataclass
class ExplainService:
    services: Any  # tvilling.app.services.Services

    def explain(self, tenant: str, twin_id: str, prop: str, start: datetime, end: datetime, *,
                reference: tuple[datetime, datetime] | None = None, hops: int = 2, bucket_s: int | None = None,
                direction: Direction = "any", top: int = 10) -> dict[str, Any]:
        start, end = _utc(start, "start"), _utc(end, "end")
        if not end > start:
            raise ValidationError("end must be after start", where="end")
        if end - start > MAX_WINDOW:  # before any arithmetic on it (a year-1 start would overflow)
            raise ValidationError(f"the incident spans more than {MAX_WINDOW.days} days", where="start",
                                  hint="explain a shorter window")
        ref_start, ref_end = ((_utc(reference[0], "referenceStart"), _utc(reference[1], "referenceEnd"))
                              if reference else (_minus(start, end - start), start))
        if not ref_end > ref_start or ref_end > start:
            raise ValidationError("the reference window must end no later than the incident starts and be non-empty",
                                  where="referenceStart", hint="leave both out: the window of the same length before")
        if (end - start) + (ref_end - ref_start) > MAX_WINDOW:
            raise ValidationError(f"reference + incident last more than {MAX_WINDOW.days} days", where="referenceStart",
                                  hint="explain a shorter window, or give a shorter reference")
        if not 0 <= hops <= MAX_HOPS:
            raise ValidationError(f"hops must be 0..{MAX_HOPS}", where="hops")
        if not 1 <= top <= 100:
            raise ValidationError("top must be 1..100", where="top")
        span = (end - start) + (ref_end - ref_start)
        bucket = bucket_s if bucket_s is not None else next(
            (b for b in BUCKETS_S if span.total_seconds() / b <= MAX_GRID), BUCKETS_S[-1])
        if bucket not in BUCKETS_S:
            raise ValidationError(f"bucket must be one of {', '.join(map(str, BUCKETS_S))} seconds", where="bucket")
        # Two epoch-aligned ranges (the history's rollups are): the reference's buckets, then the incident's (the
        # first is the one holding its start). Adjacent by default; a reference given elsewhere (last week's same
        # hours) is read where it is, and nothing between the two windows is.
        i0 = math.floor(start.timestamp() / bucket) * bucket
        i1 = math.ceil(end.timestamp() / bucket) * bucket
        r0 = math.floor(ref_start.timestamp() / bucket) * bucket
        r1 = min(math.ceil(ref_end.timestamp() / bucket) * bucket, i0)
        n_ref, n_inc = max(0, (r1 - r0) // bucket), (i1 - i0) // bucket
        if n_ref + n_inc > 5 * MAX_GRID:
            raise ValidationError(f"{n_ref + n_inc} buckets of {bucket} s: more than {5 * MAX_GRID}", where="bucket",
                                  hint="use a larger bucket")
        if n_ref < 3:
            raise ValidationError(f"the reference window holds {n_ref} bucket(s) of {bucket} s; at least 3 are needed",
                                  where="referenceStart", hint="a longer reference, or a smaller bucket")
        times = [r0 + i * bucket for i in range(n_ref)] + [i0 + i * bucket for i in range(n_inc)]
        related = self._related(tenant, twin_id, hops)
        model_set = self.services.models.model_set(tenant)
        with self.services.store.read() as tx:
            names = series_names(tx.conn, tenant, [r.twin for r in related])
        if prop not in names.get(twin_id, ()):
            raise ValidationError(f"twin {twin_id} has no history of {prop!r}", where="name",
                                  hint="known: " + (", ".join(sorted(names.get(twin_id, ()))[:20]) or "(none)"))
        pairs = [(r, name) for r in related for name in sorted(names.get(r.twin, ()))
                 if (r.twin, name) != (twin_id, prop)]
        if len(pairs) > MAX_SERIES:
            raise ValidationError(f"{len(pairs)} series within {hops} hop(s) of {twin_id}: more than {MAX_SERIES}",
                                  where="hops", hint="ask with fewer hops")
        reader = _Reader(self.services.store.engine)
        ranges = [(r0, r1, 0), (i0, i1, n_ref)]

        def grid(r: Related, name: str) -> Signal:
            """Bucket means on the grid; a 0/1 flag is told by its buckets' extremes (a 5-minute mean of a jam
            flag is 0.8, its min and max stay 0 and 1)."""
            out = np.full(n_ref + n_inc, np.nan)
            flag = True
            for a, b, offset in ranges:
                for row in reader.bucketed(tenant, r.twin, name, a * 1_000_000, b * 1_000_000, bucket,
                                           ["mean", "min", "max"]):
                    i = offset + (row["t"] // 1_000_000 - a) // bucket
                    if offset <= i < offset + (b - a) // bucket and row["mean"] is not None:
                        out[i] = row["mean"]
                        flag = flag and row["min"] in (0, 1) and row["max"] in (0, 1)
            return Signal(r.twin, name, out, unit=_unit(model_set, r.model, name), hops=r.hops, path=r.path,
                          setting=_member(model_set, r.model, name, writable=True),
                          state=flag and bool(np.isfinite(out).any()))

        with _SLOTS.slot():
            root = related[0]
            target = grid(root, prop)
            candidates = [grid(r, name) for r, name in pairs]
        result = explain(target, candidates, int(n_ref), direction=direction, settings=replace(Settings(), top=top))
        body = as_dict(result, [float(t) for t in times], float(bucket))
        for item in (body["target"], *body["contributors"]):
            item["since"] = _iso_s(item["since"])
        body["skipped"] = len(body["skipped"])  # reasons per series are noise in an answer; the count says enough
        events, truncated = self._events(tenant, [r.twin for r in related], datetime.fromtimestamp(r0, UTC), end)
        return {"twinId": twin_id, "property": prop, "model": root.model, "direction": direction,
                "start": iso(start), "end": iso(end), "referenceStart": iso(ref_start), "referenceEnd": iso(ref_end),
                "bucketS": bucket, "hops": hops, "twins": len(related), "series": len(pairs), **body,
                "events": events, "eventsTruncated": truncated}

    def _related(self, tenant: str, twin_id: str, hops: int) -> list[Related]:
        """Breadth-first over relationships both ways; the first path found to each twin is kept."""
        with self.services.store.read() as tx:
            root = tx.twins.get(tenant, twin_id)
            if root is None:
                raise NotFoundError(f"twin {twin_id} does not exist", where=twin_id)
            found = {twin_id: Related(twin_id, root.model_id, 0, ())}
            queue = deque([twin_id])
            while queue:
                here = found[queue.popleft()]
                if here.hops >= hops:
                    continue
                links = [(r.target_id, f"{here.twin} {r.name} {r.target_id}")
                         for r in tx.relationships.outgoing(tenant, here.twin, limit=MAX_TWINS)]
                links += [(r.source_id, f"{r.source_id} {r.name} {here.twin}")
                          for r in tx.relationships.incoming(tenant, here.twin, limit=MAX_TWINS)]
                for other, step in links:
                    if other in found:
                        continue
                    record = tx.twins.get(tenant, other)
                    if record is None:
                        continue
                    if len(found) >= MAX_TWINS:
                        raise ValidationError(f"more than {MAX_TWINS} twins within {hops} hop(s) of {twin_id}",
                                              where="hops", hint="ask with fewer hops")
                    found[other] = Related(other, record.model_id, here.hops + 1, (*here.path, step))
                    queue.append(other)
        return list(found.values())

    def _events(self, tenant: str, twins: list[str], start: datetime,
                end: datetime) -> tuple[list[dict[str, Any]], bool]:
        """The newest ``MAX_EVENTS`` (those nearest the incident), oldest first, and whether older ones were left
        out. A tenant-wide kill switch has the subject ``*``."""
        with self.services.store.read() as tx:
            stored = tx.events.between(tenant, [*twins, "*"], start, end, EVENT_PREFIXES, limit=MAX_EVENTS + 1,
                                       newest_first=True)
        kept = list(reversed(stored[:MAX_EVENTS]))
        return [{"time": iso(s.event.time), "kind": s.event.kind, "twinId": s.event.subject, "actor": s.event.actor,
                 "summary": _summary(s.event.kind, s.event.data)} for s in kept], len(stored) > MAX_EVENTS


def _member(model_set: Any, model_id: str, name: str, *, writable: bool = False) -> Any:
    """The DTDL property or telemetry ``name`` of the model (with ``writable``: True only for a writable property)."""
    try:
        iface = model_set.get(model_id)
    except Exception:  # a twin whose model was deleted: its signals are plain measurements without units
        return False if writable else None
    prop = iface.properties.get(name)
    if writable:
        return bool(prop is not None and prop.writable)
    return prop if prop is not None else iface.telemetry.get(name)


def _unit(model_set: Any, model_id: str, name: str) -> str:
    member = _member(model_set, model_id, name)
    return str(getattr(member, "unit", None) or "")


def _summary(kind: str, data: Any) -> str:
    """One line from an event's data, for the list beside the signals."""
    if not isinstance(data, dict):
        return kind
    bits = [f"{k}={data[k]}" for k in ("command", "name", "payload", "value", "state", "severity", "message",
                                       "title", "reason", "loop", "scope") if data.get(k) not in (None, "", [], {})]
    return ", ".join(bits)[:300] or kind


def _utc(t: datetime, where: str) -> datetime:
    if t.tzinfo is None:
        raise ValidationError("times need a UTC offset (e.g. 2026-11-24T02:00:00Z)", where=where)
    return t.astimezone(UTC)


def _minus(t: datetime, d: timedelta) -> datetime:
    try:
        return t - d
    except OverflowError:
        raise ValidationError("start is too early to have a reference window before it", where="start") from None


_SLOTS = Slots(CONCURRENT, SLOT_WAIT_S, "explanations")


def _iso_s(t: float | None) -> str | None:
    return None if t is None else iso(datetime.fromtimestamp(t, UTC))
