from __future__ import annotations

from pathlib import Path

import pytest

from tvilling.quality.mapping import MappingError, load_mappings, parse_mappings

GOOD = {"version": 1, "tenant": "acme", "defaults": {"expected_period_s": 2.0}, "topics": [
    {"topic": "plant/f1/telemetry", "device": "f1", "points": [
        {"pointer": "/points/temp", "twin": "f1", "name": "temp", "unit": "degreeCelsius",
         "instrument_range": [-50, 250], "engineering_range": [0, 120], "max_rate": 5, "may_be_constant": False},
        {"pointer": "/points/running", "twin": "f1", "name": "running", "type": "boolean"}]}]}


def test_valid_document_builds_indexed_points() -> None:
    m = parse_mappings(GOOD)
    assert m.tenant == "acme"
    t = m.for_address("plant/f1/telemetry")
    assert t is not None and t.device == "f1"
    temp = m.point("f1", "temp")
    assert temp is not None
    assert temp.unit_pointer == "/units/temp"  # derived from /points/<name>
    assert temp.expected_period_s == 2.0  # from defaults
    assert temp.unit_required and not temp.may_be_constant
    assert m.point("f1", "nope") is None


def test_every_problem_is_reported_at_once() -> None:
    doc = {"version": 1, "bogus": 1, "topics": [
        {"topic": "a", "points": [
            {"pointer": "points/x", "twin": "t", "name": "x"},                       # bad pointer
            {"pointer": "/p/y", "twin": "", "name": "y", "unit": "furlongs_per_fortnightz"},  # twin, unit
            {"pointer": "/p/z", "twin": "t", "name": "z", "instrument_range": [5, 1]},  # range order
            {"pointer": "/p/w", "twin": "t", "name": "w", "instrument_range": [0, 10],
             "engineering_range": [-1, 5], "scale": 0, "colour": "red"}]},          # eng outside, scale, key
        {"topic": "a", "points": []}]}
    with pytest.raises(MappingError) as exc:
        parse_mappings(doc)
    wheres = [p.where for p in exc.value.problems]
    assert "/bogus" in wheres
    assert "/topics/0/points/0/pointer" in wheres
    assert "/topics/0/points/1/twin" in wheres
    assert "/topics/0/points/1/unit" in wheres
    assert "/topics/0/points/2/instrument_range" in wheres
    assert "/topics/0/points/3/engineering_range" in wheres
    assert "/topics/0/points/3/scale" in wheres
    assert "/topics/0/points/3/colour" in wheres
    assert "/topics/1/topic" in wheres  # mapped twice
    assert len(exc.value.problems) >= 9


def test_incommensurable_source_unit_is_a_problem_and_duplicate_point_too() -> None:
    doc = {"topics": [{"topic": "a", "points": [
        {"pointer": "/x", "twin": "t", "name": "x", "unit": "CEL", "source_unit": "KPA"},
        {"pointer": "/y", "twin": "t", "name": "y"}]},
        {"topic": "b", "points": [{"pointer": "/y", "twin": "t", "name": "y"}]}]}
    with pytest.raises(MappingError) as exc:
        parse_mappings(doc)
    msgs = " ".join(p.message for p in exc.value.problems)
    assert "different quantities" in msgs and "already fed by" in msgs


def test_load_and_reload_from_yaml(tmp_path: Path) -> None:
    f = tmp_path / "m.yaml"
    f.write_text("topics:\n  - topic: a\n    points:\n      - {pointer: /v, twin: t, name: v}\n")
    assert load_mappings(f).point("t", "v") is not None
    f.write_text("topics:\n  - topic: a\n    points:\n      - {pointer: /v, twin: t}\n")
    with pytest.raises(MappingError) as exc:
        load_mappings(f)
    assert exc.value.problems[0].file == str(f)


def test_flat_form_of_the_example_site_loads() -> None:
    example = Path(__file__).resolve().parents[3] / "examples" / "bottling-plant" / "mappings.yaml"
    m = load_mappings(example)
    flow = m.point("pump-1", "flowRate")
    assert flow is not None and flow.pointer == "/points/flow" and flow.unit_pointer == "/units/flow"
    assert len(m.points()) > 20
    flat = {"defaults": {"time_pointer": "/ts", "deadband": 0.5}, "mappings": [
        {"topic": "a", "pointer": "/points/x", "twin": "t", "property": "x", "unit": "degC"},
        {"topic": "a", "pointer": "/points/y", "twin": "t", "property": "y"}]}
    t = parse_mappings(flat).for_address("a")
    assert t is not None and t.time_pointer == "/ts" and [p.name for p in t.points] == ["x", "y"]
    assert t.points[0].deadband == 0.5
