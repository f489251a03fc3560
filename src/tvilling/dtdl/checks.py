"""Second pass: rules that need the whole model set — identifiers, references, inheritance, nesting and cycles."""

from __future__ import annotations

from typing import Any

from tvilling.dtdl.extchecks import extension_checks
from tvilling.dtdl.meta import Meta
from tvilling.dtdl.parse import Elem, Parser, Ref, _short, _term


def _p(meta: Meta, name: str, v: int) -> str:
    return f"dtmi:dtdl:property:{name};{v}"


def run_checks(ps: Parser) -> None:
    meta = ps.meta
    _duplicates(ps)
    _references(ps)
    _extends(ps)
    _inherited_names(ps)
    _descendant_rules(ps)
    _schema_cycles(ps)
    _enum_datatypes(ps)
    extension_checks(ps)
    del meta


def _duplicates(ps: Parser) -> None:
    for eid, els in ps.by_id.items():
        if len(els) > 1:
            ps.doc = els[1].doc
            ps.err(f"@id {eid} is defined {len(els)} times", eid, "every element needs its own identifier")


def target_of(ps: Parser, dtmi: str) -> Elem | set[str] | None:
    els = ps.by_id.get(dtmi)
    if els:
        return els[0]
    pre = ps.meta.elements.get(dtmi)
    return pre


def _references(ps: Parser) -> None:
    meta = ps.meta
    for el, pid, ref, cons, where in ps.refs:
        ps.doc = el.doc
        tgt = target_of(ps, ref.dtmi)
        if isinstance(tgt, Elem) and not _referenceable(meta, tgt, el):
            ps.err(f"{_term(pid)!r} refers to {ref.dtmi}, which is defined inside another interface; only "
                   "interfaces can be referenced across interfaces", where)
            continue
        if tgt is None:
            if pid.startswith("dtmi:dtdl:property:target;") or (any(c.classes == () for c in cons) and not any(
                    c.classes for c in cons)):
                continue  # relationship targets and untyped IRIs may point outside the set
            ps.err(f"{_term(pid)!r} refers to {ref.dtmi}, which is not defined in this model set", where,
                   "add the model that defines it to the set")
            continue
        classes = tgt.classes if isinstance(tgt, Elem) else tgt
        bad_unit = next((c.child_of for c in cons if c.child_of and ref.dtmi not in meta.enum_members.get(
            c.child_of, {ref.dtmi})), None)
        if bad_unit:
            ps.err(f"unit {_short(ref.dtmi)} does not suit semantic type "
                   f"{_short(bad_unit.split(':')[-1])}", where)
            continue
        for c in cons:
            if c.classes and not any(meta.is_a(classes, k) for k in c.classes):
                wanted = " or ".join(sorted({_short(k) for k in c.classes}))
                same_kind = [k for k in c.classes if any(_short(a) == _short(k) for t in classes
                                                         for a in meta.ancestors(t))]
                if same_kind:
                    versions = ", ".join(sorted({"v" + k.rsplit(";", 1)[-1] for k in same_kind}))
                    ps.err(f"{_term(pid)!r} refers to {ref.dtmi}, a {wanted} of a DTDL version not allowed here "
                           f"(allowed: {versions})", where, "a model may use models of the same or older versions")
                else:
                    ps.err(f"{_term(pid)!r} refers to {ref.dtmi}, which is not a {wanted}", where)
                break


def _partition(meta: Meta, el: Elem) -> Elem:
    """The nearest enclosing Interface (or the element itself): the unit within which elements may be referenced.

    An inline Interface (extended or used as a component schema) is a partition of its own: it cannot reuse the
    schemas of the Interface that holds it (DTDL v4 spec, "Interface schemas")."""
    cur: Elem | None = el
    while cur is not None and not _is_partition(meta, cur):
        cur = cur.parent
    return cur if cur is not None else el


def _is_partition(meta: Meta, el: Elem) -> bool:
    return el.material is not None and _short(el.material) == "Interface"


