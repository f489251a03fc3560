"""Unit names and conversions.

Accepts DTDL semantic-unit names (``degreeCelsius``, ``kilopascal``), UCUM-style codes as used by OPC UA and many
PLCs (``CEL``, ``FAH``, ``KPA``) and plain pint expressions (``degC``, ``m/s``). Conversions are reduced once per
unit pair to ``value * scale + offset`` (every physical unit conversion we accept is affine), so the hot path does
no pint work.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

import pint

from tvilling.core.errors import ValidationError


class UnitError(ValidationError):
    """A unit is unknown, or two units measure different quantities."""




@lru_cache(maxsize=1)
def _registry() -> Any:
    # Built on first use: creating a pint registry costs ~0.5 s, which a restart after a crash should not pay
    # unless the mappings use units (G3 recovery time).
    return pint.UnitRegistry(autoconvert_offset_to_baseunit=True)


# DTDL v2/v3 semantic unit names (camelCase) and UCUM/UNECE-style codes -> pint expressions.
_ALIASES: dict[str, str] = {
    "degreecelsius": "degC", "cel": "degC", "°c": "degC", "c": "degC", "celsius": "degC",
    "degreefahrenheit": "degF", "fah": "degF", "°f": "degF", "f": "degF", "fahrenheit": "degF",
    "kelvin": "kelvin", "kel": "kelvin", "k": "kelvin",
    "pascal": "pascal", "pal": "pascal", "pa": "pascal",
    "kilopascal": "kilopascal", "kpa": "kilopascal",
    "megapascal": "megapascal", "mpa": "megapascal",
    "bar": "bar", "millibar": "millibar", "mbar": "millibar", "mbr": "millibar",
    "poundpersquareinch": "psi", "psi": "psi",
    "percent": "percent", "%": "percent", "p1": "percent",
    "hertz": "hertz", "hz": "hertz", "htz": "hertz",
    "revolutionperminute": "rpm", "rpm": "rpm",
    "metrepersecond": "m/s", "meterpersecond": "m/s", "mts": "m/s",
    "millimetrepersecond": "mm/s", "millimeterpersecond": "mm/s",
    "metrepersecondsquared": "m/s**2", "meterpersecondsquared": "m/s**2",
    "gforce": "g0", "standardgravity": "g0",
    "watt": "watt", "wtt": "watt", "kilowatt": "kilowatt", "kwt": "kilowatt",
    "kilowatthour": "kilowatt_hour", "kwh": "kilowatt_hour",
    "volt": "volt", "vlt": "volt", "ampere": "ampere", "amp": "ampere",
    "litrepersecond": "liter/s", "literpersecond": "liter/s",
    "litreperminute": "liter/minute", "literperminute": "liter/minute",
    "cubicmetreperhour": "m**3/hour", "cubicmeterperhour": "m**3/hour",
    "kilogram": "kilogram", "kgm": "kilogram", "gram": "gram", "grm": "gram",
    "second": "second", "sec": "second", "millisecond": "millisecond", "minute": "minute", "hour": "hour",
    "newtonmetre": "newton*meter", "newtonmeter": "newton*meter",
    "unity": "dimensionless", "": "dimensionless", "1": "dimensionless",
}


@lru_cache(maxsize=1024)
def _parse(name: str) -> Any:
    key = name.strip()
    expr = _ALIASES.get(key.lower(), key)
    try:
        return _registry().Unit(expr)
    except (pint.errors.UndefinedUnitError, pint.errors.DefinitionSyntaxError, AttributeError, TypeError,
            ValueError, AssertionError) as exc:
        raise UnitError(f"unknown unit {name!r}", hint="use a DTDL unit name, a UCUM code or a pint unit") from exc


def canonical_unit(name: str) -> str:
    """Validate a unit name and return it unchanged (raises :class:`UnitError` if unknown)."""
    _parse(name)
    return name


@lru_cache(maxsize=1024)
def _affine(source: str, target: str) -> tuple[float, float]:
    src, dst = _parse(source), _parse(target)
    if src == dst:
        return 1.0, 0.0
    try:
        zero = float(_registry().Quantity(0.0, src).to(dst).magnitude)
        one = float(_registry().Quantity(1.0, src).to(dst).magnitude)
    except pint.errors.DimensionalityError as exc:
        raise UnitError(f"cannot convert {source!r} to {target!r}: different quantities") from exc
    return one - zero, zero


def _exact_temperature(source: str, target: str) -> Callable[[float], float] | None:
    # °F <-> °C is written in its textbook form so that e.g. 212 °F gives exactly 100.0 (Q-09 "exact").
    s, t = str(_parse(source)), str(_parse(target))
    if s == "degree_Fahrenheit" and t == "degree_Celsius":
        return lambda v: (v - 32.0) * 5.0 / 9.0
    if s == "degree_Celsius" and t == "degree_Fahrenheit":
        return lambda v: v * 9.0 / 5.0 + 32.0
    return None


@lru_cache(maxsize=1024)
def converter(source: str, target: str) -> Callable[[float], float]:
    """A function converting values in ``source`` units to ``target`` units; raises :class:`UnitError`."""
    exact = _exact_temperature(source, target)
    if exact is not None:
        return exact
    scale, offset = _affine(source, target)
    if scale == 1.0 and offset == 0.0:
        return lambda v: v
    return lambda v: v * scale + offset
