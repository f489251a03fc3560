"""Parser and semantic checks of the ADT query language (pure: no database)."""

from __future__ import annotations

import pytest

from tvilling.core.errors import QuerySyntaxError
from tvilling.query import MAX_HOPS, MAX_TOP, ast, parse


def test_select_star_with_implicit_collection() -> None:
    q = parse("SELECT * FROM DIGITALTWINS WHERE $dtId = 'pump-1'")
    assert q.select == ast.Star()
    assert q.source == "twin" and q.alias == ""
    assert q.where == ast.Compare("=", ast.Path("", ("$dtId",)), ast.Literal("pump-1"))


def test_keywords_are_case_insensitive_identifiers_are_not() -> None:
    q = parse("select top(3) t.Temp as temp from digitaltwins t where t.Temp >= -1.5e2")
    assert q.top == 3
    assert q.select == (ast.Projection(ast.Path("t", ("Temp",)), "temp"),)
    assert q.where == ast.Compare(">=", ast.Path("t", ("Temp",)), ast.Literal(-150.0))


def test_join_and_projections() -> None:
    q = parse("SELECT T, CT.name, R FROM DIGITALTWINS T JOIN CT RELATED T.contains R "
              "WHERE T.$dtId = 'a' AND IS_OF_MODEL(CT, 'dtmi:x:Room;1', exact)")
    assert q.joins == (ast.Join("CT", "T", "contains", "R"),)
    assert [p.name for p in q.select] == ["T", "name", "R"]  # type: ignore[union-attr]
    assert q.collections() == {"T": "twin", "CT": "twin", "R": "relationship"}
    assert isinstance(q.where, ast.And)
    assert q.where.items[1] == ast.IsOfModel("CT", "dtmi:x:Room;1", True)


def test_precedence_not_and_or() -> None:
    q = parse("SELECT * FROM DIGITALTWINS WHERE NOT a = 1 AND b = 2 OR c = 3")
    assert isinstance(q.where, ast.Or)
    left = q.where.items[0]
    assert isinstance(left, ast.And) and isinstance(left.items[0], ast.Not)


def test_functions_lists_and_literals() -> None:
    q = parse("SELECT * FROM DIGITALTWINS WHERE IS_DEFINED(x.y) AND STARTSWITH(name, 'ab\\'c') "
              "AND k IN [1, 'two', true, null] AND m NIN [] AND IS_OF_MODEL('dtmi:a;1')")
    assert isinstance(q.where, ast.And)
    items = q.where.items
    assert items[0] == ast.TypeCheck("IS_DEFINED", ast.Path("", ("x", "y")))
    assert items[1] == ast.StringMatch("STARTSWITH", ast.Path("", ("name",)), "ab'c")
    assert items[2] == ast.InList(ast.Path("", ("k",)), (1, "two", True, None), False)
    assert items[3] == ast.InList(ast.Path("", ("m",)), (), True)
    assert items[4] == ast.IsOfModel("", "dtmi:a;1", False)


def test_match_pattern() -> None:
    q = parse("SELECT a, c FROM DIGITALTWINS MATCH (a)-[:feeds|drains*1..3]->(b)<-[r:owns]-(c)-[*..2]-() "
              "WHERE a.$dtId = 'x'")
    assert q.match is not None
    assert q.match.nodes[:3] == ("a", "b", "c")
    e1, e2, e3 = q.match.edges
    assert (e1.names, e1.direction, e1.min_hops, e1.max_hops) == (("feeds", "drains"), "out", 1, 3)
    assert (e2.alias, e2.direction, e2.min_hops) == ("r", "in", 1)
    assert (e3.direction, e3.min_hops, e3.max_hops) == ("any", 1, 2)


def test_relationships_collection() -> None:
    q = parse("SELECT * FROM RELATIONSHIPS R WHERE R.$sourceId = 'a'")
    assert q.source == "relationship" and q.alias == "R"