def _referenceable(meta: Meta, tgt: Elem, src: Elem) -> bool:
    return _is_partition(meta, tgt) or _partition(meta, tgt) is _partition(meta, src)


def _resolve(ps: Parser, v: Any) -> Elem | None:
    if isinstance(v, Elem):
        return v
    if isinstance(v, Ref):
        t = target_of(ps, v.dtmi)
        return t if isinstance(t, Elem) else None
    return None


def _parents(ps: Parser, el: Elem) -> list[Elem]:
    return [p for k, vals in el.props.items() if _base(k) == "extends" for v in vals
            if (p := _resolve(ps, v)) is not None]


def _extends(ps: Parser) -> None:
    """No cycles; limits on the number of ancestors and the depth of the inheritance tree (from the metamodel).

    One iterative depth-first pass with memoised depths and ancestor sets: linear in the size of the graph, so a
    lattice of diamonds costs no more than a chain."""
    meta = ps.meta
    state: dict[int, int] = {}  # 0 = on the stack, 1 = done
    depth: dict[int, int] = {}
    ancestors: dict[int, frozenset[str]] = {}
    cyclic: set[str] = set()
    ifaces = [el for el in ps.elements if el.material and _is_partition(meta, el)]
    for root in ifaces:
        if id(root) in state:
            continue
        state[id(root)] = 0
        stack: list[tuple[Elem, list[Elem], int]] = [(root, _parents(ps, root), 0)]
        while stack:
            node, parents, i = stack[-1]
            if i < len(parents):
                stack[-1] = (node, parents, i + 1)
                nxt = parents[i]
                seen = state.get(id(nxt))
                if seen is None:
                    state[id(nxt)] = 0
                    stack.append((nxt, _parents(ps, nxt), 0))
                elif seen == 0:  # back edge: everything from nxt up the stack is on a cycle
                    on = [e for e, _, _ in stack]
                    cyclic.update(e.id for e in on[next(j for j, e in enumerate(on) if e is nxt):])
                continue
            stack.pop()
            state[id(node)] = 1
            depth[id(node)] = 1 + max((depth.get(id(p), 0) for p in parents), default=-1)
            anc: set[str] = set()
            for p in parents:
                anc.add(p.id)
                anc |= ancestors.get(id(p), frozenset())
            ancestors[id(node)] = frozenset(anc)
    for el in ifaces:
        ps.doc = el.doc
        if el.id in cyclic or cyclic & ancestors.get(id(el), frozenset()):
            ps.err(f"interface {el.id} extends itself (directly or through other interfaces)", el.where())
            continue
        assert el.material is not None
        info = meta.classes[el.material]
        rule = next((d for d in info.descendants if _p(meta, "extends", el.version) in d["dtmm:properties"]), None)
        rule = _raised(ps, el, el.material, rule) if rule else None
        max_depth = rule.get("dtmm:maxDepth") if rule else None
        max_count = rule.get("dtmm:maxCount") if rule else None
        d, n = depth.get(id(el), 0), len(ancestors.get(id(el), ()))
        if max_depth is not None and d > max_depth:
            ps.err(f"the extends hierarchy of {el.id} is {d} levels deep; at most {max_depth} allowed", el.where())
        if max_count is not None and n > max_count:
            ps.err(f"{el.id} has {n} ancestor interfaces; at most {max_count} allowed", el.where())


