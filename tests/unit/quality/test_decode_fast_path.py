"""The orjson fast path decodes exactly what the standard parser decodes (it only changes the speed).

orjson refuses NaN/Infinity literals, integers beyond 64 bits and lone surrogates; those payloads must still
decode through the standard parser, so the quality rules judge them (NaN -> Bad non_finite), not the decoder.
"""

from __future__ import annotations

import json
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from tvilling.quality.decode import DecodedMessage, DecodeFailure, decode_payload


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def test_what_orjson_refuses_still_decodes_like_the_standard_parser() -> None:
    for text in ('{"points": {"a": NaN, "b": Infinity, "c": -Infinity}}', '{"points": {"a": 2e400}}',
                 '{"points": {"a": 123456789012345678901234567890, "b": -9223372036854775809}}',
                 '{"points": {"a": "\\ud800"}}'):
        out = decode_payload(text.encode())
        assert isinstance(out, DecodedMessage), text
        assert _same(out.doc, json.loads(text)), text


def test_invalid_input_keeps_its_precise_reason() -> None:
    out = decode_payload(b'{"a": "\xff"}')
    assert isinstance(out, DecodeFailure) and out.detail.startswith("invalid UTF-8 at byte 7")
    out = decode_payload(b'{"a": 1')
    assert isinstance(out, DecodeFailure) and out.detail.startswith("invalid JSON")


@settings(max_examples=300, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=5),
                    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=3), c, max_size=3)))
def test_fast_path_equals_the_standard_parser(value: object) -> None:
    text = json.dumps({"points": value})
    out = decode_payload(text.encode())
    assert isinstance(out, DecodedMessage)
    assert _same(out.doc, json.loads(text))
