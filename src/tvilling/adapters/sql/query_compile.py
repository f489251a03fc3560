"""Compile a resolved ADT query (:mod:`tvilling.query.ast`) to ONE SQLAlchemy Core SELECT against ``schema``.

Every table reference carries ``tenant = :tenant`` (tenant isolation does not depend on the WHERE clause).
Rows are ordered by the key columns of every collection in FROM order, which makes keyset paging stable.
MATCH relationship conditions without a variable become a DISTINCT (start, end) pair table: the UNION over hop
counts n..m of chains of relationships in which no relationship repeats (a trail, as Cypher matches paths).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql.elements import ColumnElement

from tvilling.adapters.sql import schema
from tvilling.adapters.sql.query_expr import ModelResolver, Predicates, dialect_for
from tvilling.query import ast

TWIN_SYSTEM = (("$dtId", "id"), ("$etag", "etag"))
REL_SYSTEM = (("$relationshipId", "id"), ("$etag", "etag"), ("$sourceId", "source_id"),
              ("$targetId", "target_id"), ("$relationshipName", "name"))


def _path_literal(key: str) -> Any:
    return sa.literal_column("'$.\"" + key + "\"'")


def document(table: Any, kind: ast.CollectionKind, dialect: str) -> ColumnElement[Any]:
    """The whole ADT document assembled in SQL, so each row costs one JSON decode instead of several."""
    system = TWIN_SYSTEM if kind == "twin" else REL_SYSTEM
    body = table.c.contents if kind == "twin" else table.c.properties
    if dialect == "postgresql":
        pairs: list[Any] = []
        for key, col in system:
            pairs += [sa.literal_column(f"'{key}'"), table.c[col]]
        if kind == "twin":
            meta = sa.func.jsonb_build_object(sa.literal_column("'$model'"), table.c.model_id).op("||")(table.c.meta)
            pairs += [sa.literal_column("'$metadata'"), meta]
        # Right-hand side of || wins, as json_set's does below: the system fields can never be shadowed.
        return sa.type_coerce(body.op("||")(sa.func.jsonb_build_object(*pairs)), JSONB)
    args: list[Any] = []
    for key, col in system:
        args += [_path_literal(key), table.c[col]]
    if kind == "twin":
        # json_set's result keeps SQLite's JSON subtype, so the nested object is inserted as JSON, not a string.
        args += [_path_literal("$metadata"), sa.func.json_set(table.c.meta, _path_literal("$model"), table.c.model_id)]
    return sa.type_coerce(sa.func.json_set(body, *args), sa.JSON)


@dataclass
class Compiled:
    """The statement before paging, what to order by, and how to shape each result row."""

    stmt: sa.Select[Any]
    count: str | None  # result key of COUNT(), or None for row queries
    keys: list[ColumnElement[Any]] = field(default_factory=list)
    docs: dict[str, tuple[ast.CollectionKind, int]] = field(default_factory=dict)  # alias -> (kind, first column)
    star: str | None = None  # alias whose document IS the row (SELECT *)
    projections: tuple[ast.Projection, ...] = ()
    key_start: int = 0  # result column of the first ordering key


def _anchors(where: ast.Expr | None) -> dict[str, list[str]]:
    """``X.$dtId = '…'`` / ``X.$dtId IN [...]`` conjuncts at the top of WHERE: ids each node is pinned to.

    They are copied into variable-hop pair tables so the chain search starts from the pinned twin instead of
    enumerating every path in the graph (the planner cannot always push them through the UNION)."""
    out: dict[str, list[str]] = {}
    items = where.items if isinstance(where, ast.And) else (where,) if where is not None else ()
    for item in items:
        if isinstance(item, ast.Compare) and item.op == "=":
            path, lit = item.left, item.right
            if isinstance(path, ast.Literal):
                path, lit = lit, path
            if isinstance(path, ast.Path) and path.parts == ("$dtId",) and isinstance(lit, ast.Literal) \
                    and isinstance(lit.value, str):
                out.setdefault(path.alias, []).append(lit.value)
        elif isinstance(item, ast.InList) and not item.negated and isinstance(item.operand, ast.Path) \
                and item.operand.parts == ("$dtId",):
            out.setdefault(item.operand.alias, []).extend(v for v in item.values if isinstance(v, str))
    return out


class _Builder:
    def __init__(self, query: ast.Query, tenant: str, resolve_models: ModelResolver, dialect: str) -> None:
        self.q = query
        self.tenant = tenant
        self.dialect = dialect_for(dialect)
        self.tables: dict[str, tuple[ast.CollectionKind, Any]] = {}
        self.conditions: list[ColumnElement[bool]] = []
        self.keys: list[ColumnElement[Any]] = []
        self.froms: Any = None
        self.resolve_models = resolve_models
        self._n = 0

    def _name(self, prefix: str) -> str:
        self._n += 1
        return f"{prefix}{self._n}"

    def twin(self, alias: str) -> Any:
        t = schema.twins.alias(self._name("t"))
        self.tables[alias] = ("twin", t)
        self.keys.append(t.c.id)
        return t

    def rel(self, alias: str | None) -> Any:
        r = schema.relationships.alias(self._name("r"))
        if alias is not None:
            self.tables[alias] = ("relationship", r)
        self.keys.extend([r.c.source_id, r.c.id])
        return r

    def tenant_of(self, table: Any) -> ColumnElement[bool]:
        column: ColumnElement[Any] = table.c.tenant
        return column == sa.bindparam("tenant", self.tenant)

    # -- FROM shapes ----------------------------------------------------------------------------------------
    def from_collection(self) -> None:
        if self.q.source == "relationship":
            r = self.rel(self.q.alias)
            self.froms = r
            self.conditions.append(self.tenant_of(r))
            return
        root = self.twin(self.q.alias)
        self.froms = root
        self.conditions.append(self.tenant_of(root))
        for join in self.q.joins:
            src = self.tables[join.source][1]
            r = self.rel(join.rel_alias)
            self.froms = self.froms.join(r, sa.and_(self.tenant_of(r), r.c.source_id == src.c.id,
                                                    r.c.name == join.relationship))
            target = self.twin(join.alias)
            self.froms = self.froms.join(target, sa.and_(self.tenant_of(target), target.c.id == r.c.target_id))

    def from_match(self, match: ast.Match) -> None:
        anchors = _anchors(self.q.where)
        first = self.twin(match.nodes[0])
        self.froms = first
        self.conditions.append(self.tenant_of(first))
        for i, edge in enumerate(match.edges):
            a = self.tables[match.nodes[i]][1]
            b = self.twin(match.nodes[i + 1])
            if edge.alias:
                r = self.rel(edge.alias)
                near, far = self._hop(r, edge, a.c.id)
                self.froms = self.froms.join(r, near).join(b, sa.and_(self.tenant_of(b), b.c.id == far))
                continue
            pairs = self.pair_table(edge, anchors.get(match.nodes[i]), anchors.get(match.nodes[i + 1]))
            self.froms = self.froms.join(pairs, pairs.c.start == a.c.id).join(
                b, sa.and_(self.tenant_of(b), b.c.id == pairs.c.end))

    def _hop(self, r: Any, edge: ast.Edge, a_id: Any) -> tuple[ColumnElement[bool], ColumnElement[Any]]:
        """Join condition for relationship ``r`` touching ``a``, and the id of the twin at its other end."""
        cond = [self.tenant_of(r)]
        if edge.names:
            cond.append(r.c.name.in_(edge.names))
        if edge.direction == "out":
            cond.append(r.c.source_id == a_id)
            far: ColumnElement[Any] = r.c.target_id
        elif edge.direction == "in":
            cond.append(r.c.target_id == a_id)
            far = r.c.source_id
        else:
            cond.append(sa.or_(r.c.source_id == a_id, r.c.target_id == a_id))
            far = sa.case((r.c.source_id == a_id, r.c.target_id), else_=r.c.source_id)
        return sa.and_(*cond), far

    def _steps(self, edge: ast.Edge) -> Any:
        """One directed step (s -> t) along a matching relationship; both orientations when undirected."""
        r = schema.relationships
        base = [r.c.tenant == sa.bindparam("tenant", self.tenant)]
        if edge.names:
            base.append(r.c.name.in_(edge.names))
        fwd = sa.select(r.c.source_id.label("s"), r.c.target_id.label("t"), r.c.source_id.label("rs"),
                        r.c.id.label("ri")).where(*base)
        bwd = sa.select(r.c.target_id.label("s"), r.c.source_id.label("t"), r.c.source_id.label("rs"),
                        r.c.id.label("ri")).where(*base)
        if edge.direction == "out":
            return fwd
        if edge.direction == "in":
            return bwd
        return sa.union_all(fwd, bwd)

    def pair_table(self, edge: ast.Edge, start_ids: list[str] | None, end_ids: list[str] | None) -> Any:
        steps = self._steps(edge)
        chains = []
        for k in range(edge.min_hops, edge.max_hops + 1):
            hops = [steps.subquery(self._name("h")) for _ in range(k)]
            sel = sa.select(hops[0].c.s.label("start"), hops[-1].c.t.label("end"))
            frm = hops[0]
            for prev, nxt in itertools.pairwise(hops):
                frm = frm.join(nxt, nxt.c.s == prev.c.t)
            conds: list[ColumnElement[bool]] = []
            for x in range(k):
                for y in range(x + 1, k):
                    conds.append(sa.or_(hops[x].c.rs != hops[y].c.rs, hops[x].c.ri != hops[y].c.ri))
            if start_ids is not None:
                conds.append(hops[0].c.s.in_(start_ids))
            if end_ids is not None:
                conds.append(hops[-1].c.t.in_(end_ids))
            chains.append(sel.select_from(frm).where(*conds))
        union = sa.union(*chains) if len(chains) > 1 else chains[0].distinct()
        return union.subquery(self._name("p"))

    # -- the statement --------------------------------------------------------------------------------------
    def build(self) -> Compiled:
        if self.q.match is not None:
            self.from_match(self.q.match)
        else:
            self.from_collection()
        if self.q.where is not None:
            preds = Predicates(self.dialect, self.tables, self.resolve_models)
            self.conditions.append(preds.compile(self.q.where))
        where = sa.and_(*self.conditions)
        select = self.q.select
        if isinstance(select, ast.Count):
            stmt = sa.select(sa.func.count().label("n")).select_from(self.froms).where(where)
            return Compiled(stmt, select.name)
        needed: dict[str, None] = {}
        star = None
        if isinstance(select, ast.Star):
            star = next(iter(self.tables))
            needed[star] = None
        else:
            for proj in select:
                needed[proj.path.alias] = None
        columns: list[Any] = []
        docs: dict[str, tuple[ast.CollectionKind, int]] = {}
        for i, alias in enumerate(needed):
            kind, table = self.tables[alias]
            docs[alias] = (kind, len(columns))
            columns.append(document(table, kind, self.dialect.name).label(f"d{i}"))
        keys = [k.label(f"k{i}") for i, k in enumerate(self.keys)]
        stmt = sa.select(*columns, *keys).select_from(self.froms).where(where)
        projections = select if isinstance(select, tuple) else ()
        return Compiled(stmt, None, list(self.keys), docs, star, projections, len(columns))


def compile_query(query: ast.Query, *, tenant: str, resolve_models: ModelResolver, dialect: str) -> Compiled:
    return _Builder(query, tenant, resolve_models, dialect).build()