def _inherited_names(ps: Parser) -> None:
    """Contents imported through ``extends`` (metamodel ``importProperties``) share one name space."""
    meta = ps.meta
    for el in ps.elements:
        if not el.material or not _is_partition(meta, el):
            continue
        rule = next((d for a in meta.ancestors(el.material) for d in (meta.classes[a].descendants
                     if a in meta.classes else []) if d.get("dtmm:importProperties")), None)
        if rule is None:
            continue
        imported = {_base(p) for p in rule["dtmm:importProperties"]}
        names: dict[Any, Elem] = {}
        clash: set[Any] = set()
        for owner in [el, *_walk(ps, el, {"extends"}, set())]:
            if not _is_partition(meta, owner):
                continue
            for k, vals in owner.props.items():
                if _base(k) not in imported:
                    continue
                for v in vals:
                    item = _resolve(ps, v)
                    if item is None:
                        continue
                    name = item.one(f"dtmi:dtdl:property:name;{item.version}")
                    if name is None:
                        continue
                    other = names.setdefault(name, item)
                    if other is not item and name not in clash and (owner is not el or other.parent is not el):
                        clash.add(name)
                        ps.doc = el.doc
                        ps.err(f"content name {name!r} of {el.id} is also defined by an interface it extends",
                               el.where(), "names must be unique across inherited contents")


def _walk(ps: Parser, el: Elem, pids: set[str], narrow_imports: set[str]) -> list[Elem]:
    """Every element reachable from ``el`` through the named properties (inline or by reference)."""
    out: list[Elem] = []
    seen: set[int] = set()
    stack = [el]
    while stack:
        cur = stack.pop()
        for k, vals in cur.props.items():
            if _base(k) not in pids:
                continue
            for v in vals:
                nxt = _resolve(ps, v)
                if nxt is not None and id(nxt) not in seen:
                    seen.add(id(nxt))
                    out.append(nxt)
                    stack.append(nxt)
    return out


def _predefined(ps: Parser, el: Elem, pids: set[str]) -> list[Elem]:
    """Predefined geospatial schemas are Objects whose coordinates are Arrays: expose that for exclusion rules."""
    out: list[Elem] = []
    for k, vals in el.props.items():
        if _base(k) in pids:
            for v in vals:
                if isinstance(v, Ref) and v.dtmi.startswith("dtmi:standard:schema:geospatial:"):
                    out.append(Elem(v.dtmi, True, f"dtmi:dtdl:class:Array;{el.version}", set(), el.version, "", 0))
    return out


def _base(pid: str) -> str:
    return pid.split(";")[0].rsplit(":", 1)[-1]


def _descendant_rules(ps: Parser) -> None:
    """Metamodel 'descendants' rules: excluded types (no Component inside a component's interface), max depth of
    complex schemas."""
    meta = ps.meta
    for el in ps.elements:
        if not el.material:
            continue
        ps.doc = el.doc
        for a in meta.ancestors(el.material):
            info = meta.classes.get(a)
            if not info:
                continue
            for rule0 in info.descendants:
                rule = _raised(ps, el, a, rule0)
                pids = {_base(p) for p in rule["dtmm:properties"]}
                excl = rule.get("dtmm:excludeType")
                if excl:
                    excl_short = _short(excl)
                    walk_pids = pids | ({"extends"} if rule.get("dtmm:narrow") else set())
                    for d in _walk(ps, el, walk_pids, set()) + _predefined(ps, el, walk_pids):
                        if d.material and _short(d.material) == excl_short:
                            ps.err(f"a {_short(el.material)} cannot contain a {excl_short} here", el.where())
                            break
                max_count = rule.get("dtmm:maxCount")
                if max_count and "extends" not in pids:
                    n = _count(ps, el, pids, bool(rule.get("dtmm:narrow")))
                    if n > max_count:
                        ps.err(f"{el.id} holds {n} elements in its contents hierarchy; at most {max_count} allowed",
                               el.where())
                max_depth = rule.get("dtmm:maxDepth")
                if max_depth and "extends" not in pids and not _is_complex(meta, el.parent):
                    depth = _depth(ps, el, pids, meta, a, set())
                    if depth > max_depth:
                        ps.err(f"complex schemas are nested {depth} levels deep; at most {max_depth} allowed",
                               el.where())


