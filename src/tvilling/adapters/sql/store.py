"""``SqlStore``: the store port on SQLAlchemy Core, for SQLite and PostgreSQL alike.

Write transactions are ``BEGIN IMMEDIATE`` on SQLite (see engine.py) and row locks (``FOR UPDATE``) on PostgreSQL,
so read-check-write sequences (ETag checks, multiplicity counts) cannot interleave.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import Any

import orjson
from sqlalchemy import Engine, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError

from tvilling.adapters.sql.engine import WRITE_OPTION
from tvilling.adapters.sql.repos import (
    SqlEventRepo,
    SqlModelRepo,
    SqlRelationshipRepo,
    SqlTenantRepo,
    SqlTokenRepo,
    SqlTwinRepo,
)
from tvilling.core.errors import ConflictError, UnavailableError, ValidationError


class SqlTransaction:
    """Repositories over one connection, created on first use (most requests touch one or two)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn  # for executors that need raw SQL (the query engine)

    @cached_property
    def tenants(self) -> SqlTenantRepo:
        return SqlTenantRepo(self.conn)

    @cached_property
    def tokens(self) -> SqlTokenRepo:
        return SqlTokenRepo(self.conn)

    @cached_property
    def models(self) -> SqlModelRepo:
        return SqlModelRepo(self.conn)

    @cached_property
    def twins(self) -> SqlTwinRepo:
        return SqlTwinRepo(self.conn)

    @cached_property
    def relationships(self) -> SqlRelationshipRepo:
        return SqlRelationshipRepo(self.conn)

    @cached_property
    def events(self) -> SqlEventRepo:
        return SqlEventRepo(self.conn)

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """A nested transaction: an error inside rolls back only what ran inside (group commit, one per item).

        Plain SAVEPOINT statements rather than ``begin_nested()``, whose bookkeeping cost more than the item's own
        statements; the enclosing transaction is ours alone, so SQLAlchemy need not track these.
        """
        with translate_errors():
            self.conn.exec_driver_sql("SAVEPOINT tvl_item")
            try:
                yield
            except BaseException:
                self.conn.exec_driver_sql("ROLLBACK TO SAVEPOINT tvl_item")
                self.conn.exec_driver_sql("RELEASE SAVEPOINT tvl_item")
                raise
            self.conn.exec_driver_sql("RELEASE SAVEPOINT tvl_item")


class SqlStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # SQLite point reads are local and never wait for writers under WAL (~0.1 ms), cheaper to run on the event
        # loop than to hop to a worker thread; a network database read could stall the loop, so it never is.
        self.inline_point_reads = engine.dialect.name == "sqlite"
        mark = "?" if engine.dialect.paramstyle == "qmark" else "%s"
        self._twin_sql = f"SELECT model_id, contents, meta, etag FROM twins WHERE tenant = {mark} AND id = {mark}"
        self._dbapi: Any = engine.dialect.loaded_dbapi

    @contextmanager
    def read(self) -> Iterator[SqlTransaction]:
        with translate_errors(), self.engine.connect() as conn, conn.begin():
            yield SqlTransaction(conn)

    @contextmanager
    def write(self) -> Iterator[SqlTransaction]:
        with translate_errors(), self.engine.connect().execution_options(**{WRITE_OPTION: True}) as conn, \
                conn.begin():
            yield SqlTransaction(conn)

    def twin_document(self, tenant: str, twin_id: str) -> dict[str, Any] | None:
        """The hot read (GET /twins/{id}): one indexed SELECT on a pooled DBAPI connection.

        Bypasses SQLAlchemy's connection/transaction/result layers (about 70 of 85 us per read on SQLite); one
        statement needs no explicit transaction to be consistent. Builds the ADT document directly.
        """
        row = self._twin_row(tenant, twin_id, retry=True)
        if row is None:
            return None
        model_id, contents, meta, etag = row
        return {"$dtId": twin_id, "$etag": etag, "$metadata": {"$model": model_id, **_json(meta)}, **_json(contents)}

    def _twin_row(self, tenant: str, twin_id: str, *, retry: bool) -> Any:
        try:
            with translate_errors():  # errors while checking out a connection (e.g. server down)
                raw = self.engine.raw_connection()
        except self._dbapi.Error as exc:  # the pool may hand the driver's own error through unwrapped
            raise UnavailableError(f"the database is unavailable: {type(exc).__name__}", hint="retry later",
                                   extra={"retry_after": 1}) from exc
        try:
            cur = raw.cursor()
            try:
                cur.execute(self._twin_sql, (tenant, twin_id))
                return cur.fetchone()
            finally:
                cur.close()
        except self._dbapi.Error as exc:
            lost = self.engine.dialect.is_disconnect(exc, raw, None)
            if lost:
                # A connection from before a database restart (no pre-ping, to keep it off every request): drop
                # it and the pool's other stale ones, and retry once on a fresh connection, invisibly to the caller.
                raw.invalidate(exc)
                self.engine.dispose()
                if retry:
                    return self._twin_row(tenant, twin_id, retry=False)
            if lost or isinstance(exc, self._dbapi.OperationalError):
                raise UnavailableError(f"the database is unavailable: {type(exc).__name__}", hint="retry later",
                                       extra={"retry_after": 1}) from exc
            raise
        finally:
            raw.close()

    def ping(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except DBAPIError:
            return False

    def dispose(self) -> None:
        self.engine.dispose()


@contextmanager
def translate_errors() -> Iterator[None]:
    """Database errors become domain errors at this boundary (architecture guideline 7)."""
    try:
        yield
    except IntegrityError as exc:
        raise ConflictError("the change conflicts with existing data (a concurrent request changed it)",
                            hint="read the current state and retry") from exc
    except DataError as exc:  # e.g. NUL characters PostgreSQL cannot store: the input's fault, not the server's
        raise ValidationError(f"the database cannot store a value: {str(exc.orig).splitlines()[0]}",
                              hint="remove control characters (NUL) and keep numbers within range") from exc
    except OperationalError as exc:
        raise UnavailableError(f"the database is unavailable: {type(exc.orig).__name__}",
                               hint="retry later", extra={"retry_after": 1}) from exc
    except DBAPIError as exc:
        # A connection that died under us (e.g. psycopg's InterfaceError after a server restart): SQLAlchemy has
        # already invalidated the pool, so the next request reconnects; this one is a 503, never a 500.
        if exc.connection_invalidated:
            raise UnavailableError(f"the database connection was lost: {type(exc.orig).__name__}",
                                   hint="retry", extra={"retry_after": 1}) from exc
        raise


def _json(value: Any) -> Any:
    """SQLite hands JSON columns back as text; psycopg decodes JSONB itself."""
    return orjson.loads(value) if isinstance(value, (str, bytes)) else value
