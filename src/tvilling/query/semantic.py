"""Alias resolution and the language's limits. Raises QuerySyntaxError with a clear message for semantic errors."""

from __future__ import annotations

from dataclasses import replace

from tvilling.core.errors import QuerySyntaxError
from tvilling.query import ast

MAX_TOP = 100_000  # rows one query may ask for with TOP(n)
MAX_JOINS = 5  # as ADT: at most five JOINs per query
MAX_HOPS = 10  # as ADT: a variable-hop MATCH edge spans at most ten relationships


def _fail(message: str, hint: str = "") -> QuerySyntaxError:
    return QuerySyntaxError(message, hint=hint)


class _Resolver:
    def __init__(self, query: ast.Query) -> None:
        self.query = query
        self.scope = self._scope(query)
        self.implicit = query.match is None and query.alias == "" and not query.joins

    @staticmethod
    def _scope(query: ast.Query) -> dict[str, ast.CollectionKind]:
        names: list[str] = []
        if query.match is not None:
            names = list(query.match.nodes) + [e.alias for e in query.match.edges if e.alias]
        else:
            names = [query.alias]
            for join in query.joins:
                names.append(join.alias)
                if join.rel_alias:
                    names.append(join.rel_alias)
        seen: set[str] = set()
        for name in names:
            if name in seen:
                raise _fail(f"alias '{name}' is declared more than once")
            seen.add(name)
        return query.collections()

    def path(self, path: ast.Path) -> ast.Path:
        if self.implicit:
            return ast.Path("", path.parts, path.pos)
        head, rest = path.parts[0], path.parts[1:]
        if head not in self.scope:
            known = ", ".join(a for a in self.scope if not a.startswith("_node")) or "none"
            raise QuerySyntaxError(f"unknown collection alias '{head}'", where=f"position {path.pos + 1}",
                                   hint=f"aliases in scope: {known}")
        return ast.Path(head, rest, path.pos)

    def operand(self, op: ast.Operand) -> ast.Operand:
        if isinstance(op, ast.Literal):
            return op
        resolved = self.path(op)
        if not resolved.parts:
            raise _fail(f"'{resolved.alias}' is a whole collection; compare one of its properties instead")
        return resolved

    def expr(self, e: ast.Expr) -> ast.Expr:
        if isinstance(e, ast.And):
            return ast.And(tuple(self.expr(i) for i in e.items))
        if isinstance(e, ast.Or):
            return ast.Or(tuple(self.expr(i) for i in e.items))
        if isinstance(e, ast.Not):
            return ast.Not(self.expr(e.item))
        if isinstance(e, ast.Compare):
            return ast.Compare(e.op, self.operand(e.left), self.operand(e.right))
        if isinstance(e, ast.InList):
            return ast.InList(self.operand(e.operand), e.values, e.negated)
        if isinstance(e, ast.TypeCheck):
            return ast.TypeCheck(e.fn, self.operand(e.operand))
        if isinstance(e, ast.StringMatch):
            return ast.StringMatch(e.fn, self.operand(e.operand), e.needle)
        if isinstance(e, ast.IsOfModel):
            return ast.IsOfModel(self.model_alias(e.alias), e.model, e.exact)
        return e

    def model_alias(self, alias: str) -> str:
        twins = [a for a, kind in self.scope.items() if kind == "twin"]
        if alias == "":
            if len(twins) != 1:
                raise _fail("IS_OF_MODEL needs a collection alias when the query has more than one twin collection",
                            hint="write IS_OF_MODEL(T, 'dtmi:...')")
            return twins[0]
        if self.implicit or alias not in self.scope:
            raise _fail(f"unknown collection alias '{alias}' in IS_OF_MODEL")
        if self.scope[alias] != "twin":
            raise _fail(f"IS_OF_MODEL applies to twins, but '{alias}' is a relationship collection")
        return alias

    def select(self, select: ast.Select) -> ast.Select:
        if isinstance(select, ast.Star):
            if len(self.scope) > 1:
                raise _fail("SELECT * is only valid without JOIN or MATCH; project the collections instead",
                            hint="e.g. SELECT T, CT FROM DIGITALTWINS T JOIN CT RELATED T.contains")
            return select
        if isinstance(select, ast.Count):
            return select
        out: list[ast.Projection] = []
        names: set[str] = set()
        for proj in select:
            path = self.path(proj.path)
            name = proj.name
            if name in names:
                raise _fail(f"two projections are named '{name}'", hint="give one of them a name with AS")
            names.add(name)
            out.append(ast.Projection(path, name))
        return tuple(out)


def _check_limits(query: ast.Query) -> None:
    if query.top is not None and not 1 <= query.top <= MAX_TOP:
        raise _fail(f"TOP({query.top}) is out of range; it must be between 1 and {MAX_TOP}")
    if query.top is not None and isinstance(query.select, ast.Count):
        raise _fail("TOP cannot be combined with COUNT()")
    if len(query.joins) > MAX_JOINS:
        raise _fail(f"a query may have at most {MAX_JOINS} JOINs, this one has {len(query.joins)}")
    if query.joins and query.alias == "":
        raise _fail("a query with JOIN must name its FROM collection", hint="FROM DIGITALTWINS T JOIN ...")
    if query.match is not None:
        for edge in query.match.edges:
            if not 1 <= edge.min_hops <= edge.max_hops:
                raise _fail(f"invalid hop range *{edge.min_hops}..{edge.max_hops}: need 1 <= min <= max")
            if edge.max_hops > MAX_HOPS:
                raise _fail(f"a MATCH relationship condition may span at most {MAX_HOPS} hops, "
                            f"not {edge.max_hops}")
            if edge.alias and edge.max_hops != 1:
                raise _fail(f"relationship variable '{edge.alias}' cannot be used with variable hops",
                            hint="drop the variable or use a single hop")


def analyze(raw: ast.Query) -> ast.Query:
    """Resolve aliases and enforce limits; returns the query every path of which names its collection."""
    _check_limits(raw)
    resolver = _Resolver(raw)
    joins = raw.joins
    seen = {raw.alias}
    for join in joins:
        if join.source not in seen:
            raise _fail(f"JOIN {join.alias} RELATED {join.source}.{join.relationship}: "
                        f"unknown collection alias '{join.source}'")
        seen.add(join.alias)
    return replace(raw, select=resolver.select(raw.select),
                   where=resolver.expr(raw.where) if raw.where is not None else None)
