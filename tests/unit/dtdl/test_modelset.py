"""The ModelSet API the twin store depends on: inheritance, twin and relationship validation."""

from __future__ import annotations

from typing import Any

import pytest

from tvilling.core.errors import NotFoundError, TvillingError, ValidationError
from tvilling.dtdl import (
    ArraySchema,
    EnumSchema,
    MapSchema,
    ModelError,
    ObjectSchema,
    PrimitiveSchema,
    parse_models,
)

CTX = "dtmi:dtdl:context;3"

ASSET = {
    "@context": CTX, "@id": "dtmi:ex:Asset;1", "@type": "Interface", "displayName": "Asset",
    "contents": [
        {"@type": "Property", "name": "serial", "schema": "string"},
        {"@type": "Property", "name": "commissioned", "schema": "date"},
        {"@type": "Relationship", "name": "feeds", "target": "dtmi:ex:Asset;1", "maxMultiplicity": 3,
         "properties": [{"@type": "Property", "name": "since", "schema": "dateTime"}]},
        {"@type": "Relationship", "name": "locatedIn"},
    ],
}
THERMOSTAT = {
    "@context": CTX, "@id": "dtmi:ex:Thermostat;1", "@type": "Interface",
    "contents": [
        {"@type": "Property", "name": "setpoint", "schema": "double", "writable": True},
        {"@type": "Telemetry", "name": "temp", "schema": "double"},
    ],
}
PUMP = {
    "@context": [CTX, "dtmi:dtdl:extension:quantitativeTypes;1"], "@id": "dtmi:ex:Pump;1", "@type": "Interface",
    "extends": "dtmi:ex:Asset;1",
    "schemas": [{"@id": "dtmi:ex:Mode;1", "@type": "Enum", "valueSchema": "string",
                 "enumValues": [{"name": "auto", "enumValue": "auto"}, {"name": "manual", "enumValue": "manual"}]}],
    "contents": [
        {"@type": ["Property", "AngularVelocity"], "name": "rpm", "schema": "double",
         "unit": "revolutionPerMinute"},
        {"@type": "Property", "name": "mode", "schema": "dtmi:ex:Mode;1"},
        {"@type": "Property", "name": "curve", "schema": {
            "@type": "Object", "fields": [{"name": "flow", "schema": "double"}, {"name": "head", "schema": "double"}]}},
        {"@type": "Property", "name": "tags", "schema": {
            "@type": "Map", "mapKey": {"name": "tag", "schema": "string"},
            "mapValue": {"name": "value", "schema": "integer"}}},
        {"@type": "Property", "name": "history", "schema": {"@type": "Array", "elementSchema": "duration"}},
        {"@type": "Telemetry", "name": "vibration", "schema": "double"},
        {"@type": "Component", "name": "thermostat", "schema": "dtmi:ex:Thermostat;1"},
    ],
}
BOOSTER = {"@context": CTX, "@id": "dtmi:ex:BoosterPump;1", "@type": "Interface",
           "extends": ["dtmi:ex:Pump;1", "dtmi:ex:Thermostat;1"]}
SENSOR = {"@context": CTX, "@id": "dtmi:ex:Sensor;1", "@type": "Interface"}


@pytest.fixture(scope="module")
def ms() -> Any:
    return parse_models([ASSET, [THERMOSTAT, PUMP], BOOSTER, SENSOR])


def test_interfaces_resolved_with_inheritance(ms: Any) -> None:
    assert set(ms.interfaces) == {"dtmi:ex:Asset;1", "dtmi:ex:Thermostat;1", "dtmi:ex:Pump;1",
                                  "dtmi:ex:BoosterPump;1", "dtmi:ex:Sensor;1"}
    pump = ms.get("dtmi:ex:Pump;1")
    assert pump.extends == ("dtmi:ex:Asset;1",)
    assert {"serial", "commissioned", "rpm", "mode", "curve", "tags", "history"} == set(pump.properties)
    assert pump.properties["rpm"].unit == "revolutionPerMinute"
    assert pump.properties["rpm"].semantic_type == "AngularVelocity"
    assert isinstance(pump.properties["mode"].schema, EnumSchema)
    assert isinstance(pump.properties["curve"].schema, ObjectSchema)
    assert isinstance(pump.properties["tags"].schema, MapSchema)
    assert isinstance(pump.properties["history"].schema, ArraySchema)
    assert pump.telemetry["vibration"].schema == PrimitiveSchema("double")
    assert pump.components["thermostat"].schema == "dtmi:ex:Thermostat;1"
    assert pump.relationships["feeds"].max_multiplicity == 3
    booster = ms.get("dtmi:ex:BoosterPump;1")
    assert "setpoint" in booster.properties and "serial" in booster.properties  # both parents
    assert ms.get("dtmi:ex:Asset;1").display_name == "Asset"


