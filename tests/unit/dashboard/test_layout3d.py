from pathlib import Path

import yaml

from tvilling.dashboard.layout3d import layout

SITE = Path(__file__).resolve().parents[3] / "examples" / "bottling-plant" / "twins.yaml"


def plant() -> tuple[list[str], list[tuple[str, str, str]]]:
    data = yaml.safe_load(SITE.read_text())
    return [t["id"] for t in data["twins"]], [(r["source"], r["name"], r["target"]) for r in data["relationships"]]


def test_bottling_plant_layout_places_machines_in_rows_and_parts_beside_them() -> None:
    ids, edges = plant()
    placed = {p.twin_id: p for p in layout(ids, edges)}
    # Containers and zones are not blocks; every machine and part is.
    assert "bottling-site" not in placed and "line-1" not in placed and "hall" not in placed
    machines = {"pump-1", "filler-1", "conveyor-1", "chiller-1"}
    assert {i for i, p in placed.items() if p.kind == "machine"} == machines
    # The line's machines share a row; equipment the site holds directly gets another.
    assert placed["pump-1"].z == placed["filler-1"].z == placed["conveyor-1"].z != placed["chiller-1"].z
    assert placed["pump-1-bearing"].kind == "part" and placed["pump-1-bearing"].parent == "pump-1"
    assert abs(placed["pump-1-bearing"].x - placed["pump-1"].x) < 2.0
    # No two blocks on the same spot.
    spots = [(round(p.x, 3), round(p.z, 3)) for p in placed.values()]
    assert len(spots) == len(set(spots))


def test_flat_fleet_without_relationships_is_laid_out_in_rows_of_ten() -> None:
    placed = layout([f"m{i:02d}" for i in range(25)], [])
    assert len(placed) == 25
    assert len({p.z for p in placed}) == 3


def test_layout_is_deterministic() -> None:
    ids, edges = plant()
    assert layout(ids, edges) == layout(list(reversed(ids)), list(reversed(edges)))
