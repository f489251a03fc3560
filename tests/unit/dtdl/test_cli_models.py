"""``tvilling models check``: every problem with its file and element id, exit 1; JSON summary with --json."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from tvilling.cli.main import app

CTX = "dtmi:dtdl:context;3"


def write(path: Path, doc: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc), encoding="utf-8")


def test_valid_folder(tmp_path: Path) -> None:
    write(tmp_path / "a" / "base.json", {"@context": CTX, "@id": "dtmi:ex:Base;1", "@type": "Interface"})
    write(tmp_path / "b" / "child.json", {"@context": CTX, "@id": "dtmi:ex:Child;1", "@type": "Interface",
                                          "extends": "dtmi:ex:Base;1"})
    (tmp_path / "notes.txt").write_text("ignored")
    result = CliRunner().invoke(app, ["models", "check", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out == {"valid": True, "interfaces": 2, "problems": []}


def test_broken_model_lists_every_problem(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    write(bad, {"@context": CTX, "@id": "dtmi:ex:Bad;1", "@type": "Interface", "extends": "dtmi:ex:Missing;1",
                "contents": [{"@type": "Property", "name": "1st", "schema": "double"},
                             {"@type": "Telemetry", "name": "t"}]})
    other = tmp_path / "other.json"
    write(other, [{"@context": CTX, "@id": "dtmi:ex:Other;1", "@type": "Interface", "displayName": 5}])
    runner = CliRunner()
    result = runner.invoke(app, ["models", "check", str(bad), str(other)])
    assert result.exit_code == 1
    lines = [ln for ln in result.stdout.splitlines() if ln.startswith(str(tmp_path))]
    assert len(lines) == 4, result.stdout
    assert sum(ln.startswith(f"{bad}: dtmi:ex:Bad;1") for ln in lines) == 3
    assert any(ln.startswith(f"{other}: dtmi:ex:Other;1") for ln in lines)

    as_json = runner.invoke(app, ["models", "check", str(tmp_path), "--json"])
    assert as_json.exit_code == 1
    out = json.loads(as_json.stdout.strip().splitlines()[-1])
    assert out["valid"] is False and out["interfaces"] == 0 and len(out["problems"]) == 4
    assert all(set(p) == {"file", "id", "message"} and p["file"] and p["id"] for p in out["problems"])


def test_unreadable_json_and_missing_path(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text("{not json")
    result = CliRunner().invoke(app, ["models", "check", str(tmp_path), "--json"])
    assert result.exit_code == 1
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["problems"][0]["file"].endswith("x.json")
    missing = CliRunner().invoke(app, ["models", "check", str(tmp_path / "nope")])
    assert missing.exit_code != 0
