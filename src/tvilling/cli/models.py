"""``tvilling models …``: validate DTDL files and folders as one model set."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from tvilling.cli.output import emit_json, fail
from tvilling.dtdl import ModelError, parse_models

app = typer.Typer(help="DTDL models: check and import.", no_args_is_help=True)


def collect_json_files(paths: list[Path]) -> list[Path]:
    """Files given, plus every *.json under folders given (sorted); a missing path is a one-line error."""
    files: list[Path] = []
    for p in paths:
        if p.is_dir():
            files.extend(sorted(f for f in p.rglob("*.json") if f.is_file()))
        elif p.is_file():
            files.append(p)
        else:
            fail(f"{p}: no such file or folder")
    return files


@app.command("check")
def check(
    paths: Annotated[list[Path], typer.Argument(help="DTDL files or folders (searched recursively for *.json).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    disallow_undefined: Annotated[bool, typer.Option(
        "--disallow-undefined-extensions", help="Reject undefined terms and extensions.")] = False,
) -> None:
    """Validate DTDL files or folders as one model set; list every problem with its file and element id."""
    files = collect_json_files(paths)
    if not files:
        fail("no *.json files found")
    docs: list[Any] = []
    names: list[str] = []
    problems: list[dict[str, str]] = []
    for f in files:
        try:
            docs.append(json.loads(f.read_text(encoding="utf-8-sig")))
            names.append(str(f))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            problems.append({"file": str(f), "id": "", "message": f"not valid JSON: {exc}"})
    interfaces = 0
    if not problems:
        try:
            interfaces = len(parse_models(docs, allow_undefined_extensions=not disallow_undefined))
        except ModelError as exc:
            for p in exc.problems:
                file = names[int(p.file)] if p.file.isdigit() and int(p.file) < len(names) else ""
                hint = f" ({p.hint})" if p.hint else ""
                problems.append({"file": file, "id": p.where, "message": p.message + hint})
    if as_json:
        emit_json({"valid": not problems, "interfaces": interfaces, "problems": problems})
    else:
        for row in problems:
            sys.stdout.write(f"{row['file']}: {row['id'] or '-'}: {row['message']}\n")
        if problems:
            sys.stdout.write(f"{len(problems)} problem(s) in {len(files)} file(s)\n")
        else:
            sys.stdout.write(f"ok: {interfaces} interface(s) in {len(files)} file(s)\n")
    if problems:
        raise typer.Exit(1)
