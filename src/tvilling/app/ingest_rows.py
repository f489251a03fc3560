"""Turning raw envelopes into store rows: decode -> map -> quality. Synchronous; runs in the batch worker.

Also owns the Prometheus counters (one per quality/reason), so every decision is counted exactly once.
"""

from __future__ import annotations

import json
import logging
from collections import Counter as CounterT
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import Counter

from tvilling.adapters.sql.timeseries import LatestUpdate, QuarantineRow, SampleRow
from tvilling.adapters.sql.timeseries_batch import SeriesBatch
from tvilling.core.quality import Quality, Reason
from tvilling.quality.decode import DecodedMessage, DecodeFailure, decode_payload, parse_time_us
from tvilling.quality.mapping import MappingSet, PointSpec
from tvilling.quality.rules import Assessment, LatestValue, PlainSink, QualityEngine

log = logging.getLogger(__name__)
_GOOD, _NO_REASON = Quality.GOOD, Reason.NONE
RAW_KEEP_BYTES = 4096  # quarantined payloads are kept up to this size (the detail records the full length)

SAMPLES = Counter("tvilling_ingest_samples_total", "Samples assessed at ingest, by quality and reason",
                  ["quality", "reason"])
QUARANTINED = Counter("tvilling_ingest_quarantined_total", "Inputs quarantined, by reason", ["reason"])
MESSAGES = Counter("tvilling_ingest_messages_total", "Messages received, by source", ["source"])
LATE = Counter("tvilling_ingest_late_total", "Samples older than the point's latest (stored, latest unchanged)")


@dataclass(frozen=True, slots=True)
class HttpReading:
    """A twin-addressed reading from the HTTP batch API (no topic: the twin and name are explicit)."""

    twin_id: str
    name: str
    value: Any
    unit: Any
    source_ts: Any


@dataclass(slots=True)
class Envelope:
    """One unit of input with its acknowledgement. ``ack`` runs only after the commit that covers it (G1)."""

    source: str
    address: str
    received_at_us: int
    payload: bytes = b""
    readings: Sequence[HttpReading] = ()
    tenant: str | None = None
    ack: Callable[[], None] | None = None
    on_done: Callable[[BaseException | None], None] | None = None
    # A source with its own decode step (OPC UA): called instead of decode -> map, adds to ``rows`` itself.
    build: Callable[[Envelope, str, MappingSet, QualityEngine, Rows], None] | None = None


@dataclass
class Rows:
    # Samples grouped by (tenant, twin, name) as they are assessed: the store writes them per series, and building
    # a tuple into its group here costs less than building a SampleRow and grouping it later.
    series: SeriesBatch = field(default_factory=dict)
    quarantine: list[QuarantineRow] = field(default_factory=list)
    # The newest in-order (value, source_time_us, quality, reason, unit) per (tenant, twin, name); LatestUpdate
    # rows are built once per point per batch (``latest``), not once per sample.
    latest_by_point: dict[tuple[str, str, str], LatestValue] = field(default_factory=dict)
    points: int = 0
    # Readings that passed every rule untouched go straight into ``series`` / ``latest_by_point`` (rules.PlainSink).
    plain: PlainSink = field(init=False)
    # Counted per batch and added to Prometheus once: a labelled ``inc`` per sample costs more than the rules.
    counts: CounterT[tuple[str, str]] = field(default_factory=CounterT)
    quarantine_counts: CounterT[str] = field(default_factory=CounterT)
    late: int = 0
    # Payloads whose device_id is not the topic's device (S-05), by (tenant, source, topic, topic's device, claimed
    # id): a security event each, counted once per batch after its commit (app/security_events.py).
    identity_refused: CounterT[tuple[str, str, str, str, str]] = field(default_factory=CounterT)

    def __post_init__(self) -> None:
        self.plain = PlainSink(self.series, self.latest_by_point)

    @property
    def samples(self) -> list[SampleRow]:
        """The samples as rows, series by series (for inspection; the store takes ``series``)."""
        return [SampleRow(tenant, twin_id, name, *s) for (tenant, twin_id, name), g in self.series.items() for s in g]

    @property
    def latest(self) -> list[LatestUpdate]:
        return [LatestUpdate(tenant, twin_id, name, *v) for (tenant, twin_id, name), v in self.latest_by_point.items()]

    def publish_metrics(self) -> None:
        plain, self.plain.good = self.plain.good, 0  # folded in once: publish_metrics runs once per batch
        if plain:
            self.points += plain
            self.counts[(_GOOD, _NO_REASON)] += plain
        for (quality, reason), n in self.counts.items():
            SAMPLES.labels(quality, reason).inc(n)
        for reason, n in self.quarantine_counts.items():
            QUARANTINED.labels(reason).inc(n)
        if self.late:
            LATE.inc(self.late)


def _raw(payload: bytes) -> bytes:
    return payload[:RAW_KEEP_BYTES]


