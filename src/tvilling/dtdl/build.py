"""Third step: turn the checked element graph into resolved :class:`~tvilling.dtdl.types.Interface` objects."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from tvilling.dtdl.checks import target_of
from tvilling.dtdl.parse import Elem, Parser, Ref, _short
from tvilling.dtdl.types import (
    ArraySchema,
    CommandDef,
    CommandPayload,
    ComponentDef,
    EnumSchema,
    EnumValue,
    FieldDef,
    Interface,
    MapSchema,
    ObjectSchema,
    PrimitiveSchema,
    PropertyDef,
    RelationshipDef,
    Schema,
    SchemaRef,
    TelemetryDef,
)


class Builder:
    def __init__(self, ps: Parser) -> None:
        self.ps = ps
        self.meta = ps.meta
        self._schemas: dict[int, Schema] = {}
        self._building: set[int] = set()
        self.named: dict[str, Schema] = {}  # complex schemas by @id
        self._ifaces: dict[str, Interface] = {}

    # property access by short name, whatever the element's DTDL version
    def get(self, el: Elem, name: str) -> list[Any]:
        return el.props.get(f"dtmi:dtdl:property:{name};{el.version}", [])

    def one(self, el: Elem, name: str) -> Any:
        vals = self.get(el, name)
        return vals[0] if vals else None

    def text(self, el: Elem, name: str) -> str | None:
        v = self.one(el, name)
        if isinstance(v, dict):
            return v.get("en") or v.get("en-US") or v.get("") or next(iter(v.values()), None)
        return v if isinstance(v, str) else None

    def deref(self, v: Any) -> Elem | str | None:
        if isinstance(v, Elem):
            return v
        if isinstance(v, Ref):
            t = target_of(self.ps, v.dtmi)
            return t if isinstance(t, Elem) else v.dtmi
        return None

    def schema(self, v: Any, depth: int = 0) -> Schema:
        target = self.deref(v)
        if isinstance(target, str) or target is None:
            members = self.meta.enum_members.get(target or "")
            if members is not None:  # a predefined enum, e.g. quantitativeTypes' TemperatureUnit
                names = sorted(m.split(";")[0].rsplit(":", 1)[-1] for m in members)
                return EnumSchema(target, "string", tuple(EnumValue(n, n) for n in names))
            name = (target or "string").split(";")[0].rsplit(":", 1)[-1]
            return PrimitiveSchema(name)
        cached = self._schemas.get(id(target))
        if cached is not None:
            return cached
        if id(target) in self._building:
            return SchemaRef(target.id)  # a recursive schema (DTDL v4)
        self._building.add(id(target))
        kind = _short(target.material)
        sid = target.id if target.explicit_id else None
        out: Schema
        if kind == "Enum":
            vs = self.one(target, "valueSchema")
            vname = vs.dtmi.split(";")[0].rsplit(":", 1)[-1] if isinstance(vs, Ref) else "string"
            values = tuple(EnumValue(self.one(e, "name"), self.one(e, "enumValue"), self.text(e, "displayName"))
                           for e in self.get(target, "enumValues") if isinstance(e, Elem))
            out = EnumSchema(sid, vname, values)
        elif kind == "Object":
            fields = []
            for f in self.get(target, "fields"):
                f_el = self.deref(f)
                if isinstance(f_el, Elem):
                    required = any(_short(c) == "Required" for c in f_el.classes)
                    fields.append(FieldDef(self.one(f_el, "name"), self.schema(self.one(f_el, "schema"), depth + 1),
                                           required))
            out = ObjectSchema(sid, tuple(fields))
        elif kind == "Map":
            key = self.deref(self.one(target, "mapKey"))
            val = self.deref(self.one(target, "mapValue"))
            key_name = self.one(key, "name") if isinstance(key, Elem) else "key"
            val_name = self.one(val, "name") if isinstance(val, Elem) else "value"
            val_schema = self.schema(self.one(val, "schema"), depth + 1) if isinstance(val, Elem) else PrimitiveSchema(
                "string")
            out = MapSchema(sid, key_name, val_name, val_schema)
        elif kind == "Array":
            out = ArraySchema(sid, self.schema(self.one(target, "elementSchema"), depth + 1))
        else:
            out = PrimitiveSchema(kind[:1].lower() + kind[1:])
        self._building.discard(id(target))
        self._schemas[id(target)] = out
        self.named[target.id] = out
        return out

    def semantic(self, el: Elem) -> str | None:
        """The semantic type co-type (e.g. Temperature), not other adjunct types such as Historized."""
        for c in sorted(el.classes):
            if c != el.material and any(_short(a) == "SemanticType" for a in self.meta.ancestors(c)):
                return _short(c)
        return None

    def cotypes(self, el: Elem) -> tuple[str, ...]:
        return tuple(sorted(_short(c) for c in el.classes if c != el.material))

    def unit(self, el: Elem) -> str | None:
        for k, vals in el.props.items():
            if k.split(";")[0].endswith(":unit") and vals and isinstance(vals[0], Ref):
                return vals[0].dtmi.split(";")[0].rsplit(":", 1)[-1]
        return None

    def interface(self, el: Elem, trail: tuple[str, ...] = ()) -> Interface:
        got = self._ifaces.get(el.id)
        if got is not None:
            return got
        props: dict[str, PropertyDef] = {}
        tel: dict[str, TelemetryDef] = {}
        cmds: dict[str, CommandDef] = {}
        rels: dict[str, RelationshipDef] = {}
        comps: dict[str, ComponentDef] = {}
        extends: list[str] = []
        for v in self.get(el, "extends"):
            base = self.deref(v)
            if isinstance(base, Elem) and base.id not in trail:
                extends.append(base.id)
                parent = self.interface(base, (*trail, el.id))
                props.update(parent.properties)
                tel.update(parent.telemetry)
                cmds.update(parent.commands)
                rels.update(parent.relationships)
                comps.update(parent.components)
        for c in self.get(el, "contents"):
            item = self.deref(c)
            if not isinstance(item, Elem):
                continue
            kind = _short(item.material)
            name = self.one(item, "name")
            common = {"id": item.id, "display_name": self.text(item, "displayName"),
                      "description": self.text(item, "description")}
            if kind == "Property":
                props[name] = self.prop(item)
            elif kind == "Telemetry":
                tel[name] = TelemetryDef(name, self.schema(self.one(item, "schema")), self.unit(item),
                                         self.semantic(item), **common, cotypes=self.cotypes(item))
            elif kind == "Command":
                cmds[name] = CommandDef(name, self.payload(self.one(item, "request")),
                                        self.payload(self.one(item, "response")), **common)
            elif kind == "Relationship":
                rprops = {}
                for p in self.get(item, "properties"):
                    p_el = self.deref(p)
                    if isinstance(p_el, Elem):
                        rprops[self.one(p_el, "name")] = self.prop(p_el)
                target = self.one(item, "target")
                rels[name] = RelationshipDef(
                    name, target.dtmi if isinstance(target, Ref) else None, self.one(item, "minMultiplicity"),
                    self.one(item, "maxMultiplicity"), MappingProxyType(rprops), bool(self.one(item, "writable")),
                    **common)
            elif kind == "Component":
                schema = self.one(item, "schema")
                sch = self.deref(schema)
                sid = sch.id if isinstance(sch, Elem) else str(sch)
                comps[name] = ComponentDef(name, sid, **common)
        schemas = tuple(self.schema(s) for s in self.get(el, "schemas"))
        out = Interface(el.id, self.text(el, "displayName"), self.text(el, "description"), tuple(extends),
                        MappingProxyType(props), MappingProxyType(tel), MappingProxyType(cmds),
                        MappingProxyType(rels), MappingProxyType(comps), el.version, schemas)
        self._ifaces[el.id] = out
        return out

    def prop(self, item: Elem) -> PropertyDef:
        return PropertyDef(self.one(item, "name"), self.schema(self.one(item, "schema")),
                           bool(self.one(item, "writable")), self.unit(item), self.semantic(item),
                           item.id, self.text(item, "displayName"),
                           self.text(item, "description"), self.cotypes(item))

    def payload(self, v: Any) -> CommandPayload | None:
        el = self.deref(v)
        if not isinstance(el, Elem):
            return None
        return CommandPayload(self.one(el, "name"), self.schema(self.one(el, "schema")),
                              any(_short(c) == "Nullable" for c in el.classes) or bool(self.one(el, "nullable")))

    def all_interfaces(self) -> dict[str, Interface]:
        out: dict[str, Interface] = {}
        for el in self.ps.elements:
            if el.explicit_id and el.material and _short(el.material) == "Interface":
                out[el.id] = self.interface(el)
        return out
