"""Shared plumbing for CLI commands that talk to a running server through the SDK."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.json import JSON

from tvilling.cli.output import emit_json, fail
from tvilling.core.errors import TvillingError
from tvilling.sdk import Client

Url = Annotated[str | None, typer.Option("--url", envvar="TVILLING_URL", help="Server URL.", show_envvar=True)]
Token = Annotated[str | None, typer.Option("--token", envvar="TVILLING_TOKEN", help="API token (tvl_…).",
                                           show_envvar=True)]
AsJson = Annotated[bool, typer.Option("--json", help="Print one JSON object on the last stdout line.")]


@contextmanager
def connect(url: str | None, token: str | None) -> Iterator[Client]:
    """A client whose errors become one line on stderr and a non-zero exit."""
    try:
        with Client(url, token) as client:
            yield client
    except TvillingError as exc:
        fail(str(exc))


def show(value: Any, as_json: bool) -> None:
    if as_json:
        emit_json(value)
    else:
        Console().print(JSON.from_data(value))


def load_json_arg(text: str | None, file: Path | None, what: str) -> Any:
    """A JSON value from ``--x '{…}'`` or ``--file F`` (exactly one)."""
    if (text is None) == (file is None):
        fail(f"give the {what} either inline or with --file")
    try:
        raw = file.read_text(encoding="utf-8") if file is not None else str(text)
        return json.loads(raw)
    except OSError as exc:
        fail(f"{file}: {exc.strerror}")
    except ValueError as exc:
        fail(f"the {what} is not valid JSON: {exc}")


def parse_assignments(items: list[str]) -> dict[str, Any]:
    """``name=value`` pairs; values are JSON when they parse as JSON, strings otherwise."""
    out: dict[str, Any] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            fail(f"expected NAME=VALUE, got {item!r}")
        try:
            out[name] = json.loads(value)
        except ValueError:
            out[name] = value
    return out
