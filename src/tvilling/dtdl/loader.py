"""Builds the rule tables (:class:`~tvilling.dtdl.meta.Meta`) once per process from the official DTDL metamodel
files shipped as package data: SHACL shapes, JSON-LD contexts and predefined elements, for DTDL v2, v3 and v4 and
their language extensions."""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources
from typing import Any

from tvilling.dtdl.meta import VERSIONS, ClassInfo, Extension, Limits, Meta, PropC


def _load(rel: str) -> Any:
    return json.loads(resources.files("tvilling.dtdl").joinpath("metamodel", rel).read_text(encoding="utf-8"))


def _files(version: int) -> list[str]:
    root = resources.files("tvilling.dtdl").joinpath("metamodel", f"v{version}")
    return sorted(p.name for p in root.iterdir() if p.name.endswith(".json"))


def _context_terms(ctx: dict[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in ctx.items():
        if k.startswith("@") or ":" in k:
            continue
        target = v.get("@id") if isinstance(v, dict) else v
        if isinstance(target, str) and target.startswith("dtmi:"):
            out[k] = target
    return out


def _as_list(v: Any) -> list[Any]:
    if v is None:
        return []
    return v if isinstance(v, list) else [v]


def _classes_of(shape: dict[str, Any], key_or: str = "sh:or") -> list[Any]:
    return [x.get("sh:class") for x in _as_list(shape.get(key_or)) if isinstance(x, dict) and "sh:class" in x]


@cache
def metamodel() -> Meta:
    terms: dict[int, dict[str, str]] = {}
    classes: dict[str, ClassInfo] = {}
    extensions: dict[str, Extension] = {}
    elements: dict[str, set[str]] = {}
    enum_members: dict[str, set[str]] = {}
    id_pattern: dict[int, re.Pattern[str]] = {}
    id_max: dict[int, int] = {}
    reserved: tuple[str, ...] = ()
    allow_default: dict[int, bool] = {}
    apocrypha: dict[int, dict[str, Any]] = {}
    restrict: dict[int, bool] = {}
    limits: dict[str, Limits] = {}
    max_bytes: dict[int, int] = {}
    graphs: list[tuple[int, list[str], list[dict[str, Any]], str]] = []

    for v in VERSIONS:
        terms[v] = _context_terms(_load(f"v{v}/DTDL.v{v}.context.json"))
    for v in VERSIONS:
        for name in _files(v):
            if "RDF-SHACL" not in name:
                continue
            doc = _load(f"v{v}/{name}")
            ctx = _as_list(doc.get("@context"))
            graphs.append((v, ctx, doc["@graph"], name))
            ext_ctx = ctx[-1] if len(ctx) > 1 else None
            if ext_ctx:
                ctx_file = name.replace("RDF-SHACL", "context")
                if "iotcentral" in name:
                    ctx_file = f"DTDL.v{v}.iotcentral.context.json"
                try:
                    ext_terms = _context_terms(_load(f"v{v}/{ctx_file}"))
                except FileNotFoundError:
                    ext_terms = {}
                extensions[ext_ctx] = Extension(ext_ctx, v, ext_terms, limits="LimitExtension" in name, versions={v})

    def resolve(word: Any, scope: list[str], v: int) -> Any:
        if not isinstance(word, str) or word.startswith(("dtmi:", "sh:", "xsd:", "rdf:", "dtmm:", "rdfs:")):
            return word
        for c in reversed(scope):
            ext = extensions.get(c)
            if ext and word in ext.terms:
                return ext.terms[word]
        return terms[v].get(word, word)

    for v, ctx, graph, _name in graphs:
        ext_ctx = ctx[-1] if len(ctx) > 1 else None
        if ext_ctx and extensions[ext_ctx].limits:
            limits[ext_ctx] = _limits(graph, ctx, v, resolve)
            continue
        for node in graph:
            types = _as_list(node.get("@type"))
            nid = node["@id"]
            if "dtmm:Global" in types:
                ident = node.get("dtmm:identifier", {})
                if "sh:pattern" not in ident:
                    continue
                id_pattern[v] = re.compile(ident["sh:pattern"])
                id_max[v] = ident.get("sh:maxLength", 2048)
                reserved = tuple(ident.get("dtmm:reservedPrefix", reserved))
                allow_default[v] = bool(node.get("dtmm:allowUndefinedExtensionsByDefault", False))
                apo = node.get("dtmm:apocrypha", {})
                apocrypha[v] = {
                    "needs_cotype": bool(apo.get("dtmm:propertyNeedsCotype", True)),
                    **{f"{mode}:{kind}": {x.split(":")[-1] for x in _as_list(apo.get(f"dtmm:{mode}", {}).get(
                        f"dtmm:{kind}"))}
                       for mode in ("alwaysAllow", "neverAllow") for kind in ("asCotype", "asProperty")},
                }
                restrict[v] = bool(node.get("dtmm:restrictKeywords", True))
                if "dtmm:maxBytes" in node.get("dtmm:partition", {}):
                    max_bytes[v] = node["dtmm:partition"]["dtmm:maxBytes"]
                continue
            if "rdfs:Class" not in types:
                continue
            info = classes.get(nid) or ClassInfo(nid, node.get("dtmm:dtdlVersion", v))
            classes[nid] = info
            info.supers = [resolve(s, ctx, v) for s in _as_list(node.get("rdfs:subClassOf"))]
            info.abstract = "dtmm:Abstract" in types
            info.material = "dtmm:Material" in types
            info.extensible = "dtmm:Extensible" in types
            info.extension = ext_ctx
            info.hosts = tuple(resolve(c, ctx, v) for c in _classes_of(node))
            if ext_ctx:
                # an extension may serve several DTDL versions: those of the classes it may co-type
                extensions[ext_ctx].versions.update(x for x in (_version_of(h) for h in info.hosts) if x)
            info.requires = tuple(resolve(c, ctx, v) for c in _classes_of(node, "sh:and"))
            info.forbids = tuple(resolve(c, ctx, v) for c in _classes_of({"sh:or": _as_list(node.get("sh:not"))}))
            info.descendants = [
                {**d, "dtmm:properties": [resolve(p, ctx, v) for p in _as_list(d.get("dtmm:properties"))],
                 "dtmm:excludeType": resolve(d.get("dtmm:excludeType"), ctx, v),
                 "dtmm:importProperties": [resolve(p, ctx, v) for p in _as_list(d.get("dtmm:importProperties"))],
                 "dtmm:datatypeProperty": resolve(d.get("dtmm:datatypeProperty"), ctx, v)}
                for d in _as_list(node.get("dtmm:descendants"))
            ]
            info.siblings = [
                {k: resolve(val, ctx, v) if k in ("dtmm:keyProperty", "dtmm:keyrefProperty", "dtmm:path",
                                                    "dtmm:parentOfProperty") else val for k, val in s.items()}
                for s in _as_list(node.get("dtmm:siblings"))
            ]
            if "dtmm:identifier" in node:
                info.id_max_length = node["dtmm:identifier"].get("sh:maxLength")
            info.props = []
            for p in _as_list(node.get("sh:property")):
                if isinstance(p.get("sh:path"), dict):
                    inv = p["sh:path"].get("sh:inversePath")
                    if inv:
                        info.inverse.append({"prop": _tail(resolve(inv, ctx, v)),
                                             "class": resolve(p.get("sh:class"), ctx, v),
                                             "only_one": bool(p.get("dtmm:onlyOne"))})
                    continue
                cls = [resolve(c, ctx, v) for c in _classes_of(p)]
                if "sh:class" in p:
                    cls.append(resolve(p["sh:class"], ctx, v))
                pat = p.get("sh:pattern")
                info.props.append(PropC(
                    path=resolve(p["sh:path"], ctx, v), min_count=p.get("sh:minCount"), max_count=p.get("sh:maxCount"),
                    datatype=p.get("sh:datatype"), node_kind=p.get("sh:nodeKind"),
                    pattern=re.compile(pat) if pat else None, max_length=p.get("sh:maxLength"),
                    min_inclusive=p.get("sh:minInclusive"), max_inclusive=p.get("sh:maxInclusive"),
                    classes=tuple(cls), in_=tuple(resolve(x, ctx, v) for x in _as_list(p.get("sh:in"))),
                    unique_props=tuple(resolve(x, ctx, v) for x in _as_list(p.get("dtmm:uniqueProperties"))),
                    type_inferable=bool(p.get("dtmm:typeInferable")), unique_lang=bool(p.get("sh:uniqueLang")),
                    child_of=resolve(p.get("dtmm:childOf"), ctx, v), unique_value=bool(p.get("dtmm:uniqueValue")),
                    owner=nid, pattern_desc=(p.get("dtmm:patternDesc") or {}).get("en-US", "")))

    # Predefined elements: primitive schemas (with their aliases), command types, quantitative units.
    for v in VERSIONS:
        for name in _files(v):
            if "Elements" not in name:
                continue
            for el in _load(f"v{v}/{name}"):
                ctx = _as_list(el.get("@context"))
                _add_element(el, ctx, v, resolve, elements, enum_members)
        for dtmi in terms[v].values():
            if dtmi.startswith("dtmi:standard:schema:"):  # geospatial schemas, scaledDecimal (v4)
                elements.setdefault(dtmi, set()).add(f"dtmi:dtdl:class:Object;{v}")
    _synthesize_v2_semantics(terms[2], classes, elements, enum_members)
    return Meta(terms, classes, extensions, elements, enum_members, id_pattern, id_max, reserved, allow_default,
                limits, apocrypha, restrict, max_bytes)


def _add_element(el: dict[str, Any], ctx: list[str], v: int, resolve: Any, elements: dict[str, set[str]],
                 enum_members: dict[str, set[str]]) -> None:
    eid = el["@id"]
    cls = {resolve(t, ctx, v) for t in _as_list(el.get("@type")) if t != "Alias"}
    elements.setdefault(eid, set()).update(cls)
    alias = el.get("aliasFor")
    if isinstance(alias, str):
        elements.setdefault(alias, set())
    for ev in _as_list(el.get("enumValues")):
        if isinstance(ev, dict) and "@id" in ev:
            elements.setdefault(ev["@id"], set()).update(resolve(t, ctx, v) for t in _as_list(ev.get("@type")))
            enum_members.setdefault(eid, set()).add(ev["@id"])


def _synthesize_v2_semantics(terms: dict[str, str], classes: dict[str, ClassInfo], elements: dict[str, set[str]],
                             enum_members: dict[str, set[str]]) -> None:
    """DTDL v2 semantic types and units live in the v2 context only; give them class entries so they are checked.

    Which units suit which semantic type is not in the v2 files; it is taken from the quantitative-types extension
    of DTDL v3 (same names), and a v2 semantic type absent there accepts any unit.
    """
    unit_cls = "dtmi:dtdl:class:Unit;2"
    v3_unit_enum: dict[str, str] = {}
    for c in classes.values():
        if c.id.startswith("dtmi:dtdl:extension:quantitativeTypes:v1:class:"):
            for p in c.props:
                if p.child_of:
                    v3_unit_enum[_tail(c.id)] = p.child_of
    v2_units = {_tail(d): d for d in terms.values() if d.startswith("dtmi:standard:unit:")}
    for dtmi in terms.values():
        if dtmi.startswith("dtmi:standard:class:") and dtmi not in classes:
            short = _tail(dtmi)
            is_unit_kind = short.endswith("Unit") or short.endswith("Prefix")
            info = ClassInfo(dtmi, 2, supers=[unit_cls if is_unit_kind else "dtmi:dtdl:class:SemanticType;2"],
                             extensible=False, abstract=is_unit_kind)
            if not is_unit_kind:
                info.hosts = ("dtmi:dtdl:class:Relationship;2", "dtmi:dtdl:class:Property;2",
                              "dtmi:dtdl:class:Telemetry;2")
                child_of = None
                enum = v3_unit_enum.get(short)
                if enum and enum in enum_members:
                    child_of = f"v2:{short}"
                    enum_members[child_of] = {v2_units[_tail(m)] for m in enum_members[enum] if _tail(m) in v2_units}
                info.props = [
                    PropC(path="dtmi:dtdl:property:unit;2", min_count=1, max_count=1, node_kind="sh:IRI",
                          classes=(unit_cls,), owner=dtmi, child_of=child_of),
                    PropC(path="dtmi:dtdl:property:schema;2", classes=("dtmi:dtdl:class:NumericSchema;2",),
                          owner=dtmi),
                ]
            classes[dtmi] = info
        elif dtmi.startswith(("dtmi:standard:unit:", "dtmi:standard:unitprefix:")):
            elements.setdefault(dtmi, set()).add(unit_cls)
    # A v2 unit is also an instance of its unit kind (metrePerSecond is a VelocityUnit), which extensions such as
    # IoT Central's VelocityVector require; the kinds' members come from the v3 unit enums of the same names.
    for dtmi in terms.values():
        short = _tail(dtmi)
        if dtmi.startswith("dtmi:standard:class:") and short.endswith("Unit"):
            enum = f"dtmi:dtdl:extension:quantitativeTypes:v1:enum:{short}"
            for member in enum_members.get(enum, ()):
                unit = v2_units.get(_tail(member))
                if unit:
                    elements.setdefault(unit, set()).add(dtmi)


def _limits(graph: list[dict[str, Any]], ctx: list[str], v: int, resolve: Any) -> Limits:
    out = Limits()
    for node in graph:
        nid = node["@id"]
        ident = node.get("dtmm:identifier") or {}
        if "dtmm:Global" in _as_list(node.get("@type")):
            out.id_max = ident.get("sh:maxLength")
            continue
        if "sh:maxLength" in ident:
            out.class_id_max[nid] = ident["sh:maxLength"]
        for p in _as_list(node.get("sh:property")):
            if "sh:maxLength" in p:
                out.prop_max[(nid, resolve(p["sh:path"], ctx, v))] = p["sh:maxLength"]
        for d in _as_list(node.get("dtmm:descendants")):
            key = frozenset(_tail(resolve(x, ctx, v)) for x in _as_list(d.get("dtmm:properties")))
            out.descendants[(nid, key)] = {k: d[k] for k in ("dtmm:maxDepth", "dtmm:maxCount") if k in d}
    return out


def _version_of(dtmi: str) -> int | None:
    if dtmi.startswith("dtmi:dtdl:class:"):
        tail = dtmi.rsplit(";", 1)
        return int(tail[1]) if len(tail) == 2 and tail[1].isdigit() else None
    return None


def _tail(dtmi: str) -> str:
    return dtmi.split(";")[0].rsplit(":", 1)[-1]