def test_subtypes_and_descendants(ms: Any) -> None:
    assert ms.is_subtype("dtmi:ex:BoosterPump;1", "dtmi:ex:Asset;1")
    assert ms.is_subtype("dtmi:ex:BoosterPump;1", "dtmi:ex:Thermostat;1")
    assert ms.is_subtype("dtmi:ex:Pump;1", "dtmi:ex:Pump;1")
    assert not ms.is_subtype("dtmi:ex:Asset;1", "dtmi:ex:Pump;1")
    assert ms.descendants("dtmi:ex:Asset;1") == {"dtmi:ex:Asset;1", "dtmi:ex:Pump;1", "dtmi:ex:BoosterPump;1"}
    assert "dtmi:ex:Pump;1" in ms and "dtmi:ex:Nope;1" not in ms
    with pytest.raises(NotFoundError):
        ms.get("dtmi:ex:Nope;1")


def test_valid_twin(ms: Any) -> None:
    twin = {"serial": "P-1", "commissioned": "2024-02-29", "rpm": 1450.0, "mode": "auto",
            "curve": {"flow": 1.0, "head": 2.5}, "tags": {"a": 1}, "history": ["PT5M", "P1D"],
            "thermostat": {"$metadata": {}, "setpoint": 21.5}, "$metadata": {"$model": "dtmi:ex:Pump;1"}}
    assert ms.validate_twin("dtmi:ex:Pump;1", twin) == []
    assert ms.validate_twin("dtmi:ex:BoosterPump;1", {"setpoint": 3, "serial": "x"}) == []


@pytest.mark.parametrize(("contents", "where"), [
    ({"nope": 1}, "/nope"),
    ({"vibration": 1.0}, "/vibration"),  # telemetry is not settable
    ({"rpm": "fast"}, "/rpm"),
    ({"commissioned": "2024-02-30"}, "/commissioned"),
    ({"commissioned": "2024-01-01T00:00:00Z"}, "/commissioned"),
    ({"mode": "off"}, "/mode"),
    ({"curve": {"flow": 1.0, "speed": 2}}, "/curve/speed"),
    ({"curve": {"flow": "x"}}, "/curve/flow"),
    ({"tags": {"a": 1.5}}, "/tags/a"),
    ({"history": ["5 minutes"]}, "/history/0"),
    ({"thermostat": {"setpoint": 1.0}}, "/thermostat"),  # missing $metadata
    ({"thermostat": {"$metadata": {}, "setpoint": "hot"}}, "/thermostat/setpoint"),
    ({"thermostat": {"$metadata": {}, "temp": 1.0}}, "/thermostat/temp"),
    ({"feeds": "x"}, "/feeds"),
])
def test_invalid_twin(ms: Any, contents: dict[str, Any], where: str) -> None:
    problems = ms.validate_twin("dtmi:ex:Pump;1", contents)
    assert problems, contents
    assert problems[0].where == where
    assert problems[0].message


def test_integer_range_and_unknown_model(ms: Any) -> None:
    assert ms.validate_twin("dtmi:ex:Pump;1", {"tags": {"a": 2**40}})
    assert ms.validate_twin("dtmi:ex:Nope;1", {})


