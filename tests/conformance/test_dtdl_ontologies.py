"""The two reference ontologies load as one model set each, with no problems."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tvilling.dtdl import parse_models

ONTOLOGIES = Path(__file__).resolve().parents[2].parent / "shared" / "ontologies"


@pytest.mark.parametrize(("name", "minimum"), [("energygrid", 100), ("isa95", 70)])
def test_ontology_loads_without_problems(name: str, minimum: int) -> None:
    root = ONTOLOGIES / name
    if not root.is_dir():
        pytest.skip(f"ontology not present at {root}")
    files = sorted(root.rglob("*.json"))
    docs = [json.loads(f.read_text(encoding="utf-8-sig")) for f in files]
    ms = parse_models(docs, allow_undefined_extensions=False)
    assert len(ms.interfaces) >= minimum
    # every interface a model extends or uses as a component resolves inside the set
    for iface in ms.interfaces.values():
        for base in iface.extends:
            assert base in ms
        for comp in iface.components.values():
            assert comp.schema in ms
