"""Engine creation and the durability profile checks (promise G1).

SQLite: WAL, ``synchronous=FULL`` (durable) or ``NORMAL`` (fast), ``busy_timeout``, foreign keys on, and real
transactions: pysqlite's legacy mode neither BEGINs before DDL nor lets us choose ``BEGIN IMMEDIATE``, so we emit
BEGIN ourselves (the recipe from the SQLAlchemy SQLite dialect docs). Write transactions use ``BEGIN IMMEDIATE`` so
a read->write lock upgrade can never fail with SQLITE_BUSY after ``busy_timeout`` is bypassed.

PostgreSQL: psycopg 3; ``postgresql://`` URLs are mapped to ``postgresql+psycopg://``.
"""

from __future__ import annotations

import json
from typing import Any, Literal

import orjson
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from tvilling.core.errors import ConfigurationError, UnavailableError

Profile = Literal["durable", "fast"]
WRITE_OPTION = "tvilling_write"
# SQLite checkpoints the WAL inside the COMMIT that crosses this many pages, so that commit (and every ack waiting on
# it) pays for copying the WAL into the database and an extra fsync. The platform checkpoints from a background task
# instead (``checkpoint_wal``); this larger threshold is only the backstop for processes that do not (CLI tools).
AUTOCHECKPOINT_PAGES = 8192


def normalise_url(url: str) -> str:
    """Accept the URLs people type and map them to the drivers we ship."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def backend(url: str) -> str:
    return make_url(normalise_url(url)).get_backend_name()


def json_value(raw: Any) -> Any:
    """Reads JSON columns. SQLite's NUMERIC affinity for a JSON column turns a bare number document into an INTEGER
    or REAL, which arrives here already decoded; every other document is text."""
    if isinstance(raw, (int, float)):
        return raw
    return orjson.loads(raw)


def json_text(value: Any) -> str:
    """JSON columns are written by orjson (several times faster than ``json``, which profiles showed on every
    write); values orjson refuses (integers beyond 64 bits) fall back to ``json``, which can write them. Reads use
    ``orjson.loads`` too, which returns such integers as floats (as most JSON clients, doubles everywhere, would)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        return json.dumps(value, ensure_ascii=False)


def make_engine(url: str, *, profile: Profile = "durable", busy_timeout_ms: int = 5000,
                pool_size: int = 8) -> Engine:
    try:
        parsed = make_url(normalise_url(url))
    except ArgumentError as exc:
        raise ConfigurationError(f"cannot parse database URL: {exc}",
                                 hint="use sqlite:///path/to/file.db or postgresql://user@host/db") from exc
    name = parsed.get_backend_name()
    if name == "sqlite":
        return _sqlite_engine(parsed, profile, busy_timeout_ms, pool_size)
    if name == "postgresql":
        if parsed.get_driver_name() != "psycopg":
            parsed = parsed.set(drivername="postgresql+psycopg")
        # No pool_pre_ping: it costs a round trip per request. After a server restart the first statement on a
        # stale connection fails (503 + Retry-After to that caller) and SQLAlchemy invalidates the whole pool.
        return create_engine(parsed, pool_size=pool_size, max_overflow=pool_size, json_serializer=json_text,
                             json_deserializer=json_value, pool_use_lifo=True)  # LIFO: see _sqlite_engine
    raise ConfigurationError(f"unsupported database backend {name!r}",
                             hint="use sqlite:///path/to/file.db or postgresql://user@host/db")


