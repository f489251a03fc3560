"""Group commit: concurrent writes share one transaction, each keeps its own result and error, nothing is answered
or published before COMMIT, and a batch that fails as a whole is retried item by item."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from tests.support import dtdl_samples
from tvilling.adapters.sql.engine import make_engine
from tvilling.adapters.sql.migrate import check_version
from tvilling.adapters.sql.store import SqlStore, SqlTransaction
from tvilling.app.group_commit import GroupCommitter, WriteOp
from tvilling.app.services import Services
from tvilling.core.context import Context
from tvilling.core.errors import NotFoundError, PreconditionFailedError, ValidationError
from tvilling.core.events import Event

CTX = Context.new("test")


class RecordingStore:
    """The real store, recording when each write transaction committed; can fail the next N commits."""

    def __init__(self, inner: SqlStore) -> None:
        self.inner = inner
        self.log: list[str] = []
        self.fail_commits = 0
        self.transactions = 0

    @contextmanager
    def write(self) -> Iterator[SqlTransaction]:
        self.transactions += 1
        with self.inner.write() as tx:
            yield tx
            if self.fail_commits:
                self.fail_commits -= 1
                raise OperationalError("COMMIT", {}, Exception("disk I/O error"))
        self.log.append("commit")


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    engine = make_engine(f"sqlite:///{tmp_path / 'g.db'}")
    check_version(engine, auto_migrate=True)
    svc = Services.build(SqlStore(engine))
    svc.models.upload("t", dtdl_samples.models(), CTX)
    yield svc
    svc.store.dispose()


def _submit_all(committer: GroupCommitter, ops: list[WriteOp[Any]]) -> list[Any]:
    async def go() -> list[Any]:
        return await asyncio.gather(*(committer.submit(op) for op in ops), return_exceptions=True)

    return asyncio.run(go())


def test_concurrent_creates_share_transactions_and_each_gets_its_result(services: Services) -> None:
    store = RecordingStore(services.store)
    committer = GroupCommitter(store, services.bus, window_s=0.005)
    published: list[Event] = []
    services.bus.listen(published.append)
    results = _submit_all(committer, [services.twins.put_op("t", f"r{i}", dtdl_samples.room(float(i)), CTX)
                                      for i in range(40)])
    assert [(doc["$dtId"], created) for doc, created in results] == [(f"r{i}", True) for i in range(40)]
    assert store.transactions < 40 and committer.stats.items == 40  # fewer commits than writes
    assert len({doc["$etag"] for doc, _ in results}) == 40
    for i in (0, 17, 39):
        assert services.twins.get("t", f"r{i}")["temperature"] == float(i)
    assert sorted(e.subject for e in published) == sorted(f"r{i}" for i in range(40))


def test_a_failing_item_does_not_fail_its_neighbours(services: Services) -> None:
    committer = GroupCommitter(services.store, services.bus, window_s=0.005)

    def half_done_then_fails() -> Any:
        def apply(tx: Any) -> Any:
            tx.twins.delete("t", "keep")  # a change that must be rolled back with its savepoint
            raise ValidationError("this item is refused after writing")

        return apply

    services.twins.put("t", "keep", dtdl_samples.room(), CTX)
    ops: list[WriteOp[Any]] = [
        services.twins.put_op("t", "a", dtdl_samples.room(1.0), CTX),
        services.twins.put_op("t", "bad", {"$metadata": {"$model": dtdl_samples.ROOM}, "nope": 1}, CTX),
        WriteOp(half_done_then_fails),
        services.twins.patch_op("t", "missing", [{"op": "add", "path": "/temperature", "value": 1.0}], CTX),
        services.twins.put_op("t", "b", dtdl_samples.room(2.0), CTX),
    ]
    a, bad, partial, missing, b = _submit_all(committer, ops)
    assert a[0]["$dtId"] == "a" and b[0]["$dtId"] == "b"
    assert isinstance(bad, ValidationError) and "nope" in str(bad.problems)
    assert isinstance(partial, ValidationError)
    assert isinstance(missing, NotFoundError)
    assert services.twins.get("t", "keep")["$dtId"] == "keep"  # the failed item's delete was rolled back
    assert services.twins.get("t", "b")["temperature"] == 2.0
    assert committer.stats.fallbacks == 0


def test_etag_checks_inside_one_batch_behave_as_if_sequential(services: Services) -> None:
    etag = services.twins.put("t", "r", dtdl_samples.room(), CTX)[0]["$etag"]
    committer = GroupCommitter(services.store, services.bus, window_s=0.005)
    ops = [services.twins.patch_op("t", "r", [{"op": "replace", "path": "/temperature", "value": v}], CTX,
                                   if_match=etag) for v in (30.0, 31.0)]
    first, second = _submit_all(committer, ops)
    assert first["temperature"] == 30.0 and isinstance(second, PreconditionFailedError)
    assert services.twins.get("t", "r")["$etag"] == first["$etag"]


def test_nothing_is_answered_before_commit(services: Services) -> None:
    store = RecordingStore(services.store)
    committer = GroupCommitter(store, services.bus, window_s=0.0)
    answered_after: list[int] = []

    async def go() -> None:
        async def one(i: int) -> None:
            await committer.submit(services.twins.put_op("t", f"c{i}", dtdl_samples.room(), CTX))
            answered_after.append(len(store.log))  # commits seen when this caller was answered

        await asyncio.gather(*(one(i) for i in range(10)))

    asyncio.run(go())
    assert len(answered_after) == 10 and min(answered_after) >= 1


def test_a_batch_that_fails_to_commit_is_retried_item_by_item(services: Services) -> None:
    store = RecordingStore(services.store)
    store.fail_commits = 1
    committer = GroupCommitter(store, services.bus, window_s=0.005)
    published: list[Event] = []
    services.bus.listen(published.append)
    results = _submit_all(committer, [services.twins.put_op("t", f"f{i}", dtdl_samples.room(), CTX)
                                      for i in range(5)])
    assert all(created for _, created in results)
    assert committer.stats.fallbacks == 1
    assert [services.twins.get("t", f"f{i}")["$dtId"] for i in range(5)] == [f"f{i}" for i in range(5)]
    assert len(published) == 5  # published once each, after the retried commits, none for the failed batch


def test_relationship_ops_group_commit_with_twins(services: Services) -> None:
    from tests.support.dtdl_samples import FLOOR

    services.twins.put("t", "floor", {"$metadata": {"$model": FLOOR}, "level": 1}, CTX)
    services.twins.put("t", "room", dtdl_samples.room(), CTX)
    committer = GroupCommitter(services.store, services.bus, window_s=0.005)
    ops: list[WriteOp[Any]] = [
        services.relationships.put_op("t", "floor", "c1", {"$targetId": "room", "$relationshipName": "contains"},
                                      CTX),
        services.relationships.put_op("t", "floor", "x1", {"$targetId": "room", "$relationshipName": "exit"}, CTX),
        services.relationships.put_op("t", "floor", "x2", {"$targetId": "room", "$relationshipName": "exit"}, CTX),
    ]
    c1, x1, x2 = _submit_all(committer, ops)
    assert c1[1] and x1[1]
    assert isinstance(x2, ValidationError)  # maxMultiplicity 1, counted inside the same transaction
    patched = _submit_all(committer, [services.relationships.patch_op(
        "t", "floor", "c1", [{"op": "add", "path": "/since", "value": "2020"}], CTX)])[0]
    assert patched["since"] == "2020"


def test_parallel_batches_keep_every_result(services: Services) -> None:
    committer = GroupCommitter(services.store, services.bus, window_s=0.002, parallel=3)
    results = _submit_all(committer, [services.twins.put_op("t", f"p{i}", dtdl_samples.room(float(i)), CTX)
                                      for i in range(30)])
    assert [doc["temperature"] for doc, _ in results] == [float(i) for i in range(30)]
    assert committer.stats.items == 30 and not committer._queues  # drainers finished and cleaned up
