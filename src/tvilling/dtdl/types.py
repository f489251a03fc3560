"""Resolved, immutable view of a DTDL model set: the small typed objects the store and dashboard inspect.

Schemas are either a primitive name (``PrimitiveSchema("double")``, geospatial ones included, e.g. ``"point"``)
or one of the complex schema classes below. Everything is frozen so one parsed set can be shared freely.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

PRIMITIVES = frozenset(
    {"boolean", "date", "dateTime", "double", "duration", "float", "integer", "long", "string", "time",
     # DTDL v4 additions
     "byte", "bytes", "decimal", "short", "unsignedByte", "unsignedInteger", "unsignedLong", "unsignedShort",
     "uuid", "scaledDecimal"}
)
GEOSPATIAL = frozenset({"point", "multiPoint", "lineString", "multiLineString", "polygon", "multiPolygon"})


def _empty() -> Mapping[str, Any]:
    return MappingProxyType({})


@dataclass(frozen=True)
class PrimitiveSchema:
    """A built-in schema by its DTDL term, e.g. ``"double"``, ``"dateTime"`` or ``"point"``."""

    name: str


@dataclass(frozen=True)
class EnumValue:
    name: str
    value: str | int
    display_name: str | None = None


@dataclass(frozen=True)
class EnumSchema:
    id: str | None
    value_schema: str  # "integer" or "string"
    values: tuple[EnumValue, ...]


@dataclass(frozen=True)
class FieldDef:
    name: str
    schema: Schema
    required: bool = False  # DTDL v4 requirement extension


@dataclass(frozen=True)
class ObjectSchema:
    id: str | None
    fields: tuple[FieldDef, ...]

    def field(self, name: str) -> FieldDef | None:
        for f in self.fields:
            if f.name == name:
                return f
        return None


@dataclass(frozen=True)
class MapSchema:
    id: str | None
    key_name: str
    value_name: str
    value_schema: Schema


@dataclass(frozen=True)
class ArraySchema:
    id: str | None
    element_schema: Schema


@dataclass(frozen=True)
class SchemaRef:
    """A reference back to an enclosing complex schema (DTDL v4 allows recursive schemas); resolve it with
    :meth:`tvilling.dtdl.ModelSet.schema`."""

    id: str


Schema = PrimitiveSchema | EnumSchema | ObjectSchema | MapSchema | ArraySchema | SchemaRef


@dataclass(frozen=True)
class PropertyDef:
    name: str
    schema: Schema
    writable: bool = False
    unit: str | None = None
    semantic_type: str | None = None
    id: str | None = None
    display_name: str | None = None
    description: str | None = None
    cotypes: tuple[str, ...] = ()  # every co-type by term, e.g. ("Temperature", "Historized")


@dataclass(frozen=True)
class TelemetryDef:
    name: str
    schema: Schema
    unit: str | None = None
    semantic_type: str | None = None
    id: str | None = None
    display_name: str | None = None
    description: str | None = None
    cotypes: tuple[str, ...] = ()  # every co-type by term, e.g. ("Temperature", "Historized")


@dataclass(frozen=True)
class CommandPayload:
    name: str
    schema: Schema
    nullable: bool = False


@dataclass(frozen=True)
class CommandDef:
    name: str
    request: CommandPayload | None = None
    response: CommandPayload | None = None
    id: str | None = None
    display_name: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class RelationshipDef:
    name: str
    target: str | None = None
    min_multiplicity: int | None = None
    max_multiplicity: int | None = None
    properties: Mapping[str, PropertyDef] = field(default_factory=_empty)
    writable: bool = False
    id: str | None = None
    display_name: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class ComponentDef:
    name: str
    schema: str  # DTMI of the component's interface
    id: str | None = None
    display_name: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class Interface:
    """An interface with its own and inherited contents merged (inherited first, as ADT does)."""

    id: str
    display_name: str | None
    description: str | None
    extends: tuple[str, ...]
    properties: Mapping[str, PropertyDef]
    telemetry: Mapping[str, TelemetryDef]
    commands: Mapping[str, CommandDef]
    relationships: Mapping[str, RelationshipDef]
    components: Mapping[str, ComponentDef]
    dtdl_version: int = 3
    schemas: tuple[Schema, ...] = ()

    def content_names(self) -> set[str]:
        return {*self.properties, *self.telemetry, *self.commands, *self.relationships, *self.components}
