"""The Azure Digital Twins query language: lexer, parser and semantic checks (a pure engine; SQL lives in
``tvilling.adapters.sql.query``)."""

from __future__ import annotations

from tvilling.query import ast
from tvilling.query.parser import parse_raw
from tvilling.query.semantic import MAX_HOPS, MAX_JOINS, MAX_TOP, analyze


def parse(text: str) -> ast.Query:
    """Parse and check a query; raises :class:`tvilling.core.errors.QuerySyntaxError`."""
    return analyze(parse_raw(text))


__all__ = ["MAX_HOPS", "MAX_JOINS", "MAX_TOP", "ast", "parse"]
