"""Series ids: the integer that names one (tenant, twin, name) in ``samples``.

Why a cache that only holds committed ids: a series created inside a transaction that later rolls back leaves no
row, and SQLite would hand the same id to the next new series. So ``ensure`` creates missing series in a short
transaction of its own and caches them only after it committed; ``resolve`` (inside a caller's transaction) may
create series too but never caches what it created. Series are never deleted, so a cached id stays right.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from tvilling.adapters.sql.schema import series
from tvilling.adapters.sql.timeseries_batch import SeriesKey

_KEYS_PER_QUERY = 300  # three parameters per key; well under SQLite's limit


def series_id_of(tenant: str, twin_id: str, name: str) -> sa.ScalarSelect[int]:
    """For readers: the series id as a scalar subquery (NULL, so no rows, when the series does not exist)."""
    s = series.c
    return sa.select(s.id).where(s.tenant == tenant, s.twin_id == twin_id, s.name == name).scalar_subquery()


class SeriesIds:
    def __init__(self) -> None:
        self._cache: dict[SeriesKey, int] = {}

    def missing(self, keys: Iterable[SeriesKey]) -> list[SeriesKey]:
        cache = self._cache
        return [k for k in keys if k not in cache]

    def remember(self, ids: dict[SeriesKey, int]) -> None:
        """Only for ids read or created in a transaction that has committed."""
        self._cache.update(ids)

    def resolve(self, conn: Connection, keys: Collection[SeriesKey]) -> dict[SeriesKey, int]:
        """Ids of ``keys`` within ``conn``'s transaction, creating missing series there (not cached)."""
        cache = self._cache
        out = {k: cache[k] for k in keys if k in cache}
        if len(out) < len(keys):
            out.update(fetch_or_create(conn, [k for k in keys if k not in out]))
        return out


def fetch_or_create(conn: Connection, keys: list[SeriesKey]) -> dict[SeriesKey, int]:
    found = _fetch(conn, keys)
    new = [k for k in keys if k not in found]
    if new:
        ins = postgresql.insert(series) if conn.dialect.name == "postgresql" else sqlite.insert(series)
        conn.execute(ins.on_conflict_do_nothing(), [{"tenant": t, "twin_id": w, "name": n} for t, w, n in new])
        found.update(_fetch(conn, new))
    return found


def _fetch(conn: Connection, keys: list[SeriesKey]) -> dict[SeriesKey, int]:
    s = series.c
    out: dict[SeriesKey, int] = {}
    for i in range(0, len(keys), _KEYS_PER_QUERY):
        q = sa.select(s.id, s.tenant, s.twin_id, s.name).where(
            sa.tuple_(s.tenant, s.twin_id, s.name).in_(keys[i:i + _KEYS_PER_QUERY]))
        out.update(((r[1], r[2], r[3]), int(r[0])) for r in conn.execute(q))
    return out


def series_names(conn: Connection, tenant: str, twin_ids: Collection[str]) -> dict[str, list[str]]:
    """twin -> names of the series it has (anything ever stored for it, numeric or not)."""
    out: dict[str, list[str]] = {}
    ids = list(twin_ids)
    for i in range(0, len(ids), _KEYS_PER_QUERY):
        stmt = (sa.select(series.c.twin_id, series.c.name)
                .where(series.c.tenant == tenant, series.c.twin_id.in_(ids[i:i + _KEYS_PER_QUERY])))
        for twin_id, name in conn.execute(stmt):
            out.setdefault(twin_id, []).append(name)
    return out
