"""Rule tables built at first use from the official DTDL metamodel files shipped as package data.

The metamodel (SHACL shapes + JSON-LD contexts + predefined elements) is read as DATA: which classes exist, which
properties each class allows, their counts, datatypes, patterns, lengths, ranges and value classes. The checking
logic that applies these tables is in :mod:`tvilling.dtdl.parse` and :mod:`tvilling.dtdl.checks`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

DTDL_CONTEXT = re.compile(r"^dtmi:dtdl:context;(\d+)(#limitless)?$")
VERSIONS = (2, 3, 4)


@dataclass
class PropC:
    """One SHACL property constraint (several may apply to the same property through the class hierarchy)."""

    path: str
    min_count: int | None = None
    max_count: int | None = None
    datatype: str | None = None
    node_kind: str | None = None
    pattern: re.Pattern[str] | None = None
    max_length: int | None = None
    min_inclusive: int | None = None
    max_inclusive: int | None = None
    classes: tuple[str, ...] = ()
    in_: tuple[str, ...] = ()
    unique_props: tuple[str, ...] = ()
    type_inferable: bool = False
    unique_lang: bool = False
    child_of: str | None = None
    unique_value: bool = False
    owner: str = ""
    pattern_desc: str = ""


@dataclass(frozen=True)
class Summary:
    """What the parser needs to know about all constraints on one property, computed once per constraint list."""

    datatypes: frozenset[str]
    kinds: frozenset[str]
    max_count: int | None
    min_count: int
    classes: tuple[str, ...]
    type_inferable: bool
    in_lists: tuple[tuple[str, ...], ...]
    unique_props: tuple[str, ...]
    checks_iri_text: bool  # some constraint has a pattern or a max length for an IRI value


def summarize(cons: list[PropC]) -> Summary:
    return Summary(
        datatypes=frozenset(c.datatype for c in cons if c.datatype),
        kinds=frozenset(c.node_kind for c in cons if c.node_kind),
        max_count=min((c.max_count for c in cons if c.max_count is not None), default=None),
        min_count=max((c.min_count or 0 for c in cons), default=0),
        classes=tuple(dict.fromkeys(k for c in cons for k in c.classes)),
        type_inferable=any(c.type_inferable for c in cons),
        in_lists=tuple(c.in_ for c in cons if c.in_),
        unique_props=tuple(dict.fromkeys(u for c in cons for u in c.unique_props)),
        checks_iri_text=any(c.pattern or c.max_length for c in cons),
    )


@dataclass
class ClassInfo:
    id: str
    version: int
    supers: list[str] = field(default_factory=list)
    abstract: bool = False
    material: bool = False
    extensible: bool = False
    hosts: tuple[str, ...] = ()  # for adjunct types: classes they may co-type
    requires: tuple[str, ...] = ()  # sh:and: co-types that must also be present
    forbids: tuple[str, ...] = ()  # sh:not
    props: list[PropC] = field(default_factory=list)
    descendants: list[dict[str, Any]] = field(default_factory=list)
    id_max_length: int | None = None
    siblings: list[dict[str, Any]] = field(default_factory=list)
    extension: str | None = None  # context id of the extension that defines it
    inverse: list[dict[str, Any]] = field(default_factory=list)  # constraints on the parent (sh:inversePath)


@dataclass
class Extension:
    context: str  # e.g. dtmi:dtdl:extension:quantitativeTypes;1
    version: int  # DTDL major version it belongs to
    terms: dict[str, str]
    limits: bool = False
    versions: set[int] = field(default_factory=set)  # DTDL versions it may be used with


@dataclass
class Limits:
    """Raised limits from a limit extension (e.g. onvif), in force under ``dtmi:dtdl:context;4#limitless``."""

    id_max: int | None = None
    class_id_max: dict[str, int] = field(default_factory=dict)  # class -> max @id length
    prop_max: dict[tuple[str, str], int] = field(default_factory=dict)  # (class, property) -> maxLength
    descendants: dict[tuple[str, frozenset[str]], dict[str, Any]] = field(default_factory=dict)


@dataclass
class Meta:
    terms: dict[int, dict[str, str]]  # DTDL version -> term -> dtmi
    classes: dict[str, ClassInfo]
    extensions: dict[str, Extension]
    elements: dict[str, set[str]]  # predefined element id -> its classes
    enum_members: dict[str, set[str]]  # predefined enum id -> member ids (quantitative units)
    id_pattern: dict[int, re.Pattern[str]]
    id_max_length: dict[int, int]
    reserved: tuple[str, ...]
    allow_undefined_default: dict[int, bool]
    limits: dict[str, Limits] = field(default_factory=dict)  # limit-extension context -> raised limits
    apocrypha: dict[int, dict[str, Any]] = field(default_factory=dict)  # per version: tolerance of undefined terms
    restrict_keywords: dict[int, bool] = field(default_factory=dict)
    max_bytes: dict[int, int] = field(default_factory=dict)  # size limit of one Interface's JSON text
    ancestors_cache: dict[str, frozenset[str]] = field(default_factory=dict)
    props_cache: dict[frozenset[str], dict[str, list[PropC]]] = field(default_factory=dict)
    summary_cache: dict[int, tuple[list[PropC], Summary]] = field(default_factory=dict)

    def summary(self, cons: list[PropC]) -> Summary:
        """Cached by identity: constraint lists come from ``props_of``'s cache and live as long as the tables."""
        got = self.summary_cache.get(id(cons))
        if got is None or got[0] is not cons:
            got = self.summary_cache[id(cons)] = (cons, summarize(cons))
        return got[1]

    def ancestors(self, cls: str) -> frozenset[str]:
        got = self.ancestors_cache.get(cls)
        if got is None:
            seen: set[str] = set()
            stack = [cls]
            while stack:
                c = stack.pop()
                if c in seen:
                    continue
                seen.add(c)
                info = self.classes.get(c)
                if info:
                    stack.extend(info.supers)
            got = frozenset(seen)
            self.ancestors_cache[cls] = got
        return got

    def is_a(self, classes: set[str] | frozenset[str], wanted: str) -> bool:
        return any(wanted in self.ancestors(c) for c in classes)

    def props_of(self, classes: set[str] | list[str]) -> dict[str, list[PropC]]:
        key = frozenset(classes)
        got = self.props_cache.get(key)
        if got is None:
            got = self.props_cache[key] = self._props_of(classes)
        return got

    def _props_of(self, classes: set[str] | list[str]) -> dict[str, list[PropC]]:
        out: dict[str, list[PropC]] = {}
        seen: set[str] = set()
        for c in classes:
            for a in self.ancestors(c):
                if a in seen:
                    continue
                seen.add(a)
                info = self.classes.get(a)
                if info:
                    for p in info.props:
                        out.setdefault(p.path, []).append(p)
        return out
