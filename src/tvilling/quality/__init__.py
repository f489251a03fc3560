"""Pure data-quality engine for ingestion: point mappings, unit handling, payload decoding and quality rules.

Plain synchronous code with time passed in (architecture: engines never read a clock, never do I/O).
"""

from tvilling.quality.decode import DecodedMessage, DecodeFailure, decode_payload
from tvilling.quality.mapping import MappingSet, PointSpec, load_mappings, parse_mappings
from tvilling.quality.rules import Assessment, QualityEngine, QualitySettings
from tvilling.quality.units import UnitError, canonical_unit, converter

__all__ = [
    "Assessment",
    "DecodeFailure",
    "DecodedMessage",
    "MappingSet",
    "PointSpec",
    "QualityEngine",
    "QualitySettings",
    "UnitError",
    "canonical_unit",
    "converter",
    "decode_payload",
    "load_mappings",
    "parse_mappings",
]
