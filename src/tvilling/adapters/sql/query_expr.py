"""WHERE predicates of the ADT query language as SQLAlchemy Core, for SQLite (JSON1) and PostgreSQL (jsonb).

Semantics (why it is built this way): as in ADT (and Cosmos DB, which it follows), comparing values of different
types, or a missing property, is *undefined* -- neither true nor false -- and a row is returned only when the WHERE
clause is true. Undefined behaves like SQL NULL under AND/OR/NOT, but SQL NULL would force CASE expressions that
stop indexes from being used. So the compiler pushes NOT down to the leaves (negation normal form) and gives each
leaf two plain predicates: ``pos`` (the leaf is true) and ``neg`` (the leaf is false), each guarded by a type test.
With no SQL NOT above a leaf, a NULL inside a leaf can only ever act as false, which is exactly "not true".

JSON paths and their SQL spelling are rendered as literals (they come from identifiers, which the lexer restricts
to letters, digits, ``_`` and ``$``) so that expression indexes such as ``json_extract(contents, '$."name"')`` or
``(contents #> '{name}')`` match the query text; values are always bound parameters.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql.elements import ColumnElement

from tvilling.core.errors import QuerySyntaxError
from tvilling.query import ast

TWIN_COLUMNS: dict[tuple[str, ...], str] = {("$dtId",): "id", ("$etag",): "etag", ("$metadata", "$model"): "model_id"}
REL_COLUMNS: dict[tuple[str, ...], str] = {
    ("$relationshipId",): "id", ("$sourceId",): "source_id", ("$targetId",): "target_id",
    ("$relationshipName",): "name", ("$etag",): "etag"}
NEGATED = {"=": "!=", "!=": "=", "<": ">=", ">=": "<", ">": "<=", "<=": ">"}
FLIPPED = {"=": "=", "!=": "!=", "<": ">", ">": "<", "<=": ">=", ">=": "<="}


@dataclass(frozen=True)
class Col:
    """A string column ($dtId, $etag, $metadata.$model, $sourceId, ...)."""

    column: ColumnElement[Any]


@dataclass(frozen=True)
class Json:
    """A property inside a JSON document column; ``parts`` is non-empty."""

    doc: ColumnElement[Any]
    parts: tuple[str, ...]


Value = Col | Json | ast.Literal


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def sqlite_path(parts: tuple[str, ...]) -> str:
    return "$" + "".join(f'."{p}"' for p in parts)


def pg_path(parts: tuple[str, ...]) -> str:
    return "{" + ",".join(parts) + "}"


def _cmp(a: Any, op: str, b: Any) -> ColumnElement[bool]:
    ops: dict[str, Callable[[Any, Any], ColumnElement[bool]]] = {
        "=": lambda x, y: x == y, "!=": lambda x, y: x != y, "<": lambda x, y: x < y,
        ">": lambda x, y: x > y, "<=": lambda x, y: x <= y, ">=": lambda x, y: x >= y}
    return ops[op](a, b)


def _py_cmp(a: ast.Scalar, op: str, b: ast.Scalar) -> bool | None:
    """Literal vs literal, with the same typing rules; None = undefined."""
    def kind(v: ast.Scalar) -> str:
        return "bool" if isinstance(v, bool) else "null" if v is None else \
            "num" if isinstance(v, int | float) else "str"
    if kind(a) != kind(b):
        return None
    if kind(a) in ("bool", "null") and op not in ("=", "!="):
        return None
    return {"=": a == b, "!=": a != b, "<": a < b, ">": a > b, "<=": a <= b,  # type: ignore[operator]
            ">=": a >= b}[op]  # type: ignore[operator]


class Dialect:
    """Type tests and value extraction for one backend."""

    name = ""
    NUM = STR = BOOL_TRUE = BOOL_FALSE = NULL = OBJECT = ARRAY = ""

    def jtype(self, v: Json) -> ColumnElement[Any]:
        raise NotImplementedError

    def text(self, v: Json) -> ColumnElement[Any]:
        """The value as SQL text/number suitable for comparing with a bound scalar of the guarded type."""
        raise NotImplementedError

    def is_num(self, v: Json) -> ColumnElement[bool]:
        return self.jtype(v).in_(self.NUM.split(","))

    def is_str(self, v: Json) -> ColumnElement[bool]:
        return self.jtype(v) == self.STR

    def is_bool(self, v: Json) -> ColumnElement[bool]:
        return self.jtype(v).in_(sorted({self.BOOL_TRUE, self.BOOL_FALSE}))

    def defined(self, v: Json) -> ColumnElement[bool]:
        return self.jtype(v).is_not(None)

    def bool_is(self, v: Json, value: bool) -> ColumnElement[bool]:
        raise NotImplementedError

    def eq_literal(self, v: Json, op: str, lit: Any) -> ColumnElement[bool]:
        """``v op lit`` for a number or string literal (the type guard is added by the caller)."""
        raise NotImplementedError

    def startswith(self, s: ColumnElement[Any], needle: str) -> ColumnElement[bool]:
        raise NotImplementedError

    def endswith(self, s: ColumnElement[Any], needle: str) -> ColumnElement[bool]:
        raise NotImplementedError

    def contains(self, s: ColumnElement[Any], needle: str) -> ColumnElement[bool]:
        raise NotImplementedError


class SqliteDialect(Dialect):
    name = "sqlite"
    NUM, STR, BOOL_TRUE, BOOL_FALSE, NULL, OBJECT, ARRAY = "integer,real", "text", "true", "false", "null", \
        "object", "array"

    def _path(self, v: Json) -> ColumnElement[Any]:
        return sa.literal_column(_quote(sqlite_path(v.parts)))

    def jtype(self, v: Json) -> ColumnElement[Any]:
        return sa.func.json_type(v.doc, self._path(v))

    def text(self, v: Json) -> ColumnElement[Any]:
        return sa.func.json_extract(v.doc, self._path(v))

    def bool_is(self, v: Json, value: bool) -> ColumnElement[bool]:
        return self.jtype(v) == ("true" if value else "false")

    def eq_literal(self, v: Json, op: str, lit: Any) -> ColumnElement[bool]:
        return _cmp(self.text(v), op, sa.literal(lit))

    def startswith(self, s: ColumnElement[Any], needle: str) -> ColumnElement[bool]:
        # substr, not LIKE: SQLite's LIKE ignores ASCII case, STARTSWITH must not.
        return sa.func.substr(s, 1, len(needle)) == needle

    def endswith(self, s: ColumnElement[Any], needle: str) -> ColumnElement[bool]:
        if not needle:
            return sa.true()
        return sa.func.substr(s, -len(needle)) == needle

    def contains(self, s: ColumnElement[Any], needle: str) -> ColumnElement[bool]:
        return sa.func.instr(s, needle) > 0


class PostgresDialect(Dialect):
    name = "postgresql"
    NUM, STR, BOOL_TRUE, BOOL_FALSE, NULL, OBJECT, ARRAY = "number", "string", "boolean", "boolean", "null", \
        "object", "array"

    def node(self, v: Json) -> ColumnElement[Any]:
        return v.doc.op("#>")(sa.literal_column(_quote(pg_path(v.parts))))

    def jtype(self, v: Json) -> ColumnElement[Any]:
        return sa.func.jsonb_typeof(self.node(v))

    def text(self, v: Json) -> ColumnElement[Any]:
        return v.doc.op("#>>")(sa.literal_column(_quote(pg_path(v.parts))))

    def bool_is(self, v: Json, value: bool) -> ColumnElement[bool]:
        return self.node(v) == sa.literal_column("'true'::jsonb" if value else "'false'::jsonb")

    def as_jsonb(self, lit: Any) -> ColumnElement[Any]:
        return sa.cast(sa.literal(json.dumps(lit), sa.Text), JSONB)

    def eq_literal(self, v: Json, op: str, lit: Any) -> ColumnElement[bool]:
        # jsonb vs jsonb keeps numbers numeric and lets an expression index on (contents #> '{p}') serve.
        return _cmp(self.node(v), op, self.as_jsonb(lit))

    def startswith(self, s: ColumnElement[Any], needle: str) -> ColumnElement[bool]:
        return sa.func.left(s, len(needle)) == needle

    def endswith(self, s: ColumnElement[Any], needle: str) -> ColumnElement[bool]:
        return sa.func.right(s, len(needle)) == needle if needle else sa.true()

    def contains(self, s: ColumnElement[Any], needle: str) -> ColumnElement[bool]:
        return sa.func.strpos(s, needle) > 0


def dialect_for(name: str) -> Dialect:
    if name == "sqlite":
        return SqliteDialect()
    if name == "postgresql":
        return PostgresDialect()
    raise QuerySyntaxError(f"the query language is not available on the {name!r} database backend")


ModelResolver = Callable[[str, bool], set[str]]


class Predicates:
    """Compiles a resolved WHERE tree to one SQL predicate (negation normal form, see the module docstring)."""

    def __init__(self, dialect: Dialect, tables: dict[str, tuple[ast.CollectionKind, Any]],
                 resolve_models: ModelResolver) -> None:
        self.d = dialect
        self.tables = tables
        self.resolve_models = resolve_models

    # -- operands -------------------------------------------------------------------------------------------
    def value(self, op: ast.Operand) -> Value:
        if isinstance(op, ast.Literal):
            return op
        kind, table = self.tables[op.alias]
        columns = TWIN_COLUMNS if kind == "twin" else REL_COLUMNS
        if op.parts in columns:
            return Col(table.c[columns[op.parts]])
        if kind == "twin" and op.parts[0] == "$metadata":
            if len(op.parts) == 1:
                raise QuerySyntaxError("$metadata is an object; filter on one of its fields, e.g. $metadata.$model")
            return Json(table.c.meta, op.parts[1:])
        return Json(table.c.contents if kind == "twin" else table.c.properties, op.parts)

    # -- entry point ----------------------------------------------------------------------------------------
    def compile(self, e: ast.Expr, negate: bool = False) -> ColumnElement[bool]:
        if isinstance(e, ast.Not):
            return self.compile(e.item, not negate)
        if isinstance(e, ast.And | ast.Or):
            parts = [self.compile(i, negate) for i in e.items]
            use_and = isinstance(e, ast.And) != negate  # De Morgan
            return sa.and_(*parts) if use_and else sa.or_(*parts)
        if isinstance(e, ast.Const):
            return sa.true() if e.value != negate else sa.false()
        if isinstance(e, ast.Compare):
            return self.compare(e.op if not negate else NEGATED[e.op], e.left, e.right)
        if isinstance(e, ast.InList):
            return self.in_list(e.operand, e.values, positive=e.negated == negate)
        if isinstance(e, ast.TypeCheck):
            check = self.type_check(e.fn, self.value(e.operand))
            return sa.not_(check) if negate else check
        if isinstance(e, ast.StringMatch):
            return self.string_match(e, negate)
        if isinstance(e, ast.IsOfModel):
            models = sorted(self.resolve_models(e.model, e.exact))
            column: ColumnElement[Any] = self.tables[e.alias][1].c.model_id
            if not models:
                return sa.false() if not negate else sa.true()
            return column.not_in(models) if negate else column.in_(models)
        raise QuerySyntaxError(f"unsupported expression {type(e).__name__}")

    # -- leaves ---------------------------------------------------------------------------------------------
    def compare(self, op: str, left: ast.Operand, right: ast.Operand) -> ColumnElement[bool]:
        a, b = self.value(left), self.value(right)
        if isinstance(a, ast.Literal) and isinstance(b, ast.Literal):
            result = _py_cmp(a.value, op, b.value)
            return sa.true() if result else sa.false()
        if isinstance(a, ast.Literal):
            a, b, op = b, a, FLIPPED[op]
        if isinstance(b, ast.Literal):
            assert not isinstance(a, ast.Literal)
            return self.compare_literal(a, op, b.value)
        if isinstance(a, Col) and isinstance(b, Col):
            return _cmp(a.column, op, b.column)
        if isinstance(a, Col):
            a, b, op = b, a, FLIPPED[op]
        assert isinstance(a, Json)
        if isinstance(b, Col):
            return sa.and_(self.d.is_str(a), _cmp(self.d.text(a), op, b.column))
        return self.compare_json(a, op, b)

    def compare_literal(self, a: Col | Json, op: str, lit: ast.Scalar) -> ColumnElement[bool]:
        if isinstance(a, Col):
            return _cmp(a.column, op, lit) if isinstance(lit, str) else sa.false()
        if lit is None or isinstance(lit, bool):
            if op not in ("=", "!="):
                return sa.false()  # ordering of null/booleans is undefined
            if lit is None:
                return self.d.jtype(a) == self.d.NULL if op == "=" else sa.false()
            return self.d.bool_is(a, lit if op == "=" else not lit)
        guard = self.d.is_str(a) if isinstance(lit, str) else self.d.is_num(a)
        if op == "=" and isinstance(self.d, PostgresDialect):
            return self.d.eq_literal(a, op, lit)  # jsonb equality already implies the type
        return sa.and_(guard, self.d.eq_literal(a, op, lit))

    def compare_json(self, a: Json, op: str, b: Json) -> ColumnElement[bool]:
        d = self.d
        both_num = sa.and_(d.is_num(a), d.is_num(b))
        both_str = sa.and_(d.is_str(a), d.is_str(b))
        if isinstance(d, PostgresDialect):
            same_type = d.jtype(a) == d.jtype(b)
            if op in ("=", "!="):
                return sa.and_(same_type, _cmp(d.node(a), op, d.node(b)))
            return sa.and_(sa.or_(both_num, both_str), _cmp(d.node(a), op, d.node(b)))
        branches = [sa.and_(both_num, _cmp(d.text(a), op, d.text(b))),
                    sa.and_(both_str, _cmp(d.text(a), op, d.text(b)))]
        if op in ("=", "!="):
            bools = sa.and_(d.is_bool(a), d.is_bool(b), _cmp(d.jtype(a), op, d.jtype(b)))
            branches.append(bools)
            if op == "=":
                branches.append(sa.and_(d.jtype(a) == d.NULL, d.jtype(b) == d.NULL))
        return sa.or_(*branches)

    def in_list(self, operand: ast.Operand, values: tuple[ast.Scalar, ...], *, positive: bool) -> ColumnElement[bool]:
        v = self.value(operand)
        if isinstance(v, ast.Literal):
            hit = any(_py_cmp(v.value, "=", x) for x in values)
            return sa.true() if hit == positive else sa.false()
        if isinstance(v, Col):
            strings = [x for x in values if isinstance(x, str)]
            if positive:
                return v.column.in_(strings) if strings else sa.false()
            return v.column.not_in(strings) if strings else sa.true()
        d = self.d
        if isinstance(d, PostgresDialect):
            jvalues = [d.as_jsonb(json.loads(x)) for x in dict.fromkeys(json.dumps(x) for x in values)]
            node = d.node(v)
            if positive:
                return node.in_(jvalues) if jvalues else sa.false()
            return sa.and_(node.is_not(None), node.not_in(jvalues)) if jvalues else node.is_not(None)
        nums = [x for x in values if isinstance(x, int | float) and not isinstance(x, bool)]
        strs = [x for x in values if isinstance(x, str)]
        types = sorted({("true" if x else "false") if isinstance(x, bool) else "null"
                        for x in values if x is None or isinstance(x, bool)})
        branches: list[ColumnElement[bool]] = []
        if nums:
            branches.append(sa.and_(d.is_num(v), d.text(v).in_(nums)))
        if strs:
            branches.append(sa.and_(d.is_str(v), d.text(v).in_(strs)))
        if types:
            branches.append(d.jtype(v).in_(types))
        found: ColumnElement[bool] = sa.or_(*branches) if branches else sa.false()
        return found if positive else sa.and_(d.defined(v), sa.not_(found))

    def type_check(self, fn: str, v: Value) -> ColumnElement[bool]:
        if isinstance(v, ast.Literal):
            x = v.value
            result = {"IS_DEFINED": True, "IS_NULL": x is None, "IS_BOOL": isinstance(x, bool),
                      "IS_NUMBER": isinstance(x, int | float) and not isinstance(x, bool),
                      "IS_STRING": isinstance(x, str), "IS_OBJECT": False, "IS_PRIMITIVE": True}[fn]
            return sa.true() if result else sa.false()
        if isinstance(v, Col):
            return sa.true() if fn in ("IS_DEFINED", "IS_STRING", "IS_PRIMITIVE") else sa.false()
        d = self.d
        # COALESCE so the negated form (SQL NOT) of a missing property is true, never NULL.
        t = sa.func.coalesce(d.jtype(v), "")
        kinds = {"IS_DEFINED": None, "IS_NULL": [d.NULL], "IS_BOOL": [d.BOOL_TRUE, d.BOOL_FALSE],
                 "IS_NUMBER": d.NUM.split(","), "IS_STRING": [d.STR], "IS_OBJECT": [d.OBJECT],
                 "IS_PRIMITIVE": [*d.NUM.split(","), d.STR, d.BOOL_TRUE, d.BOOL_FALSE, d.NULL]}[fn]
        if kinds is None:
            return t != ""
        return t.in_(sorted(set(kinds)))

    def string_match(self, e: ast.StringMatch, negate: bool) -> ColumnElement[bool]:
        v = self.value(e.operand)
        if isinstance(v, ast.Literal):
            if not isinstance(v.value, str):
                return sa.false()
            s = v.value
            hit = {"STARTSWITH": s.startswith, "ENDSWITH": s.endswith,
                   "CONTAINS": s.__contains__}[e.fn](e.needle)
            return sa.true() if hit != negate else sa.false()
        guard: ColumnElement[bool]
        if isinstance(v, Col):
            text, guard = v.column, sa.true()
        else:
            text, guard = self.d.text(v), self.d.is_str(v)
        match = {"STARTSWITH": self.d.startswith, "ENDSWITH": self.d.endswith,
                 "CONTAINS": self.d.contains}[e.fn]
        matched = match(text, e.needle)
        return sa.and_(guard, sa.not_(matched) if negate else matched)
