"""The syntax tree of an ADT query. Plain frozen data; the SQL adapter compiles it, nothing here does I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal as TypingLiteral

Scalar = str | int | float | bool | None
CollectionKind = TypingLiteral["twin", "relationship"]
Direction = TypingLiteral["out", "in", "any"]


@dataclass(frozen=True)
class Path:
    """``alias.part.part``; after analysis ``alias`` is always set and ``parts`` may be empty (the whole document)."""

    alias: str
    parts: tuple[str, ...]
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Literal:
    value: Scalar
    pos: int = field(default=0, compare=False)


Operand = Path | Literal


@dataclass(frozen=True)
class Compare:
    op: str  # = != < > <= >=
    left: Operand
    right: Operand


@dataclass(frozen=True)
class InList:
    operand: Operand
    values: tuple[Scalar, ...]
    negated: bool  # NIN


@dataclass(frozen=True)
class TypeCheck:
    """IS_DEFINED / IS_NULL / IS_NUMBER / IS_STRING / IS_BOOL / IS_OBJECT / IS_PRIMITIVE: always true or false."""

    fn: str
    operand: Operand


@dataclass(frozen=True)
class StringMatch:
    """STARTSWITH / ENDSWITH / CONTAINS: undefined (never true, never false) when the operand isn't a string."""

    fn: str
    operand: Operand
    needle: str


@dataclass(frozen=True)
class IsOfModel:
    alias: str
    model: str
    exact: bool


@dataclass(frozen=True)
class Const:
    value: bool


@dataclass(frozen=True)
class And:
    items: tuple[Expr, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Expr, ...]


@dataclass(frozen=True)
class Not:
    item: Expr


Expr = Compare | InList | TypeCheck | StringMatch | IsOfModel | Const | And | Or | Not


@dataclass(frozen=True)
class Projection:
    path: Path
    name: str  # the key in each result row


@dataclass(frozen=True)
class Star:
    pass


@dataclass(frozen=True)
class Count:
    name: str = "COUNT"


Select = Star | Count | tuple[Projection, ...]


@dataclass(frozen=True)
class Join:
    alias: str  # the joined twin collection
    source: str  # alias the relationship starts from
    relationship: str  # relationship name
    rel_alias: str | None


@dataclass(frozen=True)
class Edge:
    """One relationship condition between consecutive MATCH nodes."""

    alias: str | None
    names: tuple[str, ...]  # empty: any name
    direction: Direction
    min_hops: int
    max_hops: int


@dataclass(frozen=True)
class Match:
    nodes: tuple[str, ...]  # twin aliases, len(edges) + 1
    edges: tuple[Edge, ...]


@dataclass(frozen=True)
class Query:
    select: Select
    source: CollectionKind
    alias: str  # the FROM collection's alias ("" when the query names none)
    top: int | None = None
    joins: tuple[Join, ...] = ()
    match: Match | None = None
    where: Expr | None = None

    def collections(self) -> dict[str, CollectionKind]:
        """Every alias in scope, in FROM order, with the kind of document it ranges over."""
        out: dict[str, CollectionKind] = {}
        if self.match is not None:
            for node in self.match.nodes:
                out[node] = "twin"
            for edge in self.match.edges:
                if edge.alias:
                    out[edge.alias] = "relationship"
            return out
        out[self.alias] = self.source
        for join in self.joins:
            out[join.alias] = "twin"
            if join.rel_alias:
                out[join.rel_alias] = "relationship"
        return out