def build_rows(batch: Sequence[Envelope], mappings: MappingSet, engine: QualityEngine,
               into: Rows | None = None) -> Rows:
    """Decode, map and assess ``batch``. With ``into``, the rows are added to it (a batch assessed in parts as it
    arrives) and publishing its metrics is left to the caller, once for the whole batch."""
    rows = Rows() if into is None else into
    sources: CounterT[str] = CounterT(env.source for env in batch)
    for source, n in sources.items():
        MESSAGES.labels(source).inc(n)
    for env in batch:
        tenant = env.tenant or mappings.tenant
        if env.readings:
            _http(env, tenant, mappings, engine, rows)
            continue
        if env.build is not None:
            env.build(env, tenant, mappings, engine, rows)
            continue
        topic = mappings.for_address(env.address)
        if topic is None:
            _quarantine(rows, QuarantineRow(tenant, env.source, env.address, Reason.UNMAPPED.value,
                                            f"no mapping for {env.address!r}", raw=_raw(env.payload)))
            continue
        msg = decode_payload(env.payload, time_pointer=topic.time_pointer, seq_pointer=topic.seq_pointer,
                             device_pointer=topic.device_pointer)
        if isinstance(msg, DecodeFailure):
            _quarantine(rows, QuarantineRow(tenant, env.source, env.address, msg.reason.value,
                                            f"{msg.detail}; {len(env.payload)} bytes", raw=_raw(env.payload)))
            continue
        if topic.device is not None and msg.device_id is not None and msg.device_id != topic.device:
            _quarantine(rows, QuarantineRow(tenant, env.source, env.address, Reason.IDENTITY_MISMATCH.value,
                                            f"device_id {msg.device_id!r} on the topic of {topic.device!r}",
                                            raw=_raw(env.payload)))
            rows.identity_refused[(tenant, env.source, topic.address, topic.device, str(msg.device_id)[:64])] += 1
            continue
        plain = rows.plain
        plain.tenant = tenant
        try:
            assessed = engine.assess_message(topic, msg, env.received_at_us, plain)
        except Exception as exc:  # a rule that breaks must cost one message, never the ingest loop (rule 3)
            log.exception("quality rules failed on a message from %s", env.address)
            _quarantine(rows, QuarantineRow(tenant, env.source, env.address, Reason.PROCESSING_ERROR.value,
                                            f"{type(exc).__name__}: {exc}"[:500], raw=_raw(env.payload)))
            continue
        if assessed:
            _add_all(rows, tenant, env, assessed)
    if into is None:
        rows.publish_metrics()
    return rows


def _http(env: Envelope, tenant: str, mappings: MappingSet, engine: QualityEngine, rows: Rows) -> None:
    for r in env.readings:
        spec = mappings.point(r.twin_id, r.name) or PointSpec(twin_id=r.twin_id, name=r.name, pointer="",
                                                               type=_guess_type(r.value))
        try:
            ts = parse_time_us(r.source_ts) if r.source_ts is not None else env.received_at_us
        except (ValueError, OverflowError, TypeError) as exc:
            _quarantine(rows, QuarantineRow(tenant, env.source, env.address, Reason.WRONG_TYPE.value,
                                            f"unreadable timestamp: {exc}", twin_id=r.twin_id, name=r.name))
            continue
        _add(rows, tenant, env, engine.assess(spec, r.value, r.unit, ts, env.received_at_us))


def _guess_type(value: Any) -> str:
    # Unmapped HTTP points take their type from the value; anything odd is checked as a number (and rejected).
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, str) and value.strip().lower() not in {"nan", "inf", "-inf", "infinity", "-infinity"}:
        return "string"
    return "double"


def _quarantine(rows: Rows, q: QuarantineRow) -> None:
    rows.quarantine_counts[q.reason] += 1
    rows.quarantine.append(q)


def _add(rows: Rows, tenant: str, env: Envelope, a: Assessment) -> None:
    _add_all(rows, tenant, env, (a,))


def _add_all(rows: Rows, tenant: str, env: Envelope, assessments: Sequence[Assessment]) -> None:
    """Count every assessment, then store, quarantine or drop it. One call per message, with the row lists and
    counters held in locals: per point, a function call and its attribute lookups cost as much as the work."""
    rows.points += len(assessments)
    counts = rows.counts
    series = rows.series
    latest = rows.latest_by_point
    good = 0  # Good without a reason, the common case, is counted in a local and added to ``counts`` once
    for a in assessments:
        # Quality and Reason are StrEnums: they are the stable strings already (no ``.value`` on the hot path).
        quality, reason = a.quality, a.reason
        if quality is _GOOD and reason is _NO_REASON:
            good += 1
        else:
            counts[(quality, reason)] += 1
        spec = a.spec
        if a.quarantine:
            detail = json.dumps({"why": a.detail, "value": _jsonable(a.value), "unit": a.unit,
                                 "source_time_us": a.source_time_us}, default=str)
            _quarantine(rows, QuarantineRow(tenant, env.source, env.address, a.reason, detail,
                                            twin_id=spec.twin_id, name=spec.name))
            continue
        if a.late:
            rows.late += 1
        if not a.store:
            continue
        key = (tenant, spec.twin_id, spec.name)
        group = series.get(key)
        if group is None:
            series[key] = group = []
        value = a.value
        if isinstance(value, float):
            group.append((a.source_time_us, value, {"original": a.original} if a.original else None, quality,
                          reason, a.unit))
        else:
            group.append((a.source_time_us, None, value, quality, reason, a.unit))
        if a.updates_latest:  # in source-time order per point, so the last one wins
            latest[key] = (value, a.source_time_us, quality, reason, a.unit)
    if good:
        counts[(_GOOD, _NO_REASON)] += good


def _jsonable(v: Any) -> Any:
    if isinstance(v, float) and v != v:
        return "NaN"
    if isinstance(v, float) and v in (float("inf"), float("-inf")):
        return str(v)
    if isinstance(v, str | int | float | bool) or v is None:
        return v if not isinstance(v, str) else v[:200]
    return f"<{type(v).__name__}>"


__all__ = ["DecodedMessage", "Envelope", "HttpReading", "Rows", "build_rows"]