def _count(ps: Parser, root: Elem, pids: set[str], narrow: bool) -> int:
    """Elements under ``root`` through ``pids`` (and inherited through ``extends`` when narrow); other
    interfaces reached as component schemas are not entered."""
    seen: set[int] = {id(root)}
    stack = [root]
    n = 0
    while stack:
        cur = stack.pop()
        for k, vals in cur.props.items():
            b = _base(k)
            follow_ext = narrow and b == "extends"
            if b not in pids and not follow_ext:
                continue
            for v in vals:
                nxt = _resolve(ps, v)
                if nxt is None or id(nxt) in seen:
                    continue
                seen.add(id(nxt))
                if _is_partition(ps.meta, nxt):
                    if follow_ext:
                        stack.append(nxt)  # inherited contents count, the interface itself does not
                    continue
                n += 1
                stack.append(nxt)
    return n


def _raised(ps: Parser, el: Elem, cls: str, rule: dict[str, Any]) -> dict[str, Any]:
    """A descendants rule with the limits of a limit extension applied, when the element is under one."""
    if el.ctx is None or not el.ctx.limits:
        return rule
    lim = ps.meta.limits[el.ctx.limits]
    key = (cls, frozenset(_base(p) for p in rule["dtmm:properties"]))
    return {**rule, **lim.descendants.get(key, {})}


def _is_complex(meta: Meta, el: Elem | None) -> bool:
    return el is not None and el.material is not None and any(
        _short(a) == "ComplexSchema" for a in meta.ancestors(el.material))


def _depth(ps: Parser, el: Elem, pids: set[str], meta: Meta, cls: str, trail: set[int],
           memo: dict[int, int] | None = None) -> int:
    """Nesting depth of ``cls`` elements under ``el``; memoised, and a schema met again on its own path counts 0."""
    memo = {} if memo is None else memo
    if id(el) in trail:
        return 0
    if id(el) in memo:
        return memo[id(el)]
    trail.add(id(el))
    best = 0
    for vals in el.props.values():
        for v in vals:
            nxt = _resolve(ps, v)
            if nxt is None or not nxt.material:
                continue
            best = max(best, _depth(ps, nxt, pids, meta, cls, trail, memo))
    trail.discard(id(el))
    mine = 1 if el.material and _short(cls) in {_short(a) for a in meta.ancestors(el.material)} else 0
    memo[id(el)] = best + mine
    return best + mine


def _schema_cycles(ps: Parser) -> None:
    """A schema may not contain itself (an Object whose field is that Object, …)."""
    for el in ps.elements:
        if not el.explicit_id or not _is_complex(ps.meta, el) or _allows_self(ps.meta, el):
            continue
        if any(d is el for d in _walk(ps, el, {"schema", "elementSchema", "fields", "mapValue", "enumValues"},
                                      set())):
            ps.doc = el.doc
            ps.err(f"schema {el.id} refers to itself", el.where(), "schemas cannot be recursive")


def _allows_self(meta: Meta, el: Elem) -> bool:
    """DTDL v4 lets complex schemas refer to themselves (metamodel flag ``allowSelf``)."""
    for a in meta.ancestors(el.material or ""):
        info = meta.classes.get(a)
        if info and any(d.get("dtmm:allowSelf") for d in info.descendants):
            return True
    return False


def _enum_datatypes(ps: Parser) -> None:
    for el in ps.elements:
        if not el.material or _short(el.material) != "Enum":
            continue
        vs = el.props.get(_p(ps.meta, "valueSchema", el.version), [])
        if not vs or not isinstance(vs[0], Ref):
            continue
        kind = vs[0].dtmi.split(":")[-1].split(";")[0]
        for ev in el.props.get(_p(ps.meta, "enumValues", el.version), []):
            if not isinstance(ev, Elem):
                continue
            val = ev.one(_p(ps.meta, "enumValue", ev.version))
            ok = isinstance(val, str) if kind == "string" else isinstance(val, int) and not isinstance(val, bool)
            if not ok:
                ps.doc = el.doc
                ps.err(f"enum value {val!r} does not match the enum's valueSchema {kind}", ev.where())
