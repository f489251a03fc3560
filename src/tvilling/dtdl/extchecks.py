"""Whole-set rules that language extensions add: siblings named by ``annotates`` (annotation), overridden
extension properties (overriding), co-types that constrain their parent and values unique among siblings (mqtt)."""

from __future__ import annotations

from typing import Any

from tvilling.dtdl.graph import Elem, Ref, _short, _term
from tvilling.dtdl.parse import Parser


def extension_checks(ps: Parser) -> None:
    _siblings(ps)
    _parents_and_unique_values(ps)


def _base(pid: str) -> str:
    return pid.split(";")[0].rsplit(":", 1)[-1]


def _get(el: Elem, pid: str) -> Any:
    """A property value by metamodel id; core properties are matched by name whatever the element's version."""
    if pid.startswith("dtmi:dtdl:property:"):
        pid = f"dtmi:dtdl:property:{_base(pid)};{el.version}"
    return el.one(pid)


def _resolve(ps: Parser, v: Any) -> Elem | None:
    if isinstance(v, Elem):
        return v
    if isinstance(v, Ref):
        els = ps.by_id.get(v.dtmi)
        return els[0] if els else None
    return None


def _pool(ps: Parser, el: Elem) -> list[Elem]:
    """The elements ``el`` may name as siblings: the other values of its parent's property and, for interface
    contents, the contents inherited through ``extends``."""
    parent = el.parent
    assert parent is not None
    out = [v for v in (_resolve(ps, x) for x in parent.props.get(el.parent_prop or "", [])) if v is not None]
    seen = {id(parent)}
    stack = [parent]
    while stack:
        cur = stack.pop()
        for k, vals in cur.props.items():
            if _base(k) != "extends":
                continue
            for v in vals:
                base = _resolve(ps, v)
                if base is None or id(base) in seen:
                    continue
                seen.add(id(base))
                stack.append(base)
                for kk, items in base.props.items():
                    if _base(kk) == _base(el.parent_prop or ""):
                        out.extend(x for x in (_resolve(ps, i) for i in items) if x is not None)
    return [s for s in out if s is not el]


def _sibling_ok(s: Elem, rule: dict[str, Any]) -> bool:
    allowed = [x.get("sh:class") for x in rule.get("sh:or", []) if isinstance(x, dict)]
    if allowed and not any(_short(s.material) == _short(a) for a in allowed):
        return False
    nots = rule.get("sh:not")
    if isinstance(nots, dict) and nots.get("sh:class"):
        return not any(_short(c) == _short(nots["sh:class"]) for c in s.classes)
    return True


def _siblings(ps: Parser) -> None:
    meta = ps.meta
    overridden: dict[tuple[int, str], Elem] = {}
    for el in ps.elements:
        for c in el.classes:
            info = meta.classes.get(c)
            if not info or not info.siblings or el.parent is None:
                continue
            pool = _pool(ps, el)
            ps.doc = el.doc
            for rule in info.siblings:
                key, keyref = rule.get("dtmm:keyProperty"), rule.get("dtmm:keyrefProperty")
                ref = el.one(keyref) if keyref else None
                if not key or ref is None:
                    continue
                named = [s for s in pool if _get(s, key) == ref]
                path = rule.get("dtmm:path")
                if not path:
                    if not any(_sibling_ok(s, rule) for s in named):
                        ps.err(f"{_short(keyref)!r} names {ref!r}, which is not a suitable sibling in the same "
                               "interface", el.where(), "name a Property or Telemetry of this interface")
                    continue
                target = next((s for s in named if _sibling_ok(s, rule)), None) or (named[0] if named else None)
                if target is None:
                    continue  # reported by the rule without a path
                if rule.get("dtmm:uniqueReference"):
                    _check_overrides(ps, el, target, _get(el, path), overridden)
                parent_of = rule.get("dtmm:parentOfProperty")
                if parent_of:
                    _check_override_schema(ps, el, target, _get(el, path), _get(el, parent_of))


def _check_overrides(ps: Parser, el: Elem, target: Elem, over: Any, seen: dict[tuple[int, str], Elem]) -> None:
    if not isinstance(over, Ref):
        return
    if over.dtmi.startswith("dtmi:dtdl:property:"):
        ps.err(f"'overrides' names {_term(over.dtmi)!r}, a core DTDL property; only extension properties can be "
               "overridden", el.where())
    elif over.dtmi not in target.props:
        ps.err(f"'overrides' names {_term(over.dtmi)!r}, which the annotated element does not have", el.where())
    key = (id(target), over.dtmi)
    if key in seen and seen[key] is not el:
        ps.err(f"{_term(over.dtmi)!r} of the annotated element is overridden more than once", el.where())
    seen.setdefault(key, el)


def _check_override_schema(ps: Parser, el: Elem, target: Elem, schema: Any, over: Any) -> None:
    """The overriding Property's schema must be the enum (e.g. TemperatureUnit) that holds the overridden value."""
    if not isinstance(over, Ref):
        return
    value = target.one(over.dtmi)
    if not isinstance(value, Ref):
        return
    members = ps.meta.enum_members.get(schema.dtmi) if isinstance(schema, Ref) else None
    if members is None or value.dtmi not in members:
        ps.err(f"the schema of an Override of {_term(over.dtmi)!r} must be the type that contains "
               f"{_short(value.dtmi)!r}", el.where())


def _parents_and_unique_values(ps: Parser) -> None:
    """Co-types that constrain their parent (mqtt Result fields) and values unique among siblings (mqtt index)."""
    meta = ps.meta
    for el in ps.elements:
        for c in el.classes:
            info = meta.classes.get(c)
            for inv in info.inverse if info else []:
                parent = el.parent
                ok = parent is not None and _base(el.parent_prop or "") == inv["prop"] and meta.is_a(
                    parent.classes, inv["class"])
                if not ok:
                    ps.doc = el.doc
                    ps.err(f"a {_short(c)} must be one of the {inv['prop']} of a {_short(inv['class'])}", el.where())
                elif inv["only_one"] and parent is not None:
                    same = [s for s in parent.props.get(el.parent_prop or "", [])
                            if isinstance(s, Elem) and c in s.classes]
                    if len(same) > 1 and same[0] is el:
                        ps.doc = el.doc
                        ps.err(f"only one {_short(c)} is allowed in {parent.where()}", el.where())
    unique_pids: dict[int, list[str]] = {}  # constraint tables are shared objects: compute once per table

    def unique_of(child: Elem) -> list[str]:
        key = id(child.constraints)
        got = unique_pids.get(key)
        if got is None:
            got = unique_pids[key] = [p for p, cons in child.constraints.items() if any(c.unique_value for c in cons)]
        return got

    for el in ps.elements:
        for pid, vals in el.props.items():
            if len(vals) < 2:
                continue
            children = [v for v in vals if isinstance(v, Elem)]
            seen: dict[tuple[str, Any], Elem] = {}
            for child in children:
                for cpid in unique_of(child):
                    if child.props.get(cpid):
                        key = (cpid, child.props[cpid][0])
                        if key in seen:
                            ps.doc = child.doc
                            ps.err(f"{_term(cpid)} {key[1]!r} is used by more than one element of {_term(pid)!r}",
                                   child.where())
                        seen[key] = child
