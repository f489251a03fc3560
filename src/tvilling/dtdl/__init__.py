"""DTDL v2/v3/v4 parser and validator (pure engine: JSON values in, a resolved :class:`ModelSet` out).

    >>> ms = parse_models([{"@context": "dtmi:dtdl:context;3", "@id": "dtmi:ex:Pump;1", "@type": "Interface",
    ...                     "contents": [{"@type": "Property", "name": "rpm", "schema": "double"}]}])
    >>> ms.get("dtmi:ex:Pump;1").properties["rpm"].schema
    PrimitiveSchema(name='double')
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tvilling.core.errors import Problem, ValidationError
from tvilling.dtdl.build import Builder
from tvilling.dtdl.checks import run_checks
from tvilling.dtdl.loader import metamodel
from tvilling.dtdl.modelset import ModelSet
from tvilling.dtdl.parse import Parser
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


class ModelError(ValidationError):
    """The model set is invalid; ``problems`` lists every problem found (``file`` = index of the document)."""


def parse_models(documents: Iterable[Any], *, allow_undefined_extensions: bool = True) -> ModelSet:
    """Parse and validate DTDL documents (each a JSON object or array of objects) together as one model set."""
    ps = Parser(metamodel(), allow_undefined_extensions)
    try:
        for i, doc in enumerate(documents):
            ps.add_document(doc, i)
        run_checks(ps)
    except RecursionError:  # pathological reference chains; every DTDL limit is far below this depth
        ps.err("the models are nested or chained too deeply to check", "$")
    if ps.problems:
        n = len(ps.problems)
        raise ModelError(f"{n} problem{'s' if n != 1 else ''} in the DTDL models: {ps.problems[0].message}",
                         where=ps.problems[0].where, problems=list(ps.problems))
    builder = Builder(ps)
    interfaces = builder.all_interfaces()
    return ModelSet(interfaces, builder.named)


__all__ = [
    "ArraySchema", "CommandDef", "CommandPayload", "ComponentDef", "EnumSchema", "EnumValue", "FieldDef", "Interface",
    "MapSchema", "ModelError", "ModelSet", "ObjectSchema", "PrimitiveSchema", "Problem", "PropertyDef",
    "RelationshipDef", "Schema", "SchemaRef", "TelemetryDef", "parse_models",
]
