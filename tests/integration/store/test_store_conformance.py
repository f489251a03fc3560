"""The store conformance suite: the same tests on SQLite and PostgreSQL (issue 2: one suite, two stores).

Covers migrations (schema equals schema.py, idempotent, foreign revisions refused), the durable-profile checks,
tenant scoping of every repository, append-only events, referential integrity and write serialisation.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from tvilling.adapters.sql import migrate
from tvilling.adapters.sql.engine import make_engine, verify_durability
from tvilling.adapters.sql.repos import SqlEventRepo
from tvilling.adapters.sql.schema import metadata
from tvilling.adapters.sql.store import SqlStore
from tvilling.core.errors import ConfigurationError, ConflictError
from tvilling.core.events import Event
from tvilling.ports.store import ModelRecord, RelationshipRecord, TokenRecord, TwinRecord

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.fixture
def store(db_url: str) -> Iterator[SqlStore]:
    engine = make_engine(db_url)
    migrate.check_version(engine, auto_migrate=True)
    s = SqlStore(engine)
    yield s
    s.dispose()


def twin(tenant: str, twin_id: str, **contents: object) -> TwinRecord:
    return TwinRecord(tenant=tenant, id=twin_id, model_id="dtmi:x:T;1", contents=dict(contents),
                      meta={"$lastUpdateTime": "t"}, etag=f'W/"{twin_id}"', version=1, last_update_time=NOW)


def test_migrated_schema_matches_schema_py(db_url: str) -> None:
    engine = make_engine(db_url)
    assert migrate.current_revision(engine) is None
    assert migrate.check_version(engine, auto_migrate=True) == migrate.head_revision()
    assert migrate.check_version(engine, auto_migrate=False) == migrate.head_revision()  # idempotent
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []
    engine.dispose()


def test_refuses_unmigrated_and_foreign_revisions(db_url: str) -> None:
    engine = make_engine(db_url)
    with pytest.raises(ConfigurationError, match="needs"):
        migrate.check_version(engine, auto_migrate=False)
    migrate.check_version(engine, auto_migrate=True)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'zz_future'"))
    with pytest.raises(ConfigurationError, match="newer Tvilling"):
        migrate.check_version(engine, auto_migrate=True)
    engine.dispose()


def test_durable_profile_refuses_weak_settings(db_url: str) -> None:
    engine = make_engine(db_url, profile="durable")
    observed = verify_durability(engine, "durable")
    if engine.dialect.name == "sqlite":
        assert observed["synchronous"] == "FULL" and observed["journal_mode"] == "wal"
        weak = make_engine(db_url, profile="fast")
        assert verify_durability(weak, "fast")["synchronous"] == "NORMAL"
        with pytest.raises(ConfigurationError, match="synchronous=NORMAL"):
            verify_durability(weak, "durable")
        weak.dispose()
    else:
        assert observed == {"fsync": "on", "synchronous_commit": "on"}
        dbname = engine.url.database
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'ALTER DATABASE "{dbname}" SET synchronous_commit = off'))
        engine.dispose()  # new sessions pick up the database default
        with pytest.raises(ConfigurationError, match="synchronous_commit=off"):
            verify_durability(engine, "durable")
        assert verify_durability(engine, "fast")["synchronous_commit"] == "off"
    engine.dispose()


def test_postgres_urls_are_mapped_to_psycopg(db_url: str) -> None:
    plain = db_url.replace("postgresql+psycopg://", "postgresql://")
    engine = make_engine(plain)
    assert engine.dialect.name in ("sqlite", "postgresql")
    if engine.dialect.name == "postgresql":
        assert engine.dialect.driver == "psycopg"
    engine.dispose()


def test_twins_are_tenant_scoped(store: SqlStore) -> None:
    with store.write() as tx:
        for tenant in ("a", "b"):
            tx.tenants.ensure(tenant, tenant, NOW)
            tx.twins.insert(twin(tenant, "same-id", owner=tenant))
    with store.read() as tx:
        got_a, got_b = tx.twins.get("a", "same-id"), tx.twins.get("b", "same-id")
        assert got_a is not None and got_a.contents == {"owner": "a"}
        assert got_b is not None and got_b.contents == {"owner": "b"}
        assert got_a.last_update_time == NOW
        assert [t.id for t in tx.twins.list("a")] == ["same-id"]
        assert tx.twins.get("c", "same-id") is None
    with store.write() as tx:
        assert tx.twins.delete("b", "same-id")
        assert not tx.twins.delete("b", "same-id")
    with store.read() as tx:
        assert tx.twins.get("a", "same-id") is not None


def test_duplicate_insert_is_a_conflict_and_rolls_back(store: SqlStore) -> None:
    with store.write() as tx:
        tx.twins.insert(twin("a", "t1"))
    with pytest.raises(ConflictError), store.write() as tx:
        tx.twins.insert(twin("a", "t2"))
        tx.twins.insert(twin("a", "t1"))
    with store.read() as tx:
        assert tx.twins.get("a", "t2") is None  # the whole transaction rolled back


def test_relationships_keep_referential_integrity(store: SqlStore) -> None:
    with store.write() as tx:
        tx.twins.insert(twin("a", "src"))
        tx.twins.insert(twin("a", "dst"))
        tx.relationships.upsert(RelationshipRecord("a", "src", "r1", "feeds", "dst", {"k": 1}, 'W/"1"'))
        tx.relationships.upsert(RelationshipRecord("a", "src", "r2", "feeds", "dst", {}, 'W/"2"'))
    with store.read() as tx:
        assert tx.relationships.count_touching("a", "dst") == 2
        assert tx.relationships.count_outgoing("a", "src", "feeds") == 2
        assert [r.id for r in tx.relationships.incoming("a", "dst", limit=1)] == ["r1"]
        assert [r.id for r in tx.relationships.incoming("a", "dst", after=("src", "r1"))] == ["r2"]
        assert tx.relationships.outgoing("b", "src") == []
    with pytest.raises(ConflictError), store.write() as tx:
        tx.twins.delete("a", "dst")  # the foreign key refuses even if a caller skips the check
    with pytest.raises(ConflictError), store.write() as tx:
        tx.relationships.upsert(RelationshipRecord("a", "src", "r3", "feeds", "missing", {}, 'W/"3"'))


def test_events_are_append_only_and_ordered(store: SqlStore) -> None:
    def event(i: int, tenant: str = "a") -> Event:
        return Event(kind="twin.updated", tenant=tenant, subject="t1", time=NOW, context_id=f"{i:032x}",
                     parent_id=None, actor="test", data={"old": {"v": i - 1}, "new": {"v": i}})

    with store.write() as tx:
        seqs = tx.events.append([event(1), event(2), event(3, tenant="b")])
    assert seqs == sorted(seqs) and len(set(seqs)) == 3
    with store.read() as tx:
        got = tx.events.list("a")
        assert [e.event.data["new"]["v"] for e in got] == [1, 2]
        assert got[0].event == event(1)
        assert [e.event.data["new"]["v"] for e in tx.events.list("a", after_seq=got[0].seq)] == [2]
    assert not any(hasattr(SqlEventRepo, name) for name in ("delete", "update"))  # no way to rewrite history


def test_models_and_tokens(store: SqlStore) -> None:
    with store.write() as tx:
        tx.models.add(ModelRecord("a", "dtmi:x:M;1", {"@id": "dtmi:x:M;1"}, "M", False, NOW))
        tx.tokens.add(TokenRecord("0123456789abcdef", "a", "viewer", "n", "f" * 64, NOW))
    with store.write() as tx:
        assert tx.models.existing_ids("a", ["dtmi:x:M;1", "dtmi:x:N;1"]) == {"dtmi:x:M;1"}
        assert tx.models.existing_ids("b", ["dtmi:x:M;1"]) == set()
        assert tx.models.set_decommissioned("a", "dtmi:x:M;1", True)
        assert not tx.models.set_decommissioned("b", "dtmi:x:M;1", True)
        assert not tx.tokens.revoke("b", "0123456789abcdef", NOW)
        assert tx.tokens.revoke("a", "0123456789abcdef", NOW)
    with store.read() as tx:
        m = tx.models.get("a", "dtmi:x:M;1")
        assert m is not None and m.decommissioned and m.document == {"@id": "dtmi:x:M;1"}
        tok = tx.tokens.get("0123456789abcdef")
        assert tok is not None and tok.revoked_at == NOW and tok.secret_hash == "f" * 64


def test_write_transactions_serialise_read_modify_write(store: SqlStore) -> None:
    """Concurrent increments under write transactions lose no update (ETag checks rely on this)."""
    with store.write() as tx:
        tx.twins.insert(twin("a", "counter", n=0))

    def bump() -> None:
        for _ in range(10):
            with store.write() as tx:
                cur = tx.twins.get("a", "counter", for_update=True)
                assert cur is not None
                tx.twins.update(twin("a", "counter", n=cur.contents["n"] + 1))

    threads = [threading.Thread(target=bump) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with store.read() as tx:
        final = tx.twins.get("a", "counter")
    assert final is not None and final.contents["n"] == 40


def test_values_the_database_cannot_hold_are_validation_errors(store: SqlStore) -> None:
    from tvilling.core.errors import ValidationError

    if store.engine.dialect.name != "postgresql":
        pytest.skip("SQLite stores NUL characters; only PostgreSQL refuses them")
    with pytest.raises(ValidationError), store.write() as tx:
        tx.tokens.add(TokenRecord("0123456789abcdef", "a", "viewer", "bad\x00name", "f" * 64, NOW))
