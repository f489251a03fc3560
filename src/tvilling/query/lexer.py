"""Tokenizer for the ADT query language.

Keywords are case-insensitive (ADT accepts ``select``/``SELECT``); identifiers keep their case because property
names are case-sensitive JSON keys. Every token carries its character offset so parse errors can name a position.
"""

from __future__ import annotations

from dataclasses import dataclass

from tvilling.core.errors import QuerySyntaxError

KEYWORDS = frozenset({
    "SELECT", "TOP", "FROM", "WHERE", "AS", "JOIN", "RELATED", "MATCH", "AND", "OR", "NOT", "IN", "NIN",
    "DIGITALTWINS", "RELATIONSHIPS", "TRUE", "FALSE", "NULL", "COUNT",
})

# Longest first so ``<=`` wins over ``<`` and ``..`` over ``.``.
SYMBOLS = ("<=", ">=", "!=", "<>", "..", "=", "<", ">", "(", ")", "[", "]", ",", ".", "*", "-", ":", "|")


@dataclass(frozen=True)
class Token:
    kind: str  # KEYWORD, IDENT, STRING, NUMBER, SYMBOL, EOF
    value: str
    pos: int  # 0-based character offset into the query text
    raw: str = ""

    def describe(self) -> str:
        if self.kind == "EOF":
            return "end of query"
        return repr(self.raw or self.value)


def line_col(text: str, pos: int) -> tuple[int, int]:
    """1-based line and column of a 0-based offset."""
    line = text.count("\n", 0, pos) + 1
    col = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return line, col


def syntax_error(text: str, pos: int, message: str, *, found: str | None = None) -> QuerySyntaxError:
    """``message at position N[, found X]``; N is 1-based, ``where`` adds line and column for multi-line text."""
    line, col = line_col(text, pos)
    text_msg = f"{message} at position {pos + 1}" + (f", found {found}" if found is not None else "")
    return QuerySyntaxError(text_msg, where=f"line {line}, column {col}",
                            extra={"position": pos + 1, "line": line, "column": col})


def _is_ident_start(ch: str) -> bool:
    return ch.isalpha() or ch in "_$"


def _is_ident_part(ch: str) -> bool:
    return ch.isalnum() or ch in "_$"


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", '"': '"', "/": "/"}


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        start = i
        if ch in "'\"":
            quote, i, buf = ch, i + 1, []
            while True:
                if i >= n:
                    raise syntax_error(text, start, "unterminated string literal")
                c = text[i]
                if c == "\\" and i + 1 < n:
                    esc = text[i + 1]
                    if esc not in _ESCAPES:
                        raise syntax_error(text, i, f"unknown escape sequence '\\{esc}'")
                    buf.append(_ESCAPES[esc])
                    i += 2
                elif c == quote:
                    i += 1
                    break
                else:
                    buf.append(c)
                    i += 1
            tokens.append(Token("STRING", "".join(buf), start, text[start:i]))
            continue
        if ch.isdigit():
            while i < n and text[i].isdigit():
                i += 1
            # A fraction needs a digit after the dot, so ``1..3`` (hop range) lexes as 1 .. 3.
            if i + 1 < n and text[i] == "." and text[i + 1].isdigit():
                i += 1
                while i < n and text[i].isdigit():
                    i += 1
            if i < n and text[i] in "eE":
                j = i + 1
                if j < n and text[j] in "+-":
                    j += 1
                if j < n and text[j].isdigit():
                    i = j
                    while i < n and text[i].isdigit():
                        i += 1
            tokens.append(Token("NUMBER", text[start:i], start, text[start:i]))
            continue
        if _is_ident_start(ch):
            while i < n and _is_ident_part(text[i]):
                i += 1
            word = text[start:i]
            if word.upper() in KEYWORDS:
                tokens.append(Token("KEYWORD", word.upper(), start, word))
            else:
                tokens.append(Token("IDENT", word, start, word))
            continue
        for sym in SYMBOLS:
            if text.startswith(sym, i):
                tokens.append(Token("SYMBOL", "!=" if sym == "<>" else sym, start, sym))
                i += len(sym)
                break
        else:
            raise syntax_error(text, start, f"unexpected character {ch!r}")
    tokens.append(Token("EOF", "", n))
    return tokens
