"""``SqlStore``: the store port on SQLAlchemy Core, for SQLite and PostgreSQL alike.

Write transactions are ``BEGIN IMMEDIATE`` on SQLite (see engine.py) and row locks (``FOR UPDATE``) on PostgreSQL,
so read-check-write sequences (ETag checks, multiplicity counts) cannot interleave.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property

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


class SqlStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # SQLite point reads are local and never wait for writers under WAL (~0.1 ms), cheaper to run on the event
        # loop than to hop to a worker thread; a network database read could stall the loop, so it never is.
        self.inline_point_reads = engine.dialect.name == "sqlite"

    @contextmanager
    def read(self) -> Iterator[SqlTransaction]:
        with self._translate(), self.engine.connect() as conn, conn.begin():
            yield SqlTransaction(conn)

    @contextmanager
    def write(self) -> Iterator[SqlTransaction]:
        with self._translate(), self.engine.connect().execution_options(**{WRITE_OPTION: True}) as conn, \
                conn.begin():
            yield SqlTransaction(conn)

    def ping(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except DBAPIError:
            return False

    def dispose(self) -> None:
        self.engine.dispose()

    @staticmethod
    @contextmanager
    def _translate() -> Iterator[None]:
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
