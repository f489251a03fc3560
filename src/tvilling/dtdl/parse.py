"""First pass: turn DTDL JSON-LD objects into an element graph, checking everything that is local to one element
(keywords, contexts, identifiers, types, property names, literal values, counts, uniqueness among siblings).

References between elements are recorded and checked later, once every document of the set has been read
(:mod:`tvilling.dtdl.checks`). Rules come from the metamodel tables in :mod:`tvilling.dtdl.meta`.
"""

from __future__ import annotations

import json
from typing import Any

from tvilling.dtdl.context import ContextMixin
from tvilling.dtdl.graph import (
    _BAD,
    _CATEGORY,
    Ctx,
    Elem,
    Ref,
    _as_list,
    _idof,
    _short,
    _term,
    _ver,
)
from tvilling.dtdl.literals import LiteralMixin
from tvilling.dtdl.meta import PropC


def _own_text(value: Any, top: bool = True) -> Any:
    """The JSON of one Interface without the inline Interfaces it holds (extended ones, component schemas): the
    spec's size limit counts each Interface's own text only."""
    if isinstance(value, dict):
        t = value.get("@type")
        if not top and (t == "Interface" or (isinstance(t, list) and "Interface" in t)):
            return value.get("@id", "")
        return {k: _own_text(v, False) for k, v in value.items()}
    if isinstance(value, list):
        return [_own_text(v, False) for v in value]
    return value


def _text_size(obj: dict[str, Any]) -> int:
    return len(json.dumps(_own_text(obj), separators=(",", ":"), ensure_ascii=False).encode())


def _auto_id(parent: Elem | None, segment: str) -> str:
    """The identifier DTDL assigns to an element without @id: the parent's DTMI with ``:_property`` (and
    ``:__name`` for plural properties) inserted before the version (spec, "Automatic Identifier Assignment")."""
    if parent is None:
        return "dtmi:_anonymous"
    base, sep, version = parent.id.partition(";")
    return f"{base}:{segment}" + (f";{version}" if sep else "")


_MAX_NESTING = 150  # far beyond any DTDL limit; keeps the recursive descent inside Python's stack

__all__ = ["Ctx", "Elem", "Parser", "Ref", "_short", "_term"]