def _sqlite_engine(parsed: Any, profile: Profile, busy_timeout_ms: int, pool_size: int) -> Engine:
    database = parsed.database or ""
    if database in ("", ":memory:"):
        raise ConfigurationError("an in-memory SQLite database cannot be durable or shared between threads",
                                 hint="give a file path: sqlite:///./data/tvilling.db")
    # LIFO pool: a steady writer (the ingest commit loop) gets back the connection it just used, whose page cache is
    # still valid. The default FIFO order rotated it through every pooled connection once a second one existed (the
    # WAL checkpoint thread, any reader), and a connection that sees another's commit discards its whole page cache:
    # each small ingest commit then re-read its ~100 b-tree pages. Measured in the paced ingest phase (10 000
    # points/s, bench/ingest_dev/latency_probe.py, 3 + 3 runs): commit p50 9.5-10.0 -> 6.4-8.2 ms, device->queryable
    # p50 26-27 -> 16-22 ms.
    engine = create_engine(parsed, pool_size=pool_size, max_overflow=pool_size, json_serializer=json_text,
                           json_deserializer=json_value, pool_use_lifo=True,
                           connect_args={"check_same_thread": False, "timeout": busy_timeout_ms / 1000})
    synchronous = "FULL" if profile == "durable" else "NORMAL"

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (see module docstring)
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA synchronous={synchronous}")
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA wal_autocheckpoint={AUTOCHECKPOINT_PAGES}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(WRITE_OPTION, False)
        # Straight to the driver: the full SQLAlchemy execution path costs more than the BEGIN itself.
        conn.connection.driver_connection.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")  # type: ignore[union-attr]

    return engine


def checkpoint_wal(engine: Engine) -> tuple[int, int] | None:
    """One PASSIVE checkpoint (never waits for writers or readers); returns (WAL pages, pages checkpointed), or
    None on a backend without a WAL to checkpoint. Run it off the commit path, e.g. every half second."""
    if engine.dialect.name != "sqlite":
        return None
    with engine.connect() as conn:
        row = conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").first()
        conn.rollback()
    return (int(row[1]), int(row[2])) if row is not None else None


def verify_durability(engine: Engine, profile: Profile) -> dict[str, str]:
    """Read the settings that decide whether a commit is durable; refuse weak ones in the durable profile.

    Returns the observed settings (shown by ``/health`` and logged at start).
    """
    try:
        with engine.connect() as conn:
            observed = _observe(conn)
    except SQLAlchemyError as exc:
        raise UnavailableError(f"cannot connect to the database: {type(exc).__name__}",
                               hint="check the --db URL and that the server is running") from exc
    if profile != "durable":
        return observed
    weak = _weak_settings(engine.dialect.name, observed)
    if weak:
        raise ConfigurationError(
            "the database is configured below the durable profile: " + ", ".join(weak),
            where=engine.dialect.name,
            hint="fix the server settings, or start with --profile fast / TVILLING_PROFILE=fast to accept "
                 "weaker durability (see docs/api.md)",
        )
    return observed


def _observe(conn: Connection) -> dict[str, str]:
    if conn.dialect.name == "sqlite":
        journal = str(conn.exec_driver_sql("PRAGMA journal_mode").scalar())
        sync = int(conn.exec_driver_sql("PRAGMA synchronous").scalar() or 0)
        fks = int(conn.exec_driver_sql("PRAGMA foreign_keys").scalar() or 0)
        names = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}
        return {"journal_mode": journal.lower(), "synchronous": names.get(sync, str(sync)),
                "foreign_keys": "on" if fks else "off"}
    fsync = str(conn.execute(text("SHOW fsync")).scalar())
    sync_commit = str(conn.execute(text("SHOW synchronous_commit")).scalar())
    return {"fsync": fsync, "synchronous_commit": sync_commit}


def _weak_settings(dialect: str, observed: dict[str, str]) -> list[str]:
    weak: list[str] = []
    if dialect == "sqlite":
        if observed["journal_mode"] != "wal":
            weak.append(f"journal_mode={observed['journal_mode']} (need wal)")
        if observed["synchronous"] not in ("FULL", "EXTRA"):
            weak.append(f"synchronous={observed['synchronous']} (need FULL)")
        if observed["foreign_keys"] != "on":
            weak.append("foreign_keys=off (need on)")
    else:
        if observed["fsync"] != "on":
            weak.append(f"fsync={observed['fsync']} (need on)")
        # remote_write/remote_apply are stronger than on (they also wait for a standby).
        if observed["synchronous_commit"] not in ("on", "remote_write", "remote_apply"):
            weak.append(f"synchronous_commit={observed['synchronous_commit']} (need on)")
    return weak
