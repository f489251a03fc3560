"""The ADT query language as a service: resolves model inheritance through the tenant's ModelSet and runs the
query executor (``tvilling.adapters.sql.query``) on a read snapshot."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from tvilling.adapters.sql.store import SqlStore
from tvilling.app.errors import NotImplementedYetError
from tvilling.app.models import ModelService


@dataclass(frozen=True)
class QueryResult:
    items: list[dict[str, Any]]
    continuation: str | None


class QueryService:
    def __init__(self, store: SqlStore, models: ModelService) -> None:
        self._store = store
        self._models = models

    def run(self, tenant: str, text: str, *, page_size: int, continuation: str | None) -> QueryResult:
        try:
            executor = importlib.import_module("tvilling.adapters.sql.query")
        except ImportError as exc:
            raise NotImplementedYetError("the query engine is not available in this build",
                                         hint="install a build that includes tvilling.query") from exc
        models = self._models.model_set(tenant)

        def resolve(model_id: str, exact: bool) -> set[str]:
            if exact or model_id not in models:
                return {model_id}
            return {model_id, *models.descendants(model_id)}

        with self._store.read() as tx:
            page = executor.execute_query(tx.conn, tenant=tenant, text=text, resolve_models=resolve,
                                          page_size=page_size, continuation=continuation)
        return QueryResult(items=list(page.items), continuation=page.continuation)