class Parser(ContextMixin, LiteralMixin):
    """Reads documents into elements; ``problems`` collects everything found."""

    # ---- documents -----------------------------------------------------------------------------------------------

    def add_document(self, doc: Any, index: int) -> None:
        self.doc = index
        items = doc if isinstance(doc, list) else [doc]
        if not isinstance(doc, list | dict):
            self.err("a DTDL document must be a JSON object or an array of objects", "$")
            return
        for i, obj in enumerate(items):
            path = f"$[{i}]" if isinstance(doc, list) else "$"
            if not isinstance(obj, dict):
                self.err("each top-level element must be a JSON object", path)
                continue
            if "@context" not in obj:
                self.err("the top-level element has no @context; it must start with dtmi:dtdl:context;3 "
                         "(or ;2, ;4)", _idof(obj, path))
                continue
            ctx = self.context(obj["@context"], None, _idof(obj, path))
            if ctx is None:
                continue
            el = self.element(obj, ctx, (), None, None, path, top=True)
            iface_cls = f"dtmi:dtdl:class:Interface;{el.version}" if el else ""
            if el is not None and el.material and not self.meta.is_a({el.material}, iface_cls):
                self.err("a top-level element must be an Interface", el.where())

    # ---- elements ------------------------------------------------------------------------------------------------

    def element(self, obj: dict[str, Any], ctx: Ctx, expected: tuple[str, ...], parent: Elem | None,
                parent_prop: str | None, path: str, *, top: bool = False, infer: str | None = None,
                need_id: bool = False, auto_id: str = "") -> Elem | None:
        meta = self.meta
        where0 = _idof(obj, path)
        if path.count(".") > _MAX_NESTING:
            self.err(f"elements are nested more than {_MAX_NESTING} levels deep", where0)
            return None
        for k in obj:
            if k.startswith("@") and k not in ("@context", "@id", "@type") and (
                    meta.restrict_keywords.get(ctx.version, True) or k == "@graph"):
                self.err(f"keyword {k} is not allowed in a DTDL element", where0)
        if "@context" in obj and not top:
            got = self.context(obj["@context"], ctx, where0)
            if got is None:
                return None
            ctx = got
        v = ctx.version

        # @type
        material: str | None = None
        classes: set[str] = set()
        undefined_cotype = False
        raw_type = obj.get("@type")
        if raw_type is None and "@type" not in obj:
            if infer:
                material = infer
                classes.add(infer)
            else:
                self.err("@type is missing", where0, "e.g. \"@type\": \"Interface\"")
                return None
        else:
            if not (isinstance(raw_type, str) or (isinstance(raw_type, list) and raw_type
                                                   and all(isinstance(t, str) for t in raw_type))):
                self.err("@type must be a string or a non-empty array of strings", where0)
                return None
            materials: set[str] = set()
            for t in _as_list(raw_type):
                kind, dtmi = self.token(t, ctx)
                info = meta.classes.get(dtmi) if dtmi else None
                if info is not None and not info.abstract and info.material and _ver(info.id) in (v, None):
                    materials.add(dtmi)  # type: ignore[arg-type]
                elif info is not None and not info.material and not info.abstract:
                    classes.add(info.id)  # an adjunct / semantic co-type
                elif info is not None and info.abstract:
                    self.err(f"@type {t!r} is abstract; use one of its concrete types", where0)
                    return None
                else:
                    cat = _CATEGORY.get(kind, "irrelevantDtmiOrTerm")
                    if not self.tolerate(cat, "asCotype", v):
                        if cat in ("invalidDtmi", "notDtmiNorTerm"):
                            self.err(f"@type value {t!r} is neither a DTDL term nor a valid DTMI", where0)
                        else:
                            self.err(f"@type {t!r} is not defined in DTDL v{v} or an extension in @context", where0,
                                     "check the spelling, add the extension to @context, or allow undefined "
                                     "extensions")
                        return None
                    undefined_cotype = True
            if len(materials) != 1:
                if not materials:
                    self.err(f"@type {raw_type!r} names no DTDL element type", where0)
                else:
                    self.err(f"@type names more than one element type: {sorted(materials)}", where0)
                return None
            material = materials.pop()
            classes.add(material)
        assert material is not None
        limit = meta.max_bytes.get(v)
        if limit and _short(material) == "Interface" and _text_size(obj) > limit:
            self.err(f"the text of this interface exceeds {limit} bytes (not counting inline interfaces it holds)",
                     where0)
            return None
        if expected and not any(meta.is_a({material}, e) for e in expected):
            wanted = " or ".join(sorted({_short(e) for e in expected}))
            self.err(f"a {_short(material)} is not allowed here; expected {wanted}", where0)
            return None

        # @id
        explicit = "@id" in obj
        if explicit:
            rid = obj["@id"]
            if not isinstance(rid, str):
                self.err("@id must be a string DTMI", where0)
                return None
            if not meta.id_pattern[v].match(rid):
                self.err(f"@id {rid!r} is not a valid DTMI", rid, "e.g. dtmi:com:example:Thermostat;1")
                return None
            lim = meta.limits.get(ctx.limits) if ctx.limits else None
            maxlen = (lim.id_max if lim and lim.id_max else None) or meta.id_max_length[v]
            for a in meta.ancestors(material):
                info = meta.classes.get(a)
                cls_max = (lim.class_id_max.get(a) if lim else None) or (info.id_max_length if info else None)
                if cls_max:
                    maxlen = min(maxlen, cls_max)
            if len(rid) > maxlen:
                self.err(f"@id is {len(rid)} characters long; at most {maxlen} are allowed here", rid)
                return None
            if rid.startswith(meta.reserved):
                self.err(f"@id {rid} uses a reserved prefix ({', '.join(meta.reserved)})", rid)
                return None
            eid = rid
        else:
            if need_id:
                self.err("this element must have an @id because it is referenced by identifier", where0)
            eid = _auto_id(parent, auto_id)
        el = Elem(eid, explicit, material, classes, v, path, self.doc, parent, parent_prop, ctx=ctx,
                  undefined_cotype=undefined_cotype)
        semantic = [c for c in classes if c != material and any(
            _short(a) == "SemanticType" for a in meta.ancestors(c))]
        if len(semantic) > 1:
            self.err(f"at most one semantic type may be given; found {sorted(_short(c) for c in semantic)}", where0)
        for c in list(classes):
            info = meta.classes[c]
            if c != material and info.hosts and not any(meta.is_a({material}, h) for h in info.hosts):
                self.err(f"co-type {_short(c)} cannot be applied to a {_short(material)}", el.where())
            for req in info.requires:
                if not meta.is_a(classes, req):
                    self.err(f"co-type {_short(c)} requires co-type {_short(req)} as well", el.where())
            for bad in info.forbids:
                if meta.is_a(classes - {c}, bad):
                    self.err(f"co-type {_short(c)} cannot be combined with {_short(bad)}", el.where())
        self.elements.append(el)
        if explicit:
            self.by_id.setdefault(eid, []).append(el)
        self.properties(el, obj, ctx)
        return el

    def properties(self, el: Elem, obj: dict[str, Any], ctx: Ctx) -> None:
        meta = self.meta
        allowed = meta.props_of(el.classes)
        el.constraints = allowed
        given: dict[str, tuple[str, Any]] = {}
        for key, value in obj.items():
            if key.startswith("@"):
                continue
            kind, pid = self.token(key, ctx)
            if pid is None or pid not in allowed:
                cat = _CATEGORY.get(kind, "irrelevantDtmiOrTerm")
                apo = meta.apocrypha[el.version]
                if self.tolerate(cat, "asProperty", el.version) and (el.undefined_cotype or not apo["needs_cotype"]):
                    continue
                if cat in ("invalidDtmi", "notDtmiNorTerm"):
                    self.err(f"property {key!r} is neither a DTDL term nor a valid DTMI", el.where())
                elif cat == "undefinedTerm":
                    self.err(f"property {key!r} is not defined", el.where(), "check the spelling")
                else:
                    self.err(f"property {key!r} does not apply to a {_short(el.material)}", el.where())
                continue
            if pid in given:
                self.err(f"property {_term(pid)} is given twice (as {given[pid][0]!r} and {key!r})", el.where())
                continue
            given[pid] = (key, value)
        for pid, cons in allowed.items():
            if pid not in given:
                if any((c.min_count or 0) >= 1 for c in cons):
                    self.err(f"required property {_term(pid)!r} is missing", el.where())
                continue
            key, raw = given[pid]
            self.values(el, pid, key, raw, cons, ctx)

    def values(self, el: Elem, pid: str, key: str, raw: Any, cons: list[PropC], ctx: Ctx) -> None:
        where = el.where()
        name = _term(pid)
        if raw is None:
            self.err(f"property {name!r} is null", where)
            return
        sm = self.meta.summary(cons)
        if "rdf:langString" in sm.datatypes:
            self.lang_string(el, name, raw, cons)
            return
        items = raw if isinstance(raw, list) else [raw]
        max_count = sm.max_count
        if max_count == 0:
            self.err(f"property {name!r} is not allowed", where)
            return
        if max_count is not None and len(items) > max_count:
            self.err(f"property {name!r} has {len(items)} values; at most {max_count} allowed", where)
            return
        if len(items) < sm.min_count:
            self.err(f"property {name!r} needs at least {sm.min_count} value(s)", where)
            return
        out: list[Any] = []
        if "sh:Literal" in sm.kinds or sm.datatypes:
            for item in items:
                val = self.literal(item, cons, name, where, el.version, ctx)
                if val is not _BAD:
                    out.append(val)
        else:
            classes = sm.classes
            infer = None
            if sm.type_inferable:
                infer = next((c for c in classes if _ver(c) == ctx.version), classes[0] if classes else None)
            iri = "sh:IRI" in sm.kinds
            for i, item in enumerate(items):
                ipath = f"{el.path}.{key}" + (f"[{i}]" if isinstance(raw, list) else "")
                if isinstance(item, str):
                    kind, dtmi = self.token(item, ctx)
                    if dtmi is None:
                        if kind == "undefined":
                            self.err(f"property {name!r}: {item!r} is not a defined term", where)
                        else:
                            self.err(f"property {name!r}: {item!r} is not a valid DTMI or term", where)
                        continue
                    for c in cons if sm.checks_iri_text else ():
                        if c.pattern and not c.pattern.match(dtmi):
                            self.err(f"property {name!r}: {item!r} is not a valid identifier", where)
                        if c.max_length and len(dtmi) > self.max_len(c, ctx):
                            self.err(f"property {name!r}: identifier longer than {self.max_len(c, ctx)} characters",
                                     where)
                    if sm.in_lists and not all(dtmi in x for x in sm.in_lists):
                        self.err(f"property {name!r}: {item!r} is not one of the allowed values", where)
                        continue
                    ref = Ref(dtmi)
                    self.refs.append((el, pid, ref, cons, where))
                    out.append(ref)
                elif isinstance(item, dict):
                    if sm.in_lists:
                        self.err(f"property {name!r} must name one of the predefined values, not an object", where)
                        continue
                    segment = f"_{key.rsplit(':', 1)[-1].split(';')[0]}"
                    if sm.max_count != 1:
                        nm = item.get("name")
                        segment += f":__{nm}" if isinstance(nm, str) and nm.isidentifier() else f":__{i}"
                    child = self.element(item, ctx, classes, el, pid, ipath, infer=infer, need_id=iri,
                                         auto_id=segment)
                    if child is not None:
                        out.append(child)
                else:
                    self.err(f"property {name!r} must be a DTMI, a term or an object; got {item!r}", where)
        el.props[pid] = out
        for u in sm.unique_props:
            seen: dict[Any, int] = {}
            for child in out:
                if isinstance(child, Elem):
                    val = child.one(u)
                    if val is None:
                        continue
                    k = (type(val).__name__, val)
                    if k in seen:
                        self.err(f"{_term(u)} {val!r} is used twice in {name!r}", where)
                    seen[k] = 1

