"""Relationship use cases (ADT semantics): create/replace validated against the source twin's model (name,
target model with inheritance, properties, multiplicity), JSON Patch of properties, delete, list outgoing and
incoming. Relationship events use the SOURCE twin id as subject so a per-twin event filter sees them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import jsonpatch
import jsonpointer

from tvilling.app.group_commit import Apply, WriteOp, run_now
from tvilling.app.models import ModelService
from tvilling.app.twins import _check_ops, check_if_match, check_preconditions, new_etag, not_found
from tvilling.core.context import Context
from tvilling.core.errors import NotFoundError, Problem, ValidationError
from tvilling.core.events import Event
from tvilling.ports.clock import Clock
from tvilling.ports.documents import incoming_document, relationship_document
from tvilling.ports.store import EventSink, RelationshipRecord, Store, Transaction

SYSTEM_KEYS = ("$relationshipId", "$etag", "$sourceId", "$targetId", "$relationshipName")


def _rel_not_found(twin_id: str, rel_id: str) -> NotFoundError:
    return NotFoundError(f"relationship {rel_id} of twin {twin_id} not found", where=f"{twin_id}/{rel_id}",
                         hint="list them with GET /api/v1/twins/{id}/relationships")


class RelationshipService:
    def __init__(self, store: Store, bus: EventSink, clock: Clock, models: ModelService) -> None:
        self._store = store
        self._bus = bus
        self._clock = clock
        self._models = models

    def get(self, tenant: str, twin_id: str, rel_id: str) -> dict[str, Any]:
        with self._store.read() as tx:
            rel = tx.relationships.get(tenant, twin_id, rel_id)
            if rel is None:
                if tx.twins.get(tenant, twin_id) is None:
                    raise not_found(twin_id)
                raise _rel_not_found(twin_id, rel_id)
        return relationship_document(rel)

    def list_outgoing(self, tenant: str, twin_id: str, *, name: str | None = None, after: str | None = None,
                      limit: int = 100) -> tuple[list[dict[str, Any]], str | None]:
        with self._store.read() as tx:
            if tx.twins.get(tenant, twin_id) is None:
                raise not_found(twin_id)
            rows = tx.relationships.outgoing(tenant, twin_id, name=name, after=after, limit=limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        return [relationship_document(r) for r in rows], (rows[-1].id if more else None)

    def list_incoming(self, tenant: str, twin_id: str, *, after: tuple[str, str] | None = None,
                      limit: int = 100) -> tuple[list[dict[str, Any]], list[str] | None]:
        with self._store.read() as tx:
            if tx.twins.get(tenant, twin_id) is None:
                raise not_found(twin_id)
            rows = tx.relationships.incoming(tenant, twin_id, after=after, limit=limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        return [incoming_document(r) for r in rows], ([rows[-1].source_id, rows[-1].id] if more else None)

    def put(self, tenant: str, twin_id: str, rel_id: str, body: Mapping[str, Any], ctx: Context, *,
            if_match: str | None = None, if_none_match: str | None = None) -> tuple[dict[str, Any], bool]:
        return run_now(self._store, self._bus, self.put_op(tenant, twin_id, rel_id, body, ctx, if_match=if_match,
                                                           if_none_match=if_none_match))

    def put_op(self, tenant: str, twin_id: str, rel_id: str, body: Mapping[str, Any], ctx: Context, *,
               if_match: str | None = None,
               if_none_match: str | None = None) -> WriteOp[tuple[dict[str, Any], bool]]:
        """``put`` as a group-committable op (app/group_commit.py): body checks first, then the transaction."""

        def prepare() -> Apply[tuple[dict[str, Any], bool]]:
            if not isinstance(body, Mapping):
                raise ValidationError("a relationship must be a JSON object",
                                      hint='send {"$targetId": "…", "$relationshipName": "…", …properties}')
            target_id = body.get("$targetId")
            name = body.get("$relationshipName")
            if not isinstance(target_id, str) or not target_id:
                raise ValidationError("the relationship has no target", where="$targetId",
                                      hint='add "$targetId": "<twin id>"')
            if not isinstance(name, str) or not name:
                raise ValidationError("the relationship has no name", where="$relationshipName",
                                      hint="add \"$relationshipName\" naming a relationship of the source twin's model")
            source = body.get("$sourceId")
            if source is not None and source != twin_id:
                raise ValidationError("$sourceId differs from the twin in the URL", where="$sourceId",
                                      hint="omit $sourceId or make it equal to the twin id in the path")
            properties = {k: v for k, v in body.items() if k not in SYSTEM_KEYS}

            def apply(tx: Transaction) -> tuple[tuple[dict[str, Any], bool], list[Event]]:
                now = self._clock.now()
                src = tx.twins.get(tenant, twin_id, for_update=True)  # lock: multiplicity counts stay correct
                if src is None:
                    raise not_found(twin_id)
                old = tx.relationships.get(tenant, twin_id, rel_id)
                check_preconditions(f"relationship {rel_id}", old.etag if old else None, if_match, if_none_match)
                target = tx.twins.get(tenant, target_id)
                if target is None:
                    raise ValidationError(f"target twin {target_id} not found", where="$targetId",
                                          hint="create the target twin first")
                self._validate(tenant, tx, src.model_id, name, target.model_id, properties, twin_id, old)
                new = RelationshipRecord(tenant=tenant, source_id=twin_id, id=rel_id, name=name,
                                         target_id=target_id, properties=properties, etag=new_etag())
                tx.relationships.upsert(new)
                kind = "relationship.created" if old is None else "relationship.replaced"
                events = [self._event(kind, new, now, ctx, old)]
                tx.events.append(events)
                return (relationship_document(new), old is None), events

            return apply

        return WriteOp(prepare)

    def patch(self, tenant: str, twin_id: str, rel_id: str, operations: Any, ctx: Context, *,
              if_match: str | None = None) -> dict[str, Any]:
        return run_now(self._store, self._bus, self.patch_op(tenant, twin_id, rel_id, operations, ctx,
                                                             if_match=if_match))

    def patch_op(self, tenant: str, twin_id: str, rel_id: str, operations: Any, ctx: Context, *,
                 if_match: str | None = None) -> WriteOp[dict[str, Any]]:
        def prepare() -> Apply[dict[str, Any]]:
            ops = _check_ops(operations)

            def apply(tx: Transaction) -> tuple[dict[str, Any], list[Event]]:
                now = self._clock.now()
                src = tx.twins.get(tenant, twin_id, for_update=True)
                if src is None:
                    raise not_found(twin_id)
                old = tx.relationships.get(tenant, twin_id, rel_id)
                if old is None:
                    raise _rel_not_found(twin_id, rel_id)
                check_if_match(if_match, old.etag, f"relationship {rel_id}")
                try:
                    props = jsonpatch.apply_patch(old.properties, ops, in_place=False)
                except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as exc:
                    raise ValidationError(f"the JSON Patch cannot be applied: {exc}", where="body",
                                          hint="each path must exist for replace/remove; use add for new properties"
                                          ) from exc
                if not isinstance(props, dict):
                    raise ValidationError("the patch must leave the properties an object", where="body")
                target = tx.twins.get(tenant, old.target_id)
                assert target is not None  # the foreign key guarantees it
                ms = self._models.model_set(tenant)
                _raise_problems(ms.validate_relationship(src.model_id, old.name, target.model_id, props), old.name)
                new = RelationshipRecord(tenant=tenant, source_id=twin_id, id=rel_id, name=old.name,
                                         target_id=old.target_id, properties=props, etag=new_etag())
                tx.relationships.upsert(new)
                events = [self._event("relationship.updated", new, now, ctx, old, patch=ops)]
                tx.events.append(events)
                return relationship_document(new), events

            return apply

        return WriteOp(prepare)

    def delete(self, tenant: str, twin_id: str, rel_id: str, ctx: Context, *, if_match: str | None = None) -> None:
        now = self._clock.now()
        with self._store.write() as tx:
            old = tx.relationships.get(tenant, twin_id, rel_id)
            if old is None:
                if tx.twins.get(tenant, twin_id) is None:
                    raise not_found(twin_id)
                raise _rel_not_found(twin_id, rel_id)
            check_if_match(if_match, old.etag, f"relationship {rel_id}")
            tx.relationships.delete(tenant, twin_id, rel_id)
            events = [self._event("relationship.deleted", old, now, ctx, old, deleted=True)]
            tx.events.append(events)
        self._bus.publish(events)

    def _validate(self, tenant: str, tx: Transaction, source_model: str, name: str, target_model: str,
                  properties: dict[str, Any], twin_id: str, old: RelationshipRecord | None) -> None:
        ms = self._models.model_set(tenant)
        _raise_problems(ms.validate_relationship(source_model, name, target_model, properties), name)
        maximum = ms.max_multiplicity(source_model, name)
        if maximum is not None:
            existing = tx.relationships.count_outgoing(tenant, twin_id, name)
            if old is not None and old.name == name:
                existing -= 1  # replacing one does not add one
            if existing + 1 > maximum:
                raise ValidationError(
                    f"twin {twin_id} already has {existing} '{name}' relationship(s); the model allows {maximum}",
                    where="$relationshipName", hint="delete one first or raise maxMultiplicity in the model")

    @staticmethod
    def _event(kind: str, rel: RelationshipRecord, now: datetime, ctx: Context, old: RelationshipRecord | None,
               *, deleted: bool = False, patch: list[dict[str, Any]] | None = None) -> Event:
        data: dict[str, Any] = {
            "relationshipId": rel.id, "name": rel.name, "targetId": rel.target_id,
            "old": relationship_document(old) if old is not None else None,
            "new": None if deleted else relationship_document(rel),
        }
        if patch is not None:
            data["patch"] = patch
        return Event(kind=kind, tenant=rel.tenant, subject=rel.source_id, time=now, context_id=ctx.id,
                     parent_id=ctx.parent_id, actor=ctx.actor, data=data)


def _raise_problems(problems: list[Problem], name: str) -> None:
    if problems:
        first = problems[0]
        raise ValidationError(f"the relationship does not conform to the model: {first.message}",
                              where=first.where or name, hint=first.hint or "fix the listed problems",
                              problems=list(problems))
