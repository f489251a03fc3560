"""Shared CLI conventions: one clear line on stderr and a non-zero exit on failure; with ``--json`` the
machine-readable result is one JSON object on the last line of stdout."""

from __future__ import annotations

import json
import math
import sys
from datetime import UTC, datetime
from typing import Any, NoReturn

import typer


def _finite(value: Any) -> Any:
    """Replace NaN/Inf by None: strict JSON parsers reject them (reliability B-06)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def emit_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(_finite(obj), allow_nan=False, default=str) + "\n")
    sys.stdout.flush()


def fail(message: str, code: int = 1) -> NoReturn:
    """Print one line to stderr and exit non-zero."""
    sys.stderr.write("error: " + " ".join(message.split()) + "\n")
    raise typer.Exit(code)


def utc_text(value: str | None) -> str:
    """An API time (ISO, with a zone) as ``YYYY-MM-DD HH:MM:SS`` in UTC, for tables."""
    if not value:
        return "-"
    try:
        return datetime.fromisoformat(value).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return value
