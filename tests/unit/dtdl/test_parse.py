"""Parser rules, one small model per restriction, across DTDL v2, v3 and v4 (v4 cases written from the v4 spec)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tvilling.dtdl import ModelError, PrimitiveSchema, parse_models

C2, C3, C4 = "dtmi:dtdl:context;2", "dtmi:dtdl:context;3", "dtmi:dtdl:context;4"


def iface(ctx: Any = C3, contents: Any = (), **extra: Any) -> dict[str, Any]:
    return {"@context": ctx, "@id": "dtmi:ex:I;1", "@type": "Interface", "contents": list(contents), **extra}


def prop(name: str = "p", schema: Any = "double", **extra: Any) -> dict[str, Any]:
    return {"@type": "Property", "name": name, "schema": schema, **extra}


def problems(docs: list[Any], allow: bool = True) -> list[str]:
    try:
        parse_models(docs, allow_undefined_extensions=allow)
    except ModelError as exc:
        assert exc.problems and all(p.message and p.where for p in exc.problems)
        return [p.message for p in exc.problems]
    return []


def nest(depth: int) -> Any:
    schema: Any = "double"
    for _ in range(depth):
        schema = {"@type": "Array", "elementSchema": schema}
    return schema


def chain(n: int, ctx: str) -> list[dict[str, Any]]:
    docs = []
    for i in range(n + 1):
        d: dict[str, Any] = {"@context": ctx, "@id": f"dtmi:ex:I{i};1", "@type": "Interface"}
        if i < n:
            d["extends"] = f"dtmi:ex:I{i + 1};1"
        docs.append(d)
    return docs


INVALID = {
    "missing context": [{"@id": "dtmi:ex:I;1", "@type": "Interface"}],
    "extension context first": [iface(["dtmi:dtdl:extension:quantitativeTypes;1", C3])],
    "context not a string": [iface(C3, [{**prop(), "@context": 626}])],
    "undefined context (disallowed)": [iface([C3, "dtmi:arbitrary:context;1"])],
    "bad dtmi": [{**iface(), "@id": "dtmi:ex::I;1"}],
    "reserved prefix": [{**iface(), "@id": "dtmi:dtdl:mine;1"}],
    "v2 needs a version": [{**iface(C2), "@id": "dtmi:ex:I"}],
    "interface id too long": [{**iface(), "@id": "dtmi:ex:" + "a" * 130 + ";1"}],
    "bad name": [iface(C3, [prop("1abc")])],
    "name too long": [iface(C3, [prop("a" * 513)])],
    "duplicate names": [iface(C3, [prop("a"), prop("a")])],
    "duplicate names via extends": [iface(C3, [prop("a")], extends={"@id": "dtmi:ex:B;1", "@type": "Interface",
                                                                    "contents": [prop("a")]})],
    "missing schema": [iface(C3, [{"@type": "Telemetry", "name": "t"}])],
    "two material types": [iface(C3, [{**prop(), "@type": ["Property", "Telemetry"]}])],
    "undefined co-type (disallowed)": [iface(C3, [{**prop(), "@type": ["Property", "Foo"]}])],
    "undefined property": [iface(C3, [{**prop(), "foo": 1}])],
    "term and dtmi of one property": [iface(C3, [{**prop(), "dtmi:dtdl:property:schema;3": "long"}])],
    "displayName too long": [{**iface(), "displayName": "x" * 513}],
    "bad language tag": [{**iface(), "displayName": {"English": "x"}}],
    "two default-language strings": [{**iface(), "description": ["a", "b"]}],
    "writable not boolean": [iface(C3, [prop(writable="yes")])],
    "maxMultiplicity zero": [iface(C3, [{"@type": "Relationship", "name": "r", "maxMultiplicity": 0}])],
    "minMultiplicity one": [iface(C3, [{"@type": "Relationship", "name": "r", "minMultiplicity": 1}])],
    "relationship target not a DTMI": [iface(C3, [{"@type": "Relationship", "name": "r", "target": "Room"}])],
    "undefined schema reference": [iface(C3, [prop(schema="dtmi:ex:Nope;1")])],
    "schema is a command": [iface(C3, [prop(schema={"@type": "Command", "name": "c"})])],
    "enum value type mismatch": [iface(C3, [prop(schema={"@type": "Enum", "valueSchema": "integer",
                                                          "enumValues": [{"name": "a", "enumValue": "x"}]})])],
    "enum valueSchema double": [iface(C3, [prop(schema={"@type": "Enum", "valueSchema": "double",
                                                         "enumValues": [{"name": "a", "enumValue": 1}]})])],
    "map key not string": [iface(C3, [prop(schema={"@type": "Map", "mapKey": {"name": "k", "schema": "integer"},
                                                    "mapValue": {"name": "v", "schema": "double"}})])],
    "duplicate ids": [iface(), {**iface(), "contents": []}],
    "extends cycle": [{**iface(), "@id": "dtmi:ex:A;1", "extends": "dtmi:ex:B;1"},
                      {**iface(), "@id": "dtmi:ex:B;1", "extends": "dtmi:ex:A;1"}],
    "extends depth v3": chain(11, C3),
    "extends depth v4": chain(13, C4),
    "schema depth v3": [iface(C3, [prop(schema=nest(6))])],
    "schema depth v4": [iface(C4, [prop(schema=nest(9))])],
    "self-referential schema v3": [iface(C3, [prop(schema={"@id": "dtmi:ex:S;1", "@type": "Array",
                                                            "elementSchema": "dtmi:ex:S;1"})])],
    "component of component": [iface(C3, [{"@type": "Component", "name": "c", "schema": {
        "@id": "dtmi:ex:C;1", "@type": "Interface",
        "contents": [{"@type": "Component", "name": "d", "schema": "dtmi:ex:D;1"}]}}]),
                               {**iface(), "@id": "dtmi:ex:D;1"}],
    "top level telemetry": [{"@context": C3, "@id": "dtmi:ex:T;1", "@type": "Telemetry", "name": "t",
                             "schema": "double"}],
    "v2 property array": [iface(C2, [prop(schema={"@type": "Array", "elementSchema": "double"})])],
    "v2 semantic type without unit": [iface(C2, [{**prop(), "@type": ["Property", "Temperature"]}])],
    "v2 unit of the wrong kind": [iface(C2, [{**prop(), "@type": ["Property", "Temperature"], "unit": "metre"}])],
    "v3 unit of the wrong kind": [iface([C3, "dtmi:dtdl:extension:quantitativeTypes;1"],
                                        [{**prop(), "@type": ["Property", "Temperature"], "unit": "metre"}])],
    "v3 semantic type needs numeric schema": [iface([C3, "dtmi:dtdl:extension:quantitativeTypes;1"], [
        {**prop(schema="string"), "@type": ["Property", "Temperature"], "unit": "degreeCelsius"}])],
    "historized command": [iface([C3, "dtmi:dtdl:extension:historization;1"],
                                 [{"@type": ["Command", "Historized"], "name": "c"}])],
    "annotation of nothing": [iface([C3, "dtmi:dtdl:extension:annotation;1"],
                                    [prop("a"), {**prop("b", "string"), "@type": ["Property", "ValueAnnotation"],
                                                 "annotates": "zzz"}])],
    "mqtt bad topic": [iface([C3, "dtmi:dtdl:extension:mqtt;1"], **{"@type": ["Interface", "Mqtt"],
                                                                    "payloadFormat": "json", "telemetryTopic": "a b"})],
    "v4 primitive in v3": [iface(C3, [prop(schema="uuid")])],
    "v4 nullable in v3": [iface(C3, [{"@type": "Command", "name": "c", "request": {
        "name": "r", "schema": "double", "nullable": True}}])],
    "quantitativeTypes 1 in v4": [iface([C4, "dtmi:dtdl:extension:quantitativeTypes;1"])],
    "limit extension without limitless": [iface([C4, "dtmi:dtdl:limits:onvif;1"])],
    "limitless without limit extension": [iface(["dtmi:dtdl:context;4#limitless"])],
    "limitless in v3": [iface(["dtmi:dtdl:context;3#limitless", "dtmi:dtdl:limits:onvif;1"])],
    "onvif depth 25": [iface(["dtmi:dtdl:context;4#limitless", "dtmi:dtdl:limits:onvif;1"],
                             [prop(schema=nest(25))])],
    "v4 description 4000": [{**iface(C4), "description": "x" * 4000}],
    "mqtt3 result field outside Result": [iface([C4, "dtmi:dtdl:extension:mqtt;3"], [prop(schema={
        "@type": "Object", "fields": [{"@type": ["Field", "NormalResult"], "name": "ok", "schema": "double"}]})])],
    "mqtt3 duplicate index": [iface([C4, "dtmi:dtdl:extension:mqtt;3"], [
        {"@type": ["Telemetry", "Indexed"], "name": "a", "schema": "double", "index": 1},
        {"@type": ["Telemetry", "Indexed"], "name": "b", "schema": "double", "index": 1}])],
}

VALID = {
    "minimal v2": [iface(C2)],
    "minimal v3 without version": [{**iface(), "@id": "dtmi:ex:I"}],
    "v2 semantic type": [iface(C2, [{**prop(), "@type": ["Telemetry", "Temperature"], "unit": "degreeCelsius"}])],
    "v3 quantitative types": [iface([C3, "dtmi:dtdl:extension:quantitativeTypes;1"], [
        {**prop(), "@type": ["Property", "Temperature"], "unit": "degreeCelsius"}])],
    "v3 property array (geospatial)": [iface(C3, [prop(schema="point"), prop("a", {"@type": "Array",
                                                                                    "elementSchema": "string"})])],
    "undefined co-type allowed": [iface([C3, "dtmi:ex:ext;1"], [{**prop(), "@type": ["Property", "Foo"],
                                                                  "foo": 1}])],
    "localized strings": [{**iface(), "displayName": {"en": "A", "de": "B"},
                           "description": [{"@value": "x", "@language": "fr"}, "y"]}],
    "interface schemas": [iface(C3, [prop(schema="dtmi:ex:E;1")], schemas=[
        {"@id": "dtmi:ex:E;1", "@type": "Enum", "valueSchema": "string",
         "enumValues": [{"name": "a", "enumValue": "a"}]}])],
    "mixed versions": [iface(C2), {**iface(C4), "@id": "dtmi:ex:J;1", "extends": "dtmi:ex:I;1"}],
    "v4 new primitives": [iface(C4, [prop(n, n) for n in (
        "byte", "bytes", "decimal", "short", "unsignedByte", "unsignedInteger", "unsignedLong", "unsignedShort",
        "uuid", "scaledDecimal")])],
    "v4 self-referential schema": [iface(C4, [prop(schema="dtmi:ex:Node;1")], schemas=[
        {"@id": "dtmi:ex:Node;1", "@type": "Object", "fields": [
            {"name": "v", "schema": "double"},
            {"name": "kids", "schema": {"@type": "Array", "elementSchema": "dtmi:ex:Node;1"}}]}])],
    "v4 nullable": [iface(C4, [{"@type": "Command", "name": "c", "request": {
        "name": "r", "schema": "double", "nullable": True}}])],
    "extends depth v3 = 10": chain(10, C3),
    "extends depth v4 = 12": chain(12, C4),
    "schema depth v3 = 5": [iface(C3, [prop(schema=nest(5))])],
    "schema depth v4 = 8": [iface(C4, [prop(schema=nest(8))])],
    "onvif depth 24": [iface(["dtmi:dtdl:context;4#limitless", "dtmi:dtdl:limits:onvif;1"],
                             [prop(schema=nest(24))])],
    "onvif description 4000": [{**iface(["dtmi:dtdl:context;4#limitless", "dtmi:dtdl:limits:onvif;1"]),
                                "description": "x" * 4000}],
    "v4 quantitative types 2": [iface([C4, "dtmi:dtdl:extension:quantitativeTypes;2"], [
        {**prop(), "@type": ["Telemetry", "Temperature"], "unit": "degreeCelsius"}])],
    "v4 requirement": [iface([C4, "dtmi:dtdl:extension:requirement;1"], [prop(schema={
        "@type": "Object", "fields": [{"@type": ["Field", "Required"], "name": "a", "schema": "double"}]})])],
    "v3 with historization 2": [iface([C3, "dtmi:dtdl:extension:historization;2"],
                                      [{**prop(), "@type": ["Property", "Historized"]}])],
    "v4 annotation": [iface([C4, "dtmi:dtdl:extension:annotation;2"], [
        prop("a"), {**prop("b", "string"), "@type": ["Property", "ValueAnnotation"], "annotates": "a"}])],
    "v4 mqtt3": [iface([C4, "dtmi:dtdl:extension:mqtt;3"], **{
        "@type": ["Interface", "Mqtt"], "payloadFormat": "Json/ecma/404",
        "telemetryTopic": "sample/{senderId}/telemetry", "commandTopic": "sample/command/{commandName}"})],
    "v4 mqtt3 result": [iface([C4, "dtmi:dtdl:extension:mqtt;3"], [{"@type": "Command", "name": "c", "response": {
        "name": "r", "schema": {"@type": ["Object", "Result"], "fields": [
            {"@type": ["Field", "NormalResult"], "name": "ok", "schema": "double"},
            {"@type": ["Field", "ErrorResult"], "name": "err", "schema": {
                "@type": ["Object", "Error"],
                "fields": [{"@type": ["Field", "ErrorMessage"], "name": "msg", "schema": "string"}]}}]}}}])],
}


@pytest.mark.parametrize("name", sorted(INVALID))
def test_invalid(name: str) -> None:
    assert problems(copy.deepcopy(INVALID[name]), allow=False), name


@pytest.mark.parametrize("name", sorted(VALID))
def test_valid(name: str) -> None:
    allow = name.startswith("undefined")
    assert problems(copy.deepcopy(VALID[name]), allow=allow) == []


def test_all_problems_reported_at_once() -> None:
    doc = iface(C3, [prop("1a"), prop("b", "dtmi:ex:Missing;1"), {"@type": "Telemetry", "name": "t"}],
                extends="dtmi:ex:Gone;1")
    found = problems([doc])
    assert len(found) == 4, found


def test_problem_points_at_element_and_document() -> None:
    with pytest.raises(ModelError) as info:
        parse_models([iface(), iface(C3, [prop("x y")])])
    p = info.value.problems[0]
    assert p.file == "1" and p.where.startswith("dtmi:ex:I;1") and "contents" in p.where


def test_v4_schemas_resolve() -> None:
    ms = parse_models(VALID["v4 new primitives"])
    props = ms.get("dtmi:ex:I;1").properties
    assert props["uuid"].schema == PrimitiveSchema("uuid")
    assert ms.validate_twin("dtmi:ex:I;1", {"uuid": "123e4567-e89b-12d3-a456-426614174000", "byte": 12}) == []
    assert ms.validate_twin("dtmi:ex:I;1", {"byte": 300})
    assert ms.validate_twin("dtmi:ex:I;1", {"scaledDecimal": {"scale": 2, "value": "12.5"}}) == []


def test_v4_recursive_schema_validates_instances() -> None:
    ms = parse_models(copy.deepcopy(VALID["v4 self-referential schema"]))
    good = {"p": {"v": 1.0, "kids": [{"v": 2.0, "kids": []}]}}
    assert ms.validate_twin("dtmi:ex:I;1", good) == []
    bad = ms.validate_twin("dtmi:ex:I;1", {"p": {"v": 1.0, "kids": [{"v": "x"}]}})
    assert [p.where for p in bad] == ["/p/kids/0/v"]


def test_inline_component_interface_cannot_reuse_holder_schemas() -> None:
    holder = iface(C4, [{"@type": "Component", "name": "c", "schema": {
        "@id": "dtmi:ex:Inner;1", "@type": "Interface", "contents": [prop(schema="dtmi:ex:S;1")]}}],
        schemas=[{"@id": "dtmi:ex:S;1", "@type": "Enum", "valueSchema": "string",
                  "enumValues": [{"name": "a", "enumValue": "a"}]}])
    assert any("another interface" in m for m in problems([holder]))
    other = iface(C4, [prop(schema="dtmi:ex:S;1")])
    other["@id"] = "dtmi:ex:Other;1"
    owner = iface(C4, schemas=holder["schemas"])
    assert any("another interface" in m for m in problems([owner, other]))


OVERRIDE_CTX = [C4, "dtmi:dtdl:extension:quantitativeTypes;2", "dtmi:dtdl:extension:annotation;2",
                "dtmi:dtdl:extension:overriding;2"]


def _sensor(**override: Any) -> dict[str, Any]:
    """The Override example of the overriding v2 spec."""
    return iface(OVERRIDE_CTX, [
        {"@type": ["Telemetry", "Temperature"], "name": "currentTemp", "schema": "double", "unit": "degreeFahrenheit"},
        {"@type": ["Property", "ValueAnnotation", "Override"], "name": "currentTempUnit", "annotates": "currentTemp",
         "overrides": "unit", "schema": "TemperatureUnit", "writable": True, **override}])


def test_override_spec_example_and_instance_values() -> None:
    ms = parse_models([_sensor()], allow_undefined_extensions=False)
    assert ms.validate_twin("dtmi:ex:I;1", {"currentTempUnit": "degreeCelsius"}) == []
    assert ms.validate_twin("dtmi:ex:I;1", {"currentTempUnit": "metre"})


def test_override_of_inherited_element() -> None:
    base = iface([C4, "dtmi:dtdl:extension:quantitativeTypes;2"], [
        {"@type": ["Telemetry", "Temperature"], "name": "currentTemp", "schema": "double", "unit": "degreeFahrenheit"}])
    base["@id"] = "dtmi:ex:Base;1"
    child = _sensor()
    child["contents"] = child["contents"][1:]
    child["extends"] = "dtmi:ex:Base;1"
    assert problems([base, child], allow=False) == []


@pytest.mark.parametrize("override", [{"schema": "LengthUnit"}, {"overrides": "schema"}, {"annotates": "nothing"}])
def test_override_errors(override: dict[str, Any]) -> None:
    assert problems([_sensor(**override)], allow=False)


def test_interface_text_limit_counts_own_text_only() -> None:
    contents = [prop(f"p{i}", comment="x" * 400) for i in range(2700)]  # about 1.2 MB of JSON
    assert any("exceeds" in m for m in problems([iface(C3, contents)]))
    inner = iface(C3, contents[:1300])
    inner.pop("@context")
    inner["@id"] = "dtmi:ex:Inner;1"
    outer = iface(C3, contents[1300:], extends=inner)  # each part is below 1 MiB on its own
    assert problems([outer]) == []


def test_iotcentral_partner_extension() -> None:
    ctx = ["dtmi:iotcentral:context;2", C2]
    good = iface(ctx, [
        {"@type": ["Telemetry", "VelocityVector"], "name": "speed", "schema": "vector", "unit": "metrePerSecond"},
        {"@type": ["Telemetry", "Location"], "name": "loc", "schema": "geopoint"},
        {"@type": ["Telemetry", "Event"], "name": "ev", "schema": "string"}])
    assert problems([good], allow=False) == []
    wrong_unit = iface(ctx, [{"@type": ["Telemetry", "VelocityVector"], "name": "s", "schema": "vector",
                              "unit": "kelvin"}])
    wrong_schema = iface(ctx, [{"@type": ["Telemetry", "Location"], "name": "loc", "schema": "double"}])
    assert problems([wrong_unit], allow=False) and problems([wrong_schema], allow=False)