def test_relationships(ms: Any) -> None:
    ok = ms.validate_relationship("dtmi:ex:Pump;1", "feeds", "dtmi:ex:BoosterPump;1",
                                  {"since": "2024-01-01T00:00:00Z"})
    assert ok == []
    # target must be the declared target or a subtype of it
    assert ms.validate_relationship("dtmi:ex:Pump;1", "feeds", "dtmi:ex:Sensor;1", {})
    # untargeted relationship accepts anything
    assert ms.validate_relationship("dtmi:ex:Pump;1", "locatedIn", "dtmi:ex:Sensor;1", {}) == []
    assert ms.validate_relationship("dtmi:ex:Pump;1", "owns", "dtmi:ex:Sensor;1", {})
    bad = ms.validate_relationship("dtmi:ex:Pump;1", "feeds", "dtmi:ex:Asset;1", {"since": "yesterday", "x": 1})
    assert {p.where for p in bad} == {"/since", "/x"}
    assert ms.max_multiplicity("dtmi:ex:BoosterPump;1", "feeds") == 3
    assert ms.max_multiplicity("dtmi:ex:Pump;1", "locatedIn") is None
    with pytest.raises(NotFoundError):
        ms.max_multiplicity("dtmi:ex:Pump;1", "owns")


def test_model_error_lists_every_problem() -> None:
    bad = {"@context": CTX, "@id": "dtmi:ex:Bad;1", "@type": "Interface", "extends": "dtmi:ex:Missing;1",
           "contents": [{"@type": "Property", "name": "1bad", "schema": "double"},
                        {"@type": "Telemetry", "name": "t"},
                        {"@type": "Property", "name": "dup", "schema": "string"},
                        {"@type": "Property", "name": "dup", "schema": "string"}]}
    with pytest.raises(ModelError) as info:
        parse_models([bad])
    err = info.value
    assert isinstance(err, ValidationError) and isinstance(err, TvillingError)
    messages = " | ".join(p.message for p in err.problems)
    assert len(err.problems) >= 3, messages
    assert "name" in messages and "schema" in messages and "dup" in messages
    assert all(p.where for p in err.problems)


def test_cross_document_reference_and_missing_dependency() -> None:
    base = {"@context": CTX, "@id": "dtmi:ex:Base;1", "@type": "Interface"}
    child = {"@context": CTX, "@id": "dtmi:ex:Child;1", "@type": "Interface", "extends": "dtmi:ex:Base;1"}
    assert parse_models([child, base]).is_subtype("dtmi:ex:Child;1", "dtmi:ex:Base;1")
    with pytest.raises(ModelError) as info:
        parse_models([child])
    assert any("dtmi:ex:Base;1" in p.message for p in info.value.problems)


def test_v2_and_v4_documents() -> None:
    v2 = {"@context": "dtmi:dtdl:context;2", "@id": "dtmi:ex:Old;1", "@type": "Interface",
          "contents": [{"@type": ["Telemetry", "Temperature"], "name": "t", "schema": "double",
                        "unit": "degreeCelsius"}]}
    v4 = {"@context": "dtmi:dtdl:context;4", "@id": "dtmi:ex:New;1", "@type": "Interface", "extends": "dtmi:ex:Old;1",
          "contents": [{"@type": "Property", "name": "count", "schema": "unsignedInteger"},
                       {"@type": "Property", "name": "raw", "schema": "bytes"}]}
    ms = parse_models([v2, v4])
    new = ms.get("dtmi:ex:New;1")
    assert new.properties["count"].schema == PrimitiveSchema("unsignedInteger")
    assert new.telemetry["t"].unit == "degreeCelsius"
    assert ms.validate_twin("dtmi:ex:New;1", {"count": 5}) == []
    assert ms.validate_twin("dtmi:ex:New;1", {"count": -5})


def test_semantic_type_and_cotypes() -> None:
    doc = {"@context": [CTX, "dtmi:dtdl:extension:historization;1", "dtmi:dtdl:extension:quantitativeTypes;1"],
           "@id": "dtmi:ex:H;1", "@type": "Interface",
           "contents": [{"@type": ["Telemetry", "Historized", "Temperature"], "name": "t", "schema": "double",
                         "unit": "degreeCelsius"},
                        {"@type": ["Property", "Historized"], "name": "p", "schema": "double"}]}
    iface = parse_models([doc]).get("dtmi:ex:H;1")
    assert iface.telemetry["t"].semantic_type == "Temperature" and iface.telemetry["t"].unit == "degreeCelsius"
    assert iface.telemetry["t"].cotypes == ("Historized", "Temperature")
    assert iface.properties["p"].semantic_type is None and iface.properties["p"].cotypes == ("Historized",)
    assert iface.telemetry["t"].id == "dtmi:ex:H:_contents:__t;1"  # the spec's automatic identifier
