"""DTDL model management: upload (parsed together with the tenant's existing models, as ADT does), list with
dependencies, get, decommission, delete. Keeps a per-tenant ``ModelSet`` cache rebuilt after every change."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from tvilling.core.context import Context
from tvilling.core.errors import ConflictError, NotFoundError, ValidationError
from tvilling.core.events import Event
from tvilling.ports.clock import Clock
from tvilling.ports.documents import iso
from tvilling.ports.store import EventSink, ModelRecord, Store


class ModelSetLike(Protocol):
    """The part of ``tvilling.dtdl.ModelSet`` the services use."""

    interfaces: Any

    def get(self, dtmi: str) -> Any: ...
    def __contains__(self, dtmi: object) -> bool: ...
    def is_subtype(self, dtmi: str, base: str) -> bool: ...
    def descendants(self, dtmi: str) -> set[str]: ...
    def validate_twin(self, model_id: str, contents: dict[str, Any]) -> list[Any]: ...
    def validate_relationship(self, source_model: str, name: str, target_model: str,
                              properties: dict[str, Any]) -> list[Any]: ...
    def max_multiplicity(self, source_model: str, name: str) -> int | None: ...


Compiler = Callable[[list[Any]], ModelSetLike]


def default_compiler(documents: list[Any]) -> ModelSetLike:
    from tvilling.dtdl import parse_models

    return parse_models(documents)


@dataclass(frozen=True)
class ModelInfo:
    id: str
    display_name: Any
    description: Any
    upload_time: str
    decommissioned: bool
    dependencies: list[str]
    document: dict[str, Any] | None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "displayName": self.display_name, "description": self.description,
                               "uploadTime": self.upload_time, "decommissioned": self.decommissioned,
                               "dependencies": self.dependencies}
        if self.document is not None:
            out["model"] = self.document
        return out


def dependencies_of(document: dict[str, Any]) -> list[str]:
    """Interfaces a model needs (ADT: ``extends`` and component schemas), from its document."""
    deps: list[str] = []
    extends = document.get("extends", [])
    for item in extends if isinstance(extends, list) else [extends]:
        if isinstance(item, str):
            deps.append(item)
    contents = document.get("contents", [])
    for item in contents if isinstance(contents, list) else []:
        if isinstance(item, dict) and item.get("@type") == "Component" and isinstance(item.get("schema"), str):
            deps.append(item["schema"])
    return sorted(set(deps))


def _top_level(documents: Sequence[Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i, doc in enumerate(documents):
        items = doc if isinstance(doc, list) else [doc]
        for j, item in enumerate(items):
            if not isinstance(item, dict) or not isinstance(item.get("@id"), str):
                where = f"[{i}]" + (f"[{j}]" if isinstance(doc, list) else "")
                raise ValidationError("each uploaded model must be a DTDL Interface object with an @id",
                                      where=where, hint="upload a JSON array of DTDL interface documents")
            out.append(item)
    return out


class ModelService:
    def __init__(self, store: Store, bus: EventSink, clock: Clock, compiler: Compiler = default_compiler) -> None:
        self._store = store
        self._bus = bus
        self._clock = clock
        self._compile = compiler
        self._cache: dict[str, ModelSetLike] = {}
        self._lock = threading.Lock()
        self._generation = 0

    # -- the cache ---------------------------------------------------------------------------------------------
    def model_set(self, tenant: str) -> ModelSetLike:
        cached = self._cache.get(tenant)
        if cached is not None:
            return cached
        # A generation counter: a set built from a snapshot taken before an upload committed is not cached.
        generation = self._generation
        with self._store.read() as tx:
            docs = [m.document for m in tx.models.list(tenant)]
        built = self._compile(docs)
        with self._lock:
            if generation == self._generation:
                self._cache[tenant] = built
        return built

    def invalidate(self, tenant: str) -> None:
        with self._lock:
            self._generation += 1
            self._cache.pop(tenant, None)

    # -- use cases ---------------------------------------------------------------------------------------------
    def upload(self, tenant: str, documents: Sequence[Any], ctx: Context) -> list[dict[str, Any]]:
        from tvilling.dtdl import ModelError

        new = _top_level(documents)
        if not new:
            raise ValidationError("no models to upload", hint="send a non-empty JSON array of DTDL interfaces")
        ids = [d["@id"] for d in new]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValidationError(f"the upload defines {dupes[0]} more than once", where=dupes[0],
                                  hint="each interface may appear once per upload")
        now = self._clock.now()
        with self._store.write() as tx:
            existing = tx.models.existing_ids(tenant, ids)
            if existing:
                first = sorted(existing)[0]
                raise ConflictError(f"model {first} already exists", where=first,
                                    hint="model ids are immutable: upload a new version (…;2) or delete the old one")
            old_docs = [m.document for m in tx.models.list(tenant)]
            try:
                self._compile(old_docs + new)
            except ModelError as exc:
                raise ValidationError("the models are not valid DTDL", problems=list(exc.problems),
                                      hint="fix the listed problems; `tvilling models check` shows them offline"
                                      ) from exc
            records = [ModelRecord(tenant=tenant, id=d["@id"], document=d, display_name=_display(d),
                                   decommissioned=False, uploaded_at=now) for d in new]
            for rec in records:
                tx.models.add(rec)
            events = [Event(kind="model.created", tenant=tenant, subject=r.id, time=now, context_id=ctx.id,
                            parent_id=ctx.parent_id, actor=ctx.actor, data={"new": {"id": r.id}}) for r in records]
            tx.events.append(events)
        self.invalidate(tenant)
        self._bus.publish(events)
        return [self._info(r, include_definition=False).as_dict() for r in records]

    def get(self, tenant: str, model_id: str, *, include_definition: bool = True) -> dict[str, Any]:
        with self._store.read() as tx:
            rec = tx.models.get(tenant, model_id)
        if rec is None:
            raise _not_found(model_id)
        return self._info(rec, include_definition=include_definition).as_dict()

    def list(self, tenant: str, *, dependencies_for: Iterable[str] | None = None, include_definition: bool = False,
             after: str | None = None, limit: int = 100) -> tuple[list[dict[str, Any]], str | None]:
        wanted: set[str] | None = None
        if dependencies_for:
            with self._store.read() as tx:
                by_id = {m.id: m for m in tx.models.list(tenant)}
            wanted = set()
            stack = list(dependencies_for)
            while stack:
                mid = stack.pop()
                if mid in wanted:
                    continue
                rec = by_id.get(mid)
                if rec is None:
                    raise _not_found(mid)
                wanted.add(mid)
                stack.extend(dependencies_of(rec.document))
            records = sorted((by_id[m] for m in wanted), key=lambda r: r.id)
            records = [r for r in records if after is None or r.id > after][: limit + 1]
        else:
            with self._store.read() as tx:
                records = tx.models.list(tenant, after=after, limit=limit + 1)
        more = len(records) > limit
        records = records[:limit]
        items = [self._info(r, include_definition=include_definition).as_dict() for r in records]
        return items, (records[-1].id if more else None)

    def set_decommissioned(self, tenant: str, model_id: str, value: bool, ctx: Context) -> None:
        now = self._clock.now()
        with self._store.write() as tx:
            rec = tx.models.get(tenant, model_id)
            if rec is None:
                raise _not_found(model_id)
            tx.models.set_decommissioned(tenant, model_id, value)
            events = [Event(kind="model.updated", tenant=tenant, subject=model_id, time=now, context_id=ctx.id,
                            parent_id=ctx.parent_id, actor=ctx.actor,
                            data={"old": {"decommissioned": rec.decommissioned}, "new": {"decommissioned": value}})]
            tx.events.append(events)
        self._bus.publish(events)

    def delete(self, tenant: str, model_id: str, ctx: Context) -> None:
        now = self._clock.now()
        with self._store.write() as tx:
            rec = tx.models.get(tenant, model_id)
            if rec is None:
                raise _not_found(model_id)
            in_use = tx.twins.count_with_model(tenant, model_id)
            if in_use:
                raise ConflictError(f"model {model_id} is used by {in_use} twin(s)", where=model_id,
                                    hint="delete those twins first, or decommission the model instead")
            dependents = sorted(m.id for m in tx.models.list(tenant) if model_id in dependencies_of(m.document))
            if dependents:
                raise ConflictError(f"model {model_id} is needed by {dependents[0]}", where=model_id,
                                    hint="delete the models that extend or contain it first")
            tx.models.delete(tenant, model_id)
            events = [Event(kind="model.deleted", tenant=tenant, subject=model_id, time=now, context_id=ctx.id,
                            parent_id=ctx.parent_id, actor=ctx.actor, data={"old": {"id": model_id}})]
            tx.events.append(events)
        self.invalidate(tenant)
        self._bus.publish(events)

    def is_decommissioned(self, tenant: str, model_id: str) -> bool:
        with self._store.read() as tx:
            rec = tx.models.get(tenant, model_id)
        return bool(rec and rec.decommissioned)

    @staticmethod
    def _info(rec: ModelRecord, *, include_definition: bool) -> ModelInfo:
        return ModelInfo(id=rec.id, display_name=rec.document.get("displayName"),
                         description=rec.document.get("description"), upload_time=iso(rec.uploaded_at),
                         decommissioned=rec.decommissioned, dependencies=dependencies_of(rec.document),
                         document=rec.document if include_definition else None)


def _display(doc: dict[str, Any]) -> str | None:
    name = doc.get("displayName")
    if isinstance(name, dict):
        name = name.get("en") or next(iter(name.values()), None)
    return str(name)[:512] if name is not None else None


def _not_found(model_id: str) -> NotFoundError:
    return NotFoundError(f"model {model_id} not found", where=model_id,
                         hint="list the models with GET /api/v1/models; ids are case-sensitive")


__all__ = ["Compiler", "ModelService", "ModelSetLike", "dependencies_of"]
