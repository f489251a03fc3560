"""The element graph built by the parser, the active JSON-LD context, and the reporting base shared by the
parser's parts."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from tvilling.core.errors import Problem
from tvilling.dtdl.meta import Meta, PropC

ANY_DTMI = re.compile(r"^dtmi:[A-Za-z](?:[A-Za-z0-9_]*[A-Za-z0-9])?(?::[A-Za-z](?:[A-Za-z0-9_]*[A-Za-z0-9])?)*"
                      r"(?:;[1-9][0-9]{0,8}(?:\.[1-9][0-9]{0,5})?)?$")
CONTEXT_DTMI = re.compile(r"^dtmi:[A-Za-z](?:[A-Za-z0-9_]*[A-Za-z0-9])?(?::[A-Za-z](?:[A-Za-z0-9_]*[A-Za-z0-9])?)*"
                          r";[1-9][0-9]{0,8}(?:\.[1-9][0-9]{0,5})?$")
TERM = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")
LANG = re.compile(r"^[a-z]{2,4}(?:-[A-Z][a-z]{3})?(?:-(?:[A-Z]{2}|[0-9]{3}))?$")
DURATION = re.compile(
    r"^P(?!$)(?:(?:(?:\d+Y|\d+\.\d+Y$)?(?:\d+M|\d+\.\d+M$)?)|(?:\d+W|\d+\.\d+W$)?)(?:\d+D|\d+\.\d+D$)?"
    r"(?:T(?!$)(?:\d+H|\d+\.\d+H$)?(?:\d+M|\d+\.\d+M$)?(?:\d+(?:\.\d+)?S)?)?$"
)


@dataclass(frozen=True)
class Ctx:
    version: int
    exts: tuple[str, ...] = ()
    undefined: bool = False  # an undefined extension context is active (only legal when undefined terms are allowed)
    limitless: bool = False  # dtmi:dtdl:context;4#limitless
    limits: str | None = None  # the limit extension in force (e.g. dtmi:dtdl:limits:onvif;1)

    def term(self, meta: Meta, word: str) -> str | None:
        for e in reversed(self.exts):
            t = meta.extensions[e].terms.get(word)
            if t is not None:
                return t
        return meta.terms[self.version].get(word)


@dataclass(frozen=True)
class Ref:
    """A reference to another element by DTMI, as written (term already expanded)."""

    dtmi: str


@dataclass
class Elem:
    id: str
    explicit_id: bool
    material: str | None
    classes: set[str]
    version: int
    path: str
    doc: int
    parent: Elem | None = None
    parent_prop: str | None = None
    props: dict[str, list[Any]] = field(default_factory=dict)  # property dtmi -> values (literal, Ref or Elem)
    constraints: dict[str, list[PropC]] = field(default_factory=dict)
    ctx: Ctx | None = None
    undefined_cotype: bool = False

    def one(self, pid: str) -> Any:
        vals = self.props.get(pid)
        return vals[0] if vals else None

    def where(self) -> str:
        if self.explicit_id:
            return self.id
        anc = self.parent
        while anc is not None and not anc.explicit_id:
            anc = anc.parent
        return f"{anc.id} {self.path}" if anc is not None else self.path


def _as_list(v: Any) -> list[Any]:
    return v if isinstance(v, list) else [v]


class Reporter:
    """State shared by the parser's mixins: the rule tables, the undefined-extension option and the problems."""

    def __init__(self, meta: Meta, allow_undefined: bool) -> None:
        self.meta = meta
        self.allow = allow_undefined
        self.problems: list[Problem] = []
        self.elements: list[Elem] = []
        self.by_id: dict[str, list[Elem]] = {}
        self.refs: list[tuple[Elem, str, Ref, list[PropC], str]] = []
        self.doc = 0

    # ---- reporting -----------------------------------------------------------------------------------------------

    def err(self, message: str, where: str, hint: str = "") -> None:
        self.problems.append(Problem(message, where, hint, file=str(self.doc)))

    # ---- tokens --------------------------------------------------------------------------------------------------

    def token(self, word: str, ctx: Ctx) -> tuple[str, str | None]:
        """Classify a term-or-DTMI string: ('term'|'dtmi'|'invalid'|'notdtmi'|'undefined', expanded dtmi)."""
        t = ctx.term(self.meta, word)
        if t is not None:
            return "term", t
        if word.startswith("dtmi:"):
            return ("dtmi", word) if ANY_DTMI.match(word) else ("invalid", None)
        if ":" in word or not TERM.match(word):
            return "notdtmi", None
        return "undefined", None

    def tolerate(self, category: str, role: str, version: int) -> bool:
        """May an undefined/irrelevant term appear as a co-type or property? (metamodel 'apocrypha' rules)"""
        apo = self.meta.apocrypha[version]
        if category in apo[f"neverAllow:{role}"]:
            return False
        if category in apo[f"alwaysAllow:{role}"]:
            return True
        return self.allow

    def max_len(self, c: PropC, ctx: Ctx | None) -> int:
        """A property's maximum length, raised by a limit extension when one is in force."""
        if ctx is not None and ctx.limits:
            raised = self.meta.limits[ctx.limits].prop_max.get((c.owner, c.path))
            if raised:
                return raised
        return c.max_length or 0


_XSD = "http://www.w3.org/2001/XMLSchema#"
_CATEGORY = {"undefined": "undefinedTerm", "notdtmi": "notDtmiNorTerm", "invalid": "invalidDtmi"}


class _Bad:
    pass


_BAD = _Bad()


def _idof(obj: dict[str, Any], path: str) -> str:
    rid = obj.get("@id")
    return rid if isinstance(rid, str) else path


def _ver(dtmi: str) -> int | None:
    tail = dtmi.rsplit(";", 1)
    return int(tail[1]) if len(tail) == 2 and tail[1].isdigit() else None


@lru_cache(maxsize=4096)
def _short(dtmi: str | None) -> str:
    if not dtmi:
        return "?"
    return dtmi.split(";")[0].rsplit(":", 1)[-1]


def _term(pid: str) -> str:
    return _short(pid)
