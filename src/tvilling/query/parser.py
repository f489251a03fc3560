"""Recursive-descent parser: query text -> :class:`tvilling.query.ast.Query` (before alias resolution).

Paths come out with ``alias=""`` and every dotted part in ``parts``; :mod:`tvilling.query.semantic` decides which
first part is a collection alias. Errors name the 1-based position and what was expected.
"""

from __future__ import annotations

from tvilling.core.errors import QuerySyntaxError
from tvilling.query import ast
from tvilling.query.lexer import Token, syntax_error, tokenize

TYPE_CHECKS = frozenset({"IS_DEFINED", "IS_NULL", "IS_NUMBER", "IS_STRING", "IS_BOOL", "IS_OBJECT",
                         "IS_PRIMITIVE"})
STRING_FUNCS = frozenset({"STARTSWITH", "ENDSWITH", "CONTAINS"})
COMPARE_OPS = frozenset({"=", "!=", "<", ">", "<=", ">="})


class Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0
        self._anon = 0

    # -- token helpers -------------------------------------------------------------------------------------
    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def advance(self) -> Token:
        tok = self.tokens[self.i]
        if tok.kind != "EOF":
            self.i += 1
        return tok

    def error(self, expected: str, tok: Token | None = None) -> QuerySyntaxError:
        tok = tok or self.tok
        return syntax_error(self.text, tok.pos, f"expected {expected}", found=tok.describe())

    def at_kw(self, *words: str) -> bool:
        return self.tok.kind == "KEYWORD" and self.tok.value in words

    def at_sym(self, *syms: str) -> bool:
        return self.tok.kind == "SYMBOL" and self.tok.value in syms

    def expect_kw(self, word: str) -> Token:
        if not self.at_kw(word):
            raise self.error(word)
        return self.advance()

    def expect_sym(self, sym: str) -> Token:
        if not self.at_sym(sym):
            raise self.error(f"'{sym}'")
        return self.advance()

    def expect_ident(self, what: str = "an identifier") -> Token:
        if self.tok.kind != "IDENT":
            raise self.error(what)
        return self.advance()

    def expect_int(self, what: str) -> int:
        tok = self.tok
        if tok.kind != "NUMBER" or not tok.value.isdigit():
            raise self.error(what)
        self.advance()
        return int(tok.value)

    # -- grammar -------------------------------------------------------------------------------------------
    def parse(self) -> ast.Query:
        self.expect_kw("SELECT")
        top = None
        if self.at_kw("TOP"):
            self.advance()
            self.expect_sym("(")
            top = self.expect_int("a whole number for TOP")
            self.expect_sym(")")
        select = self.select_list()
        self.expect_kw("FROM")
        query = self.from_clause(select, top)
        if self.at_kw("WHERE"):
            self.advance()
            query = ast.Query(query.select, query.source, query.alias, query.top, query.joins, query.match,
                              self.expr())
        if self.tok.kind != "EOF":
            raise self.error("WHERE, JOIN or end of query" if query.where is None else "AND, OR or end of query")
        return query

    def select_list(self) -> ast.Select:
        if self.at_sym("*"):
            self.advance()
            return ast.Star()
        if self.at_kw("COUNT"):
            self.advance()
            self.expect_sym("(")
            self.expect_sym(")")
            name = "COUNT"
            if self.at_kw("AS"):
                self.advance()
                name = self.expect_ident("a name after AS").value
            return ast.Count(name)
        items = [self.projection()]
        while self.at_sym(","):
            self.advance()
            items.append(self.projection())
        return tuple(items)

    def projection(self) -> ast.Projection:
        if self.tok.kind != "IDENT":
            raise self.error("'*', COUNT() or a collection or property to project")
        path = self.path()
        name = path.parts[-1]
        if self.at_kw("AS"):
            self.advance()
            name = self.expect_ident("a name after AS").value
        return ast.Projection(path, name)

    def path(self) -> ast.Path:
        first = self.expect_ident("a collection alias or property name")
        parts = [first.value]
        while self.at_sym("."):
            self.advance()
            parts.append(self.expect_ident("a property name after '.'").value)
        return ast.Path("", tuple(parts), first.pos)

    def optional_alias(self) -> str | None:
        if self.at_kw("AS"):
            self.advance()
            return self.expect_ident("an alias after AS").value
        if self.tok.kind == "IDENT":
            return self.advance().value
        return None

    def from_clause(self, select: ast.Select, top: int | None) -> ast.Query:
        if self.at_kw("RELATIONSHIPS"):
            self.advance()
            return ast.Query(select, "relationship", self.optional_alias() or "", top)
        if not self.at_kw("DIGITALTWINS"):
            raise self.error("DIGITALTWINS or RELATIONSHIPS")
        self.advance()
        if self.at_kw("MATCH"):
            self.advance()
            return ast.Query(select, "twin", "", top, match=self.match_pattern())
        alias = self.optional_alias() or ""
        joins: list[ast.Join] = []
        while self.at_kw("JOIN"):
            self.advance()
            target = self.expect_ident("an alias for the joined twins").value
            self.expect_kw("RELATED")
            src = self.expect_ident("the alias the relationship starts from")
            self.expect_sym(".")
            rel = self.expect_ident("a relationship name").value
            joins.append(ast.Join(target, src.value, rel, self.optional_alias()))
        return ast.Query(select, "twin", alias, top, tuple(joins))

    def node(self) -> str:
        self.expect_sym("(")
        if self.tok.kind == "IDENT":
            name = self.advance().value
        else:
            self._anon += 1
            name = f"_node{self._anon}"  # '_' prefix keeps anonymous nodes out of the user's namespace
        self.expect_sym(")")
        return name

    def match_pattern(self) -> ast.Match:
        nodes = [self.node()]
        edges: list[ast.Edge] = []
        while self.at_sym("-", "<"):
            edges.append(self.edge())
            nodes.append(self.node())
        return ast.Match(tuple(nodes), tuple(edges))

    def edge(self) -> ast.Edge:
        left_arrow = False
        if self.at_sym("<"):
            self.advance()
            left_arrow = True
        self.expect_sym("-")
        alias: str | None = None
        names: list[str] = []
        lo, hi = 1, 1
        if self.at_sym("["):
            self.advance()
            if self.tok.kind == "IDENT":
                alias = self.advance().value
            if self.at_sym(":"):
                self.advance()
                names.append(self.expect_ident("a relationship name after ':'").value)
                while self.at_sym("|"):
                    self.advance()
                    names.append(self.expect_ident("a relationship name after '|'").value)
            if self.at_sym("*"):
                self.advance()
                lo, hi = self.hops()
            self.expect_sym("]")
            self.expect_sym("-")
        right_arrow = False
        if self.at_sym(">"):
            self.advance()
            right_arrow = True
        if left_arrow and right_arrow:
            raise syntax_error(self.text, self.tokens[self.i - 1].pos,
                               "a relationship condition cannot point both ways")
        direction: ast.Direction = "out" if right_arrow else "in" if left_arrow else "any"
        return ast.Edge(alias, tuple(names), direction, lo, hi)

    def hops(self) -> tuple[int, int]:
        if self.at_sym(".."):
            self.advance()
            return 1, self.expect_int("the maximum number of hops")
        lo = self.expect_int("a number of hops")
        if self.at_sym(".."):
            self.advance()
            return lo, self.expect_int("the maximum number of hops")
        return lo, lo

    # -- WHERE expressions -----------------------------------------------------------------------------------
    def expr(self) -> ast.Expr:
        items = [self.and_expr()]
        while self.at_kw("OR"):
            self.advance()
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else ast.Or(tuple(items))

    def and_expr(self) -> ast.Expr:
        items = [self.not_expr()]
        while self.at_kw("AND"):
            self.advance()
            items.append(self.not_expr())
        return items[0] if len(items) == 1 else ast.And(tuple(items))

    def not_expr(self) -> ast.Expr:
        if self.at_kw("NOT"):
            self.advance()
            return ast.Not(self.not_expr())
        return self.primary()

    def primary(self) -> ast.Expr:
        if self.at_sym("("):
            self.advance()
            inner = self.expr()
            self.expect_sym(")")
            return inner
        if self.tok.kind == "IDENT" and self.tokens[self.i + 1].kind == "SYMBOL" \
                and self.tokens[self.i + 1].value == "(":
            return self.function()
        if self.at_kw("TRUE", "FALSE") and not self._followed_by_operator():
            return ast.Const(self.advance().value == "TRUE")
        left = self.operand()
        if self.at_kw("IN", "NIN"):
            negated = self.advance().value == "NIN"
            return ast.InList(left, self.literal_list(), negated)
        if self.tok.kind == "SYMBOL" and self.tok.value in COMPARE_OPS:
            op = self.advance().value
            return ast.Compare(op, left, self.operand())
        raise self.error("a comparison operator (=, !=, <, >, <=, >=, IN, NIN)")

    def _followed_by_operator(self) -> bool:
        nxt = self.tokens[self.i + 1]
        return (nxt.kind == "SYMBOL" and nxt.value in COMPARE_OPS) or (
            nxt.kind == "KEYWORD" and nxt.value in ("IN", "NIN"))

    def operand(self) -> ast.Operand:
        if self.tok.kind == "IDENT":
            return self.path()
        return self.literal()

    def literal(self) -> ast.Literal:
        tok = self.tok
        if tok.kind == "STRING":
            self.advance()
            return ast.Literal(tok.value, tok.pos)
        if tok.kind == "KEYWORD" and tok.value in ("TRUE", "FALSE", "NULL"):
            self.advance()
            return ast.Literal(None if tok.value == "NULL" else tok.value == "TRUE", tok.pos)
        sign = 1
        if self.at_sym("-"):
            self.advance()
            sign = -1
        num = self.tok
        if num.kind != "NUMBER":
            raise self.error("a property path or a literal (string, number, true, false, null)")
        self.advance()
        text = num.value
        value: int | float = int(text) if text.isdigit() else float(text)
        return ast.Literal(sign * value, tok.pos)

    def literal_list(self) -> tuple[ast.Scalar, ...]:
        self.expect_sym("[")
        values: list[ast.Scalar] = []
        if not self.at_sym("]"):
            values.append(self.literal().value)
            while self.at_sym(","):
                self.advance()
                values.append(self.literal().value)
        self.expect_sym("]")
        return tuple(values)

    def function(self) -> ast.Expr:
        name_tok = self.advance()
        name = name_tok.value.upper()
        self.expect_sym("(")
        if name == "IS_OF_MODEL":
            alias = ""
            if self.tok.kind == "IDENT":
                alias = self.advance().value
                self.expect_sym(",")
            model = self.tok
            if model.kind != "STRING":
                raise self.error("a model id string (e.g. 'dtmi:example:Room;1')")
            self.advance()
            exact = False
            if self.at_sym(","):
                self.advance()
                flag = self.expect_ident("'exact'")
                if flag.value.lower() != "exact":
                    raise self.error("'exact'", flag)
                exact = True
            self.expect_sym(")")
            return ast.IsOfModel(alias, model.value, exact)
        if name in TYPE_CHECKS:
            operand = self.operand()
            self.expect_sym(")")
            return ast.TypeCheck(name, operand)
        if name in STRING_FUNCS:
            operand = self.operand()
            self.expect_sym(",")
            needle = self.tok
            if needle.kind != "STRING":
                raise self.error(f"a string literal as the second argument of {name}")
            self.advance()
            self.expect_sym(")")
            return ast.StringMatch(name, operand, needle.value)
        known = ", ".join(sorted({"IS_OF_MODEL", *TYPE_CHECKS, *STRING_FUNCS}))
        raise syntax_error(self.text, name_tok.pos, f"unknown function {name_tok.value!r} (known: {known})")


def parse_raw(text: str) -> ast.Query:
    """Parse without resolving aliases (see :func:`tvilling.query.parse`)."""
    return Parser(text).parse()
