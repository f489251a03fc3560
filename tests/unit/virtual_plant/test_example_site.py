"""The bottling-plant example (DTDL models, twin graph, mappings) is valid and consistent with the plant."""

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tvilling.virtual_plant import Plant, PlantConfig
from tvilling.virtual_plant.commands import COMMANDS
from tvilling.virtual_plant.opcua_plc import DEVICE, VARIABLES
from tvilling.virtual_plant.plant_sensors import default_sensors

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "bottling-plant"
EXPECTED_TYPES = {"Site", "Line", "Machine", "Pump", "Motor", "Bearing", "Filler", "Conveyor", "Chiller", "Zone",
                  "Valve"}


def _models() -> dict[str, dict[str, Any]]:
    out = {}
    for f in sorted((EXAMPLE / "models").glob("*.json")):
        doc = json.loads(f.read_text(encoding="utf-8"))
        out[doc["@id"]] = doc
    return out


def _contents(models: dict[str, dict[str, Any]], dtmi: str) -> dict[str, dict[str, Any]]:
    """Contents of an interface including what it inherits through ``extends``."""
    doc = models[dtmi]
    items = {c["name"]: c for c in doc.get("contents", [])}
    base = doc.get("extends")
    if base:
        items = {**_contents(models, base), **items}
    return items


def test_models_are_dtdl_v3_json_one_file_per_type() -> None:
    models = _models()
    assert {m.split(":")[-1].split(";")[0] for m in models} == EXPECTED_TYPES
    for dtmi, doc in models.items():
        assert doc["@context"][0] == "dtmi:dtdl:context;3"
        assert doc["@type"] == "Interface"
        assert dtmi.endswith(";1")
        for c in doc["contents"]:
            if isinstance(c["@type"], list) and c["@type"][0] in ("Telemetry", "Property"):
                assert "unit" in c, f"{dtmi}/{c['name']} has a semantic type but no unit"


def test_models_parse_with_zero_problems() -> None:
    dtdl = pytest.importorskip("tvilling.dtdl")
    docs = [json.loads(f.read_text(encoding="utf-8")) for f in sorted((EXAMPLE / "models").glob("*.json"))]
    model_set = dtdl.parse_models(docs, allow_undefined_extensions=False)
    for dtmi in _models():
        assert model_set.get(dtmi) is not None


def test_twin_graph_refers_to_models_and_declared_relationships() -> None:
    models = _models()
    graph = yaml.safe_load((EXAMPLE / "twins.yaml").read_text(encoding="utf-8"))
    twins = {t["id"]: t for t in graph["twins"]}
    assert len(twins) == len(graph["twins"])
    for t in twins.values():
        assert t["model"] in models
        contents = _contents(models, t["model"])
        for prop in t.get("properties", {}):
            kind = contents[prop]["@type"]
            assert (kind[0] if isinstance(kind, list) else kind) == "Property", f"{t['id']}.{prop}"
    for r in graph["relationships"]:
        src, dst = twins[r["source"]], twins[r["target"]]
        rel = _contents(models, src["model"])[r["name"]]
        assert rel["@type"] == "Relationship"
        if "target" in rel:
            allowed = {rel["target"]}
            chain = dst["model"]
            lineage = [chain]
            while models[chain].get("extends"):
                chain = models[chain]["extends"]
                lineage.append(chain)
            assert allowed & set(lineage), f"{r} target model not allowed"
    # Tree: every twin but the site is reachable from the site through contains / hasPart / drives.
    children: dict[str, set[str]] = {}
    for r in graph["relationships"]:
        if r["name"] in ("contains", "hasPart"):
            children.setdefault(r["source"], set()).add(r["target"])
    seen, todo = set(), ["bottling-site"]
    while todo:
        n = todo.pop()
        seen.add(n)
        todo.extend(children.get(n, set()) - seen)
    assert seen == set(twins)


def test_bearing_geometry_in_twins_matches_the_plant() -> None:
    graph = yaml.safe_load((EXAMPLE / "twins.yaml").read_text(encoding="utf-8"))
    twins = {t["id"]: t for t in graph["twins"]}
    plant = Plant(PlantConfig(faults=[]))
    for drive in plant.drives.values():
        g, props = drive.bearing.geometry, twins[drive.bearing.name]["properties"]
        assert (props["ballCount"], props["ballDiameter"], props["pitchDiameter"], props["contactAngle"]) == (
            g.n_balls, g.ball_diameter_mm, g.pitch_diameter_mm, g.contact_angle_deg)


def test_mappings_cover_every_published_point_and_target_model_contents() -> None:
    models = _models()
    twins = {t["id"]: t for t in yaml.safe_load((EXAMPLE / "twins.yaml").read_text(encoding="utf-8"))["twins"]}
    mapping = yaml.safe_load((EXAMPLE / "mappings.yaml").read_text(encoding="utf-8"))
    rows = mapping["mappings"]
    # chiller-1 and hall come over Sparkplug B in the demo (edge node bottling/virtual-plant), line-1's throughput
    # and speed readback from the line PLC over OPC UA (its namespace is the first the server registers: ns=2);
    # the rest as MQTT JSON. Each point has exactly one source.
    sparkplug = {"chiller-1", "hall"}

    def plc_node(variable: str) -> tuple[str, str]:
        return ("opcua", f"ns=2;s={VARIABLES[variable][0]}")

    published = {plc_node(s.name) if (s.device, s.name) == (DEVICE, "throughput") else
                 (f"sparkplug:bottling/virtual-plant/{s.device}", s.name) if s.device in sparkplug else
                 (f"plant/{s.device}/telemetry", f"/points/{s.name}"): s.unit for s in default_sensors()}
    published[plc_node("line_speed")] = "1/min"  # the PLC's speed setpoint, read back (not a plant sensor)
    mapped = {(f"sparkplug:{r['sparkplug']}", r["metric"]) if "sparkplug" in r else ("opcua", r["node_id"])
              if "node_id" in r else (r["topic"], r["pointer"]): r for r in rows}
    assert len(mapped) == len(rows), "duplicate topic/pointer rows"
    assert set(mapped) == set(published)
    for key, r in mapped.items():
        assert r["unit"] == published[key]
        content = _contents(models, twins[r["twin"]]["model"])[r["property"]]
        kind = content["@type"][0] if isinstance(content["@type"], list) else content["@type"]
        assert kind in ("Telemetry", "Property")


def test_model_commands_match_what_the_plant_accepts() -> None:
    models = _models()
    twins = {t["id"]: t for t in yaml.safe_load((EXAMPLE / "twins.yaml").read_text(encoding="utf-8"))["twins"]}
    for device, command in COMMANDS:
        content = _contents(models, twins[device]["model"]).get(command)
        assert content is not None and content["@type"] == "Command", f"{device}/{command} missing in its model"
