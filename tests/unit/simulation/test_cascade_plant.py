"""The example site's impact.yaml against the virtual plant's own physics: stop a device in the plant (in process)
and the line's throughput falls to zero when the cascade says it stops, within 10 min — the pump's buffer, the
chiller's warming product — and a device the rules say nothing about (the hall's HVAC) leaves the line running."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tvilling.app.impact import load_config
from tvilling.simulation.cascade import Edge, cascade
from tvilling.virtual_plant import Plant, PlantConfig

SITE = Path(__file__).resolve().parents[3] / "examples" / "bottling-plant"


def _graph() -> tuple[list[Edge], dict[str, str]]:
    doc = yaml.safe_load((SITE / "twins.yaml").read_text(encoding="utf-8"))
    return ([Edge(r["source"], r["name"], r["target"]) for r in doc["relationships"]],
            {t["id"]: t["model"] for t in doc["twins"]})


def _line_stops_after(device: str, minutes: int = 240) -> int | None:
    """Minutes after ``device``'s stop command until line-1 has produced nothing for 5 minutes in a row (jams
    aside: the plant's random jams also stop it, so a stop counts only while they are not the reason)."""
    plant = Plant(PlantConfig(seed=3, faults=[]))
    for _ in range(120):
        plant.step()
    plant.apply_command(device, "stop")
    quiet = 0
    for m in range(1, minutes + 1):
        plant.step()
        state = plant.line.state
        quiet = quiet + 1 if state.throughput_bpm < 1 and state.limited_by != "jam" else 0
        if quiet == 5:
            return m - 4
    return None


@pytest.mark.parametrize("device", ["pump-1", "chiller-1", "hall"])
def test_the_line_stops_when_and_only_when_the_cascade_says(device: str) -> None:
    config = load_config(SITE / "impact.yaml")
    edges, models = _graph()
    predicted = {e.twin: e for e in cascade(edges, config.rules, device, models)}
    observed = _line_stops_after(device)
    if "line-1" not in predicted:
        assert observed is None, f"the plant's line stopped {observed} min after {device}, the cascade says it runs"
        return
    line = predicted["line-1"]
    assert line.effect == "stops" and observed is not None
    # the plant is deterministic here (seed 3, no faults): the example's delays are its own, to within 10 minutes
    assert abs(observed - line.after_min) <= 10, (device, line.after_min, observed)
    assert predicted["filler-1"].after_min == line.after_min  # the line stops because its filler does
