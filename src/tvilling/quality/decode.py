"""Payload decoding: bytes -> JSON document + source time, or a typed failure with a reason (never an exception).

Poison payloads (reliability B-04) are recognised here: empty, oversize, invalid UTF-8, truncated JSON, nesting
deeper than the parser allows, a non-object top level, an unreadable timestamp.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import orjson

from tvilling.core.quality import Reason

DEFAULT_MAX_BYTES = 256 * 1024
# orjson turns integers beyond 64 bits into floats instead of refusing them; any run of 19+ digits goes to the
# standard parser, which keeps them exact. Found by mapping every digit to "0" and searching for 19 of them: two
# C calls, < 1 µs on a typical payload (a regex search took ~6 µs, as long as the parse itself).
_DIGITS_AS_ZERO = bytes(48 if 48 <= b <= 57 else b for b in range(256))
_LONG_RUN = b"0" * 19
_MISSING = object()
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(slots=True)  # not frozen: built once per message, and a frozen dataclass costs ~2x to build
class DecodedMessage:
    doc: dict[str, Any]
    source_time_us: int | None  # None when the payload carries no timestamp
    seq: int | None
    device_id: str | None


@dataclass(frozen=True, slots=True)
class DecodeFailure:
    reason: Reason
    detail: str


def resolve(doc: Any, pointer: str) -> Any:
    """RFC 6901 JSON pointer lookup; returns the module sentinel ``MISSING`` when the path does not exist."""
    return resolve_tokens(doc, split_pointer(pointer))


MISSING = _MISSING


@lru_cache(maxsize=4096)  # pointers come from mappings: few and repeated on every message
def split_pointer(pointer: str) -> tuple[str, ...]:
    if pointer == "":
        return ()
    return tuple(t.replace("~1", "/").replace("~0", "~") for t in pointer[1:].split("/"))


def resolve_tokens(doc: Any, tokens: tuple[str, ...]) -> Any:
    """:func:`resolve` with a pre-split pointer (the hot path: pointers are split once per mapping)."""
    node = doc
    for token in tokens:
        if type(node) is dict:
            node = node.get(token, _MISSING)
            if node is _MISSING:
                return _MISSING
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return _MISSING
    return node


def parse_time_us(value: Any) -> int:
    """A source timestamp -> microseconds since the epoch (UTC). Raises ``ValueError`` when unreadable.

    Numbers are epoch seconds; numbers above 1e11 (year 5138 in seconds) are taken as milliseconds and above 1e14
    as microseconds, since devices commonly send those. Strings are ISO 8601 with an offset (``Z`` accepted);
    a naive string is rejected because its zone is unknowable.
    """
    if isinstance(value, bool):
        raise ValueError("a boolean is not a timestamp")
    if isinstance(value, int | float):
        v = float(value)
        if not math.isfinite(v):
            raise ValueError("non-finite timestamp")
        if abs(v) >= 1e14:
            return int(v)
        if abs(v) >= 1e11:
            return round(v * 1000)
        return round(v * 1_000_000)
    if isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        dt = datetime.fromisoformat(text)
        if dt.tzinfo is None:
            raise ValueError("timestamp without a time zone")
        # Exact integer arithmetic on the timedelta (no float rounding of microseconds).
        delta = dt - _EPOCH
        return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    raise ValueError(f"unsupported timestamp type {type(value).__name__}")


def decode_payload(payload: bytes, *, time_pointer: str = "/source_ts", seq_pointer: str = "/seq",
                   device_pointer: str = "/device_id", max_bytes: int = DEFAULT_MAX_BYTES
                   ) -> DecodedMessage | DecodeFailure:
    if not payload:
        return DecodeFailure(Reason.DECODE_ERROR, "empty payload")
    if len(payload) > max_bytes:
        return DecodeFailure(Reason.OVERSIZE, f"payload of {len(payload)} bytes exceeds {max_bytes}")
    # orjson parses (and checks UTF-8) in C, ~4x faster than the standard library. It is stricter: it refuses
    # NaN/Infinity literals and lone surrogates, which the standard parser accepts (and the quality rules then
    # judge, e.g. NaN -> Bad non_finite). So a refusal is retried with the standard parser, and only what that
    # also refuses is a decode error: the decoded document is the same either way.
    doc: Any = _MISSING
    if payload.translate(_DIGITS_AS_ZERO).find(_LONG_RUN) < 0:
        try:  # noqa: SIM105 — not contextlib.suppress: a context manager per message costs more than the parse
            doc = orjson.loads(payload)
        except orjson.JSONDecodeError:
            pass
    if doc is _MISSING:
        slow = _decode_stdlib(payload)
        if isinstance(slow, DecodeFailure):
            return slow
        doc = slow
    if not isinstance(doc, dict):
        return DecodeFailure(Reason.WRONG_TYPE, f"top level is {type(doc).__name__}, expected an object")
    # Top-level fields (the usual case) are one dict lookup each; deeper pointers walk the document.
    time_tokens, seq_tokens, device_tokens = _field_tokens(time_pointer, seq_pointer, device_pointer)
    raw_ts = doc.get(time_tokens[0], _MISSING) if len(time_tokens) == 1 else resolve_tokens(doc, time_tokens)
    ts: int | None = None
    if raw_ts is not _MISSING and raw_ts is not None:
        if type(raw_ts) is int and _MS_EXACT[0] <= raw_ts < _MS_EXACT[1]:
            ts = raw_ts * 1000  # what parse_time_us returns for these (the float product is exact below 2**53)
        else:
            try:
                ts = parse_time_us(raw_ts)
            except (ValueError, OverflowError, TypeError) as exc:
                return DecodeFailure(Reason.WRONG_TYPE, f"unreadable timestamp at {time_pointer}: {exc}")
    raw_seq = doc.get(seq_tokens[0], _MISSING) if len(seq_tokens) == 1 else resolve_tokens(doc, seq_tokens)
    seq = raw_seq if type(raw_seq) is int else None  # bool is its own type: never a sequence number
    dev = doc.get(device_tokens[0], _MISSING) if len(device_tokens) == 1 else resolve_tokens(doc, device_tokens)
    return DecodedMessage(doc, ts, seq, dev if type(dev) is str else None)


# Epoch milliseconds (parse_time_us reads integers from 1e11 up to 1e14 as milliseconds) whose microsecond value is
# below 2**53, so ``value * 1000`` equals parse_time_us's ``round(float(value) * 1000)`` exactly.
_MS_EXACT = (100_000_000_000, 9_007_199_254_740)


@lru_cache(maxsize=1024)  # one entry per topic mapping's pointer triple
def _field_tokens(time_pointer: str, seq_pointer: str, device_pointer: str
                  ) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    return split_pointer(time_pointer), split_pointer(seq_pointer), split_pointer(device_pointer)


def _decode_stdlib(payload: bytes) -> Any:
    """The standard parser, for what orjson refuses; failures carry the precise reason (UTF-8, syntax, depth)."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        return DecodeFailure(Reason.DECODE_ERROR, f"invalid UTF-8 at byte {exc.start}")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        return DecodeFailure(Reason.DECODE_ERROR, f"invalid JSON: {exc.msg} at {exc.pos}")
    except RecursionError:
        return DecodeFailure(Reason.DECODE_ERROR, "JSON nested too deeply")
    except ValueError as exc:  # an integer literal beyond Python's digit limit (sys.get_int_max_str_digits)
        return DecodeFailure(Reason.DECODE_ERROR, f"invalid JSON number: {exc}"[:300])
    return doc
