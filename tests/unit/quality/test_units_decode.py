from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tvilling.core.quality import Reason
from tvilling.quality.decode import DecodedMessage, DecodeFailure, decode_payload, parse_time_us
from tvilling.quality.units import UnitError, converter


@pytest.mark.parametrize(("src", "dst", "value", "expected"), [
    ("FAH", "degreeCelsius", 212.0, 100.0), ("degreeFahrenheit", "CEL", 32.0, 0.0), ("FAH", "CEL", -40.0, -40.0),
    ("KPA", "bar", 100.0, 1.0), ("kilopascal", "pascal", 1.5, 1500.0), ("CEL", "kelvin", 0.0, 273.15),
])
def test_conversions(src: str, dst: str, value: float, expected: float) -> None:
    assert converter(src, dst)(value) == pytest.approx(expected, abs=1e-12)


def test_incommensurable_and_unknown_units_raise() -> None:
    with pytest.raises(UnitError):
        converter("KPA", "degreeCelsius")
    with pytest.raises(UnitError):
        converter("nonsenseunit", "degreeCelsius")


@pytest.mark.parametrize(("payload", "reason"), [
    (b"", Reason.DECODE_ERROR), (b'{"points": {"a": 1', Reason.DECODE_ERROR), (b"\xff\xfe{}", Reason.DECODE_ERROR),
    (b"[" * 100_000 + b"]" * 100_000, Reason.DECODE_ERROR), (b"[" * 50_000 + b"]" * 50_000, Reason.DECODE_ERROR),
    (b"x" * (1 << 20), Reason.OVERSIZE), (b"[1, 2]", Reason.WRONG_TYPE), (b'{"source_ts": true}', Reason.WRONG_TYPE),
    (b'{"source_ts": "2026-01-01T00:00:00"}', Reason.WRONG_TYPE),
])
def test_poison_payloads_fail_with_a_reason(payload: bytes, reason: Reason) -> None:
    out = decode_payload(payload)
    assert isinstance(out, DecodeFailure) and out.reason is reason


def test_timestamps() -> None:
    assert parse_time_us("1970-01-01T00:00:01.5Z") == 1_500_000
    assert parse_time_us("1970-01-01T01:00:00+01:00") == 0
    assert parse_time_us(1.25) == 1_250_000
    assert parse_time_us(1_700_000_000_123) == 1_700_000_000_123_000  # milliseconds
    ok = decode_payload(json.dumps({"device_id": "d", "seq": 3, "source_ts": 10}).encode())
    assert isinstance(ok, DecodedMessage) and ok.source_time_us == 10_000_000 and ok.seq == 3


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2048))
def test_decoder_never_raises(data: bytes) -> None:
    decode_payload(data)


@settings(max_examples=300, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.floats() | st.text(max_size=5),
                    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=3), c, max_size=3)))
def test_decoder_handles_any_json_value(value: object) -> None:
    out = decode_payload(json.dumps({"source_ts": value, "points": value}).encode())
    assert isinstance(out, DecodedMessage | DecodeFailure)
