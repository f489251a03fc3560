"""Small DTDL model set used by the store/API tests: a Building contains Floors, a Floor contains Rooms,
a Room has a Thermostat component; Office extends Room (inheritance for relationship targets and queries)."""

from __future__ import annotations

from typing import Any

CTX = "dtmi:dtdl:context;3"
BUILDING = "dtmi:test:Building;1"
FLOOR = "dtmi:test:Floor;1"
ROOM = "dtmi:test:Room;1"
OFFICE = "dtmi:test:Office;1"
THERMOSTAT = "dtmi:test:Thermostat;1"


def models() -> list[dict[str, Any]]:
    return [
        {"@context": CTX, "@id": THERMOSTAT, "@type": "Interface",
         "contents": [{"@type": "Property", "name": "setpoint", "schema": "double", "writable": True}]},
        {"@context": CTX, "@id": ROOM, "@type": "Interface", "displayName": "Room",
         "contents": [{"@type": "Property", "name": "temperature", "schema": "double"},
                      {"@type": "Property", "name": "name", "schema": "string"},
                      {"@type": "Component", "name": "thermostat", "schema": THERMOSTAT}]},
        {"@context": CTX, "@id": OFFICE, "@type": "Interface", "extends": ROOM,
         "contents": [{"@type": "Property", "name": "desks", "schema": "integer"}]},
        {"@context": CTX, "@id": FLOOR, "@type": "Interface",
         "contents": [{"@type": "Property", "name": "level", "schema": "integer"},
                      {"@type": "Relationship", "name": "contains", "target": ROOM,
                       "properties": [{"@type": "Property", "name": "since", "schema": "string"}]},
                      {"@type": "Relationship", "name": "exit", "maxMultiplicity": 1}]},
        {"@context": CTX, "@id": BUILDING, "@type": "Interface",
         "contents": [{"@type": "Property", "name": "address", "schema": "string"},
                      {"@type": "Relationship", "name": "hasFloor", "target": FLOOR}]},
    ]


def room(temperature: float = 20.0, setpoint: float = 21.0, model: str = ROOM) -> dict[str, Any]:
    return {"$metadata": {"$model": model}, "temperature": temperature, "name": "r",
            "thermostat": {"$metadata": {}, "setpoint": setpoint}}
