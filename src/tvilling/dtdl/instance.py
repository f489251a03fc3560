"""Does a JSON value conform to a DTDL schema? Used for twin properties, relationship properties and commands.

Each check returns a list of problems (empty = conforms); ``where`` is a JSON pointer.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from tvilling.core.errors import Problem
from tvilling.dtdl.types import ArraySchema, EnumSchema, MapSchema, ObjectSchema, PrimitiveSchema, Schema, SchemaRef

Resolver = Callable[[str], Schema | None]

# Formats from the metamodel's instance patterns (RFC 3339 / ISO 8601).
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_DATETIME = re.compile(
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?(?:[Zz]|[+-][0-9]{2}:[0-9]{2})$")
_TIME = re.compile(r"^[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?(?:Z|[+-][0-9]{2}:[0-9]{2})?$")
_DURATION = re.compile(
    r"^P(?!$)(?:(?:(?:\d+Y|\d+\.\d+Y$)?(?:\d+M|\d+\.\d+M$)?)|(?:\d+W|\d+\.\d+W$)?)(?:\d+D|\d+\.\d+D$)?"
    r"(?:T(?!$)(?:\d+H|\d+\.\d+H$)?(?:\d+M|\d+\.\d+M$)?(?:\d+(?:\.\d+)?S)?)?$"
)
_DECIMAL = re.compile(r"^(?:\+|-)?(?:[1-9][0-9]*|0)(?:\.[0-9]*)?$")
_BASE64 = re.compile(r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_INT_RANGES = {
    "integer": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1), "byte": (-128, 127),
    "short": (-(2**15), 2**15 - 1),
    "unsignedByte": (0, 255), "unsignedShort": (0, 2**16 - 1), "unsignedInteger": (0, 2**32 - 1),
    "unsignedLong": (0, 2**64 - 1),
}
_FLOAT_MAX = 3.4028234663852886e38
_GEO_DEPTH = {"point": 1, "multiPoint": 2, "lineString": 2, "multiLineString": 3, "polygon": 3, "multiPolygon": 4}
_GEO_TYPE = {"point": "Point", "multiPoint": "MultiPoint", "lineString": "LineString",
             "multiLineString": "MultiLineString", "polygon": "Polygon", "multiPolygon": "MultiPolygon"}


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and (isinstance(v, int) or math.isfinite(v))


def _is_int(v: Any) -> bool:
    return (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and v.is_integer())


def _valid_date(text: str) -> bool:
    y, m, d = (int(x) for x in text[:10].split("-"))
    if not 1 <= m <= 12 or d < 1:
        return False
    days = [31, 29 if (y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)) else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
    return d <= days[m - 1]


def _valid_clock(text: str) -> bool:
    h, mi, s = int(text[0:2]), int(text[3:5]), int(text[6:8])
    return h <= 23 and mi <= 59 and s <= 60


def _coords(v: Any, depth: int) -> bool:
    if not isinstance(v, list):
        return False
    if depth == 1:
        return 2 <= len(v) <= 3 and all(_is_number(x) for x in v)
    return len(v) >= 1 and all(_coords(x, depth - 1) for x in v)


def _primitive(name: str, v: Any) -> str | None:
    """A message if ``v`` is not a valid ``name`` value, else None."""
    if name == "boolean":
        return None if isinstance(v, bool) else "expected true or false"
    if name in _INT_RANGES:
        lo, hi = _INT_RANGES[name]
        if not _is_int(v):
            return f"expected an integer ({name})"
        return None if lo <= int(v) <= hi else f"{v} is out of range for {name} [{lo}, {hi}]"
    if name == "double":
        return None if _is_number(v) else "expected a number"
    if name == "decimal":  # arbitrary precision: a JSON string, per the v4 metamodel
        return None if isinstance(v, str) and _DECIMAL.match(v) else 'expected a decimal string like "12.50"'
    if name == "bytes":
        return None if isinstance(v, str) and _BASE64.match(v) else "expected a base64 string"
    if name == "float":
        return None if _is_number(v) and abs(float(v)) <= _FLOAT_MAX else "expected a number within float range"
    if name == "string":
        return None if isinstance(v, str) else "expected a string"
    if name == "uuid":
        return None if isinstance(v, str) and _UUID.match(v) else "expected a UUID string"
    if name == "date":
        ok = isinstance(v, str) and bool(_DATE.match(v)) and _valid_date(v)
        return None if ok else "expected a date like 2024-01-31 (RFC 3339 full-date)"
    if name == "dateTime":
        ok = isinstance(v, str) and bool(_DATETIME.match(v)) and _valid_date(v) and _valid_clock(v[11:19])
        return None if ok else "expected a date-time like 2024-01-31T12:00:00Z (RFC 3339)"
    if name == "time":
        ok = isinstance(v, str) and bool(_TIME.match(v)) and _valid_clock(v)
        return None if ok else "expected a time like 12:30:00 (RFC 3339 time)"
    if name == "duration":
        return None if isinstance(v, str) and _DURATION.match(v) else "expected an ISO 8601 duration like PT15M"
    if name in _GEO_DEPTH:
        if not isinstance(v, Mapping) or v.get("type") != _GEO_TYPE[name]:
            return f"expected a GeoJSON {_GEO_TYPE[name]} object"
        return None if _coords(v.get("coordinates"), _GEO_DEPTH[name]) else "GeoJSON coordinates are malformed"
    if name == "scaledDecimal":
        ok = isinstance(v, Mapping) and set(v) <= {"scale", "value"} and _primitive("short", v.get("scale")) is None \
            and _primitive("decimal", v.get("value")) is None
        return None if ok else 'expected {"scale": short integer, "value": "decimal string"}'
    return None  # unknown primitive: accept (forward compatible)


def check_value(schema: Schema, value: Any, where: str = "", resolve: Resolver | None = None) -> list[Problem]:
    """Every way ``value`` fails to conform to ``schema`` (``resolve`` looks up recursive schema references)."""
    if isinstance(schema, SchemaRef):
        target = resolve(schema.id) if resolve else None
        return [] if target is None else check_value(target, value, where, resolve)
    if isinstance(schema, PrimitiveSchema):
        msg = _primitive(schema.name, value)
        return [] if msg is None else [Problem(f"{msg}; got {_show(value)}", where)]
    if isinstance(schema, EnumSchema):
        allowed = [ev.value for ev in schema.values]
        if any(value == a and type(value) is type(a) for a in allowed):
            return []
        return [Problem(f"{_show(value)} is not one of the enum values {allowed}", where)]
    if isinstance(schema, ArraySchema):
        if not isinstance(value, list):
            return [Problem(f"expected an array; got {_show(value)}", where)]
        out: list[Problem] = []
        for i, item in enumerate(value):
            out.extend(check_value(schema.element_schema, item, f"{where}/{i}", resolve))
        return out
    if isinstance(schema, MapSchema):
        if not isinstance(value, Mapping):
            return [Problem(f"expected an object (map); got {_show(value)}", where)]
        out = []
        for k, item in value.items():
            out.extend(check_value(schema.value_schema, item, f"{where}/{_escape(str(k))}", resolve))
        return out
    if isinstance(schema, ObjectSchema):
        if not isinstance(value, Mapping):
            return [Problem(f"expected an object; got {_show(value)}", where)]
        out = []
        names = {f.name for f in schema.fields}
        for k in value:
            if k not in names:
                out.append(Problem(f"unknown field {k!r}; fields are {sorted(names)}", f"{where}/{_escape(str(k))}"))
        for f in schema.fields:
            if f.name in value:
                out.extend(check_value(f.schema, value[f.name], f"{where}/{_escape(f.name)}", resolve))
            elif f.required:
                out.append(Problem(f"required field {f.name!r} is missing", where))
        return out
    return []


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _show(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


escape_pointer = _escape
