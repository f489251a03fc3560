"""Twin use cases with ADT semantics: create/replace validated against the tenant's models, JSON Patch updates
validated after applying, ETag optimistic concurrency, delete refused while relationships exist.

Every change appends an event (old and new values, causality context) in the same transaction and is published
on the bus after COMMIT.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import jsonpatch
import jsonpointer

from tvilling.app.group_commit import Apply, WriteOp, run_now
from tvilling.app.models import ModelService, ModelSetLike
from tvilling.core.context import Context
from tvilling.core.errors import (
    ConflictError,
    NotFoundError,
    PreconditionFailedError,
    Problem,
    ValidationError,
)
from tvilling.core.events import Event
from tvilling.ports.clock import Clock
from tvilling.ports.documents import iso, twin_document
from tvilling.ports.store import EventSink, Store, Transaction, TwinRecord

SYSTEM_KEYS = ("$dtId", "$etag", "$metadata")


def new_etag() -> str:
    return f'W/"{uuid.uuid4()}"'


def check_if_match(if_match: str | None, etag: str, what: str) -> None:
    if if_match is None or if_match.strip() == "*":
        return
    candidates = [c.strip() for c in if_match.split(",")]
    if etag not in candidates:
        raise PreconditionFailedError(f"{what} has changed since it was read (ETag mismatch)", where="If-Match",
                                      hint="GET it again and retry with the new $etag, or omit If-Match")


def check_preconditions(what: str, etag: str | None, if_match: str | None, if_none_match: str | None) -> None:
    """HTTP conditional-write rules for a PUT: ``etag`` is None when the object does not exist yet."""
    if etag is None:
        if if_match is not None and if_match.strip() != "*":
            raise PreconditionFailedError(f"{what} does not exist", where="If-Match",
                                          hint="omit If-Match to create it")
        return
    if if_none_match is not None and if_none_match.strip() == "*":
        raise PreconditionFailedError(f"{what} already exists", where="If-None-Match",
                                      hint="omit If-None-Match: * to replace it")
    check_if_match(if_match, etag, what)


@dataclass(frozen=True)
class PropertyUpdate:
    """A value from ingestion with its source time and quality (recorded in ``$metadata.<prop>``)."""

    value: Any
    source_time: datetime | None = None
    quality: str | None = None


def not_found(twin_id: str) -> NotFoundError:
    return NotFoundError(f"twin {twin_id} not found", where=twin_id,
                         hint="check the id (case-sensitive); list twins with GET /api/v1/twins")


def _split_body(body: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    if not isinstance(body, Mapping):
        raise ValidationError("a twin must be a JSON object", hint='send {"$metadata": {"$model": "dtmi:…"}, …}')
    meta = body.get("$metadata")
    model_id = meta.get("$model") if isinstance(meta, Mapping) else None
    if not isinstance(model_id, str) or not model_id:
        raise ValidationError("the twin has no model", where="$metadata.$model",
                              hint='add "$metadata": {"$model": "dtmi:…;1"} naming an uploaded interface')
    contents = {k: copy.deepcopy(v) for k, v in body.items() if k not in SYSTEM_KEYS}
    return model_id, contents


def _decommissioned(tx: Transaction, tenant: str, model_id: str) -> bool:
    flag = getattr(tx.models, "is_decommissioned", None)  # SQL stores read the flag without the model document
    if flag is not None:
        return bool(flag(tenant, model_id))
    model = tx.models.get(tenant, model_id)
    return model is not None and model.decommissioned


def _component_names(model_set: ModelSetLike, model_id: str) -> list[str]:
    iface = model_set.get(model_id)
    return list(getattr(iface, "components", {}) or {}) if iface is not None else []


def _validate(model_set: ModelSetLike, model_id: str, contents: dict[str, Any]) -> None:
    problems: list[Problem] = list(model_set.validate_twin(model_id, contents))
    if problems:
        first = problems[0]
        raise ValidationError(f"the twin does not conform to {model_id}: {first.message}", where=first.where,
                              hint=first.hint or "fix the listed problems", problems=problems)


def _stamp_all(contents: dict[str, Any], components: Sequence[str], now: str) -> dict[str, Any]:
    """Metadata after a create/replace: every property present was just updated (ADT semantics)."""
    meta: dict[str, Any] = {"$lastUpdateTime": now}
    for key, value in contents.items():
        if key in components and isinstance(value, dict):
            value["$metadata"] = {p: {"lastUpdateTime": now} for p in value if not p.startswith("$")}
        else:
            meta[key] = {"lastUpdateTime": now}
    return meta


class TwinService:
    def __init__(self, store: Store, bus: EventSink, clock: Clock, models: ModelService) -> None:
        self._store = store
        self._bus = bus
        self._clock = clock
        self._models = models

    def get(self, tenant: str, twin_id: str) -> dict[str, Any]:
        fast = getattr(self._store, "twin_document", None)  # SqlStore's one-statement read (the API hot path)
        if fast is not None:
            doc: dict[str, Any] | None = fast(tenant, twin_id)
            if doc is None:
                raise not_found(twin_id)
            return doc
        with self._store.read() as tx:
            twin = tx.twins.get(tenant, twin_id)
        if twin is None:
            raise not_found(twin_id)
        return twin_document(twin)

    def list(self, tenant: str, *, model_id: str | None = None, after: str | None = None,
             limit: int = 100) -> tuple[list[dict[str, Any]], str | None]:
        model_ids = None
        if model_id is not None:
            ms = self._models.model_set(tenant)
            model_ids = sorted({model_id} | (ms.descendants(model_id) if model_id in ms else set()))
        with self._store.read() as tx:
            rows = tx.twins.list(tenant, model_ids=model_ids, after=after, limit=limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        return [twin_document(t) for t in rows], (rows[-1].id if more else None)

    def put(self, tenant: str, twin_id: str, body: Mapping[str, Any], ctx: Context, *,
            if_match: str | None = None, if_none_match: str | None = None) -> tuple[dict[str, Any], bool]:
        """Create or replace; returns (document, created)."""
        return run_now(self._store, self._bus, self.put_op(tenant, twin_id, body, ctx, if_match=if_match,
                                                           if_none_match=if_none_match))

    def put_op(self, tenant: str, twin_id: str, body: Mapping[str, Any], ctx: Context, *,
               if_match: str | None = None, if_none_match: str | None = None) -> WriteOp[tuple[dict[str, Any], bool]]:
        """``put`` as a group-committable op: validation in ``prepare``, the read-check-write in ``apply``."""

        def prepare() -> Apply[tuple[dict[str, Any], bool]]:
            model_id, contents = _split_body(body)
            ms = self._models.model_set(tenant)
            if model_id not in ms:
                raise ValidationError(f"model {model_id} is not uploaded", where="$metadata.$model",
                                      hint="upload the model first (tvilling models import FILE)")
            _validate(ms, model_id, contents)
            components = _component_names(ms, model_id)

            def apply(tx: Transaction) -> tuple[tuple[dict[str, Any], bool], list[Event]]:
                now = self._clock.now()
                old = tx.twins.get(tenant, twin_id, for_update=True)
                check_preconditions(f"twin {twin_id}", old.etag if old else None, if_match, if_none_match)
                if old is None and _decommissioned(tx, tenant, model_id):
                    raise ValidationError(f"model {model_id} is decommissioned", where="$metadata.$model",
                                          hint="create twins of a model version that is not decommissioned")
                fresh = copy.deepcopy(contents)  # apply may run twice (a failed batch is retried item by item)
                meta = _stamp_all(fresh, components, iso(now))
                new = TwinRecord(tenant=tenant, id=twin_id, model_id=model_id, contents=fresh, meta=meta,
                                 etag=new_etag(), version=(old.version + 1) if old else 1, last_update_time=now)
                if old is None:
                    tx.twins.insert(new)
                    data: dict[str, Any] = {"model": model_id, "old": None, "new": fresh}
                    kind = "twin.created"
                else:
                    tx.twins.update(new)
                    data = {"model": model_id, "old": old.contents, "new": fresh}
                    kind = "twin.replaced"
                events = [self._event(kind, tenant, twin_id, now, ctx, data)]
                tx.events.append(events)
                return (twin_document(new), old is None), events

            return apply

        return WriteOp(prepare)

    def patch(self, tenant: str, twin_id: str, operations: Any, ctx: Context, *,
              if_match: str | None = None) -> dict[str, Any]:
        return run_now(self._store, self._bus, self.patch_op(tenant, twin_id, operations, ctx, if_match=if_match))

    def patch_op(self, tenant: str, twin_id: str, operations: Any, ctx: Context, *,
                 if_match: str | None = None) -> WriteOp[dict[str, Any]]:
        def prepare() -> Apply[dict[str, Any]]:
            ops = _check_ops(operations)
            return lambda tx: self._apply_patch(tx, tenant, twin_id, ops, ctx, if_match=if_match)

        return WriteOp(prepare)

    def update_properties(self, tenant: str, twin_id: str, updates: Mapping[str, PropertyUpdate],
                          ctx: Context) -> dict[str, Any]:
        """Set property values with source time/quality metadata (for ingestion), in one transaction.

        Paths are "prop" or "component/prop". Validated against the model like any patch; publishes twin.updated.
        """
        ops = _check_ops([{"op": "add", "path": "/" + p, "value": u.value} for p, u in updates.items()])
        op = WriteOp(lambda: lambda tx: self._apply_patch(tx, tenant, twin_id, ops, ctx, extra=updates))
        return run_now(self._store, self._bus, op)

    def _apply_patch(self, tx: Transaction, tenant: str, twin_id: str, ops: Sequence[dict[str, Any]],
                     ctx: Context, *, if_match: str | None = None,
                     extra: Mapping[str, PropertyUpdate] | None = None) -> tuple[dict[str, Any], Sequence[Event]]:
        now = self._clock.now()
        old = tx.twins.get(tenant, twin_id, for_update=True)
        if old is None:
            raise not_found(twin_id)
        check_if_match(if_match, old.etag, f"twin {twin_id}")
        ms = self._models.model_set(tenant)
        components = _component_names(ms, old.model_id)
        try:
            contents = jsonpatch.apply_patch(old.contents, [*ops], in_place=False)
        except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as exc:
            raise ValidationError(f"the JSON Patch cannot be applied: {exc}", where="body",
                                  hint="each path must exist for replace/remove; use add for new properties"
                                  ) from exc
        if not isinstance(contents, dict):
            raise ValidationError("the patch must leave the twin an object", where="body")
        _validate(ms, old.model_id, contents)
        meta = _patched_meta(old, contents, ops, components, iso(now))
        if extra:
            _record_sources(meta, contents, extra)
        new = TwinRecord(tenant=tenant, id=twin_id, model_id=old.model_id, contents=contents, meta=meta,
                         etag=new_etag(), version=old.version + 1, last_update_time=now)
        tx.twins.update(new)
        events = [self._event("twin.updated", tenant, twin_id, now, ctx,
                              {"model": old.model_id, "patch": [*ops], "old": old.contents, "new": contents})]
        tx.events.append(events)
        return twin_document(new), events

    def delete(self, tenant: str, twin_id: str, ctx: Context, *, if_match: str | None = None) -> None:
        now = self._clock.now()
        with self._store.write() as tx:
            old = tx.twins.get(tenant, twin_id, for_update=True)
            if old is None:
                raise not_found(twin_id)
            check_if_match(if_match, old.etag, f"twin {twin_id}")
            touching = tx.relationships.count_touching(tenant, twin_id)
            if touching:
                raise ConflictError(f"twin {twin_id} still has {touching} relationship(s)", where=twin_id,
                                    hint="delete its incoming and outgoing relationships first")
            tx.twins.delete(tenant, twin_id)
            events = [self._event("twin.deleted", tenant, twin_id, now, ctx,
                                  {"model": old.model_id, "old": old.contents, "new": None})]
            tx.events.append(events)
        self._bus.publish(events)

    @staticmethod
    def _event(kind: str, tenant: str, subject: str, now: datetime, ctx: Context, data: dict[str, Any]) -> Event:
        return Event(kind=kind, tenant=tenant, subject=subject, time=now, context_id=ctx.id,
                     parent_id=ctx.parent_id, actor=ctx.actor, data=data)


def _check_ops(operations: Any) -> list[dict[str, Any]]:
    if not isinstance(operations, list) or not all(isinstance(op, dict) for op in operations):
        raise ValidationError("the body must be a JSON Patch: an array of operations", where="body",
                              hint='e.g. [{"op": "replace", "path": "/temperature", "value": 21.5}]')
    for i, op in enumerate(operations):
        path = op.get("path")
        if op.get("op") not in ("add", "remove", "replace", "move", "copy", "test"):
            raise ValidationError(f"unknown JSON Patch op {op.get('op')!r}", where=f"[{i}].op",
                                  hint="use add, remove, replace, move, copy or test (RFC 6902)")
        if not isinstance(path, str) or not path.startswith("/"):
            raise ValidationError("each operation needs a path starting with /", where=f"[{i}].path",
                                  hint='e.g. "/temperature" or "/component/property"')
        for key in ("path", "from"):
            value = op.get(key)
            if isinstance(value, str) and any(seg.startswith("$") for seg in value.split("/")[1:]):
                raise ValidationError(f"{value} is managed by the platform and cannot be patched",
                                      where=f"[{i}].{key}", hint="patch properties and components only")
    return operations


def _patched_meta(old: TwinRecord, contents: dict[str, Any], ops: Sequence[dict[str, Any]], components: list[str],
                  now: str) -> dict[str, Any]:
    """Metadata after a patch: touched properties get ``lastUpdateTime = now``; removed ones lose their entry."""
    touched: set[tuple[str, ...]] = set()
    for op in ops:
        for key in ("path", "from"):
            value = op.get(key)
            if isinstance(value, str):
                parts = tuple(jsonpointer.unescape(p) for p in value.split("/")[1:])
                if parts and parts[0] in components:
                    touched.add(parts[:2])
                elif parts:
                    touched.add(parts[:1])
    meta: dict[str, Any] = {"$lastUpdateTime": now}
    for key, value in contents.items():
        if key in components and isinstance(value, dict):
            old_comp = old.contents.get(key)
            old_meta = old_comp.get("$metadata", {}) if isinstance(old_comp, dict) else {}
            comp_meta: dict[str, Any] = {}
            for prop in value:
                if prop.startswith("$"):
                    continue
                fresh = (key,) in touched or (key, prop) in touched or prop not in old_meta
                comp_meta[prop] = {**old_meta.get(prop, {}), "lastUpdateTime": now} if fresh else old_meta[prop]
            value["$metadata"] = comp_meta
        else:
            fresh = (key,) in touched or key not in old.meta
            meta[key] = {**old.meta.get(key, {}), "lastUpdateTime": now} if fresh else old.meta[key]
    return meta


def _record_sources(meta: dict[str, Any], contents: dict[str, Any], updates: Mapping[str, PropertyUpdate]) -> None:
    """Add ``sourceTime`` and ``quality`` to ``$metadata.<prop>`` (or the component's ``$metadata``)."""
    for path, upd in updates.items():
        comp, _, prop = path.partition("/")
        if prop:
            component = contents.get(comp)
            if not isinstance(component, dict):
                continue
            holder: dict[str, Any] = component.setdefault("$metadata", {})
            key = prop
        else:
            holder, key = meta, comp
        entry = dict(holder.get(key, {}))
        if upd.source_time is not None:
            entry["sourceTime"] = iso(upd.source_time)
        if upd.quality is not None:
            entry["quality"] = upd.quality
        holder[key] = entry