@pytest.mark.parametrize(("text", "fragment", "position"), [
    ("SELECT * DIGITALTWINS", "expected FROM at position 10, found 'DIGITALTWINS'", 10),
    ("SELECT * FROM DIGITALTWINS T WHERE", "expected a property path or a literal", 35),
    ("SELECT * FROM TWINS", "expected DIGITALTWINS or RELATIONSHIPS at position 15, found 'TWINS'", 15),
    ("SELECT TOP 5 * FROM DIGITALTWINS", "expected '(' at position 12", 12),
    ("SELECT * FROM DIGITALTWINS WHERE x == 1", "expected a property path or a literal", 37),
    ("SELECT * FROM DIGITALTWINS WHERE x = 'open", "unterminated string literal at position 38", 38),
    ("SELECT * FROM DIGITALTWINS WHERE x = 1 y", "expected AND, OR or end of query at position 40", 40),
    ("SELECT * FROM DIGITALTWINS WHERE FOO(x)", "unknown function 'FOO'", 34),
    ("SELECT * FROM DIGITALTWINS WHERE x", "expected a comparison operator", 35),
    ("SELECT * FROM DIGITALTWINS WHERE x = #", "unexpected character '#'", 38),
    ("SELECT T FROM DIGITALTWINS T JOIN C RELATED T", "expected '.'", 46),
    ("SELECT a FROM DIGITALTWINS MATCH (a)<-[r]->(b)", "cannot point both ways", 43),
])
def test_syntax_errors_name_the_position(text: str, fragment: str, position: int) -> None:
    with pytest.raises(QuerySyntaxError) as info:
        parse(text)
    assert fragment in info.value.message
    assert info.value.extra["position"] == position


def test_error_reports_line_and_column() -> None:
    with pytest.raises(QuerySyntaxError) as info:
        parse("SELECT *\nFROM DIGITALTWINS\nWHERE x = = 1")
    assert info.value.where == "line 3, column 11"


@pytest.mark.parametrize(("text", "fragment"), [
    ("SELECT X FROM DIGITALTWINS T", "unknown collection alias 'X'"),
    ("SELECT * FROM DIGITALTWINS T WHERE Q.x = 1", "unknown collection alias 'Q'"),
    ("SELECT * FROM DIGITALTWINS T JOIN C RELATED T.has", "SELECT * is only valid without JOIN"),
    ("SELECT T FROM DIGITALTWINS T JOIN C RELATED Z.has", "unknown collection alias 'Z'"),
    ("SELECT T FROM DIGITALTWINS T JOIN T RELATED T.has", "declared more than once"),
    (f"SELECT TOP({MAX_TOP + 1}) * FROM DIGITALTWINS", "out of range"),
    ("SELECT TOP(0) * FROM DIGITALTWINS", "out of range"),
    ("SELECT TOP(2) COUNT() FROM DIGITALTWINS", "TOP cannot be combined with COUNT()"),
    ("SELECT T.a, C.a FROM DIGITALTWINS T JOIN C RELATED T.x", "two projections are named 'a'"),
    ("SELECT * FROM DIGITALTWINS JOIN C RELATED T.x", "must name its FROM collection"),
    (f"SELECT b FROM DIGITALTWINS MATCH (a)-[*1..{MAX_HOPS + 1}]->(b)", f"at most {MAX_HOPS} hops"),
    ("SELECT b FROM DIGITALTWINS MATCH (a)-[*3..2]->(b)", "invalid hop range"),
    ("SELECT b FROM DIGITALTWINS MATCH (a)-[r*2]->(b)", "cannot be used with variable hops"),
    ("SELECT T FROM DIGITALTWINS T JOIN C RELATED T.x WHERE IS_OF_MODEL('dtmi:a;1')",
     "needs a collection alias"),
    ("SELECT * FROM RELATIONSHIPS R WHERE IS_OF_MODEL(R, 'dtmi:a;1')", "applies to twins"),
    ("SELECT * FROM DIGITALTWINS T WHERE T = 1", "whole collection"),
    ("SELECT T FROM DIGITALTWINS T " + " ".join(f"JOIN C{i} RELATED T.x" for i in range(6)), "at most 5 JOINs"),
])
def test_semantic_errors(text: str, fragment: str) -> None:
    with pytest.raises(QuerySyntaxError) as info:
        parse(text)
    assert fragment in str(info.value)
