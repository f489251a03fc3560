"""The twin page's "If this stops" rows: a twin stopped through a k-of-n rule (``need``) says which other sources
had stopped with it; every other row is as before."""

from __future__ import annotations

from tvilling.dashboard.pages.twin_impact import affected_rows


def test_a_k_of_n_stop_names_the_other_stopped_sources() -> None:
    body = {"twinId": "pump-1", "affected": [
        {"twinId": "filler-1", "effect": "stops", "afterMin": 20, "path": ["pump-1 feeds filler-1"],
         "costPerHour": 0, "with": ["pump-2"]},
        {"twinId": "line-1", "effect": "stops", "afterMin": 20, "costPerHour": 2400,
         "path": ["pump-1 feeds filler-1", "line-1 contains filler-1"]}]}
    filler, line = affected_rows(body)
    assert filler["path"] == "pump-1 —feeds→ filler-1 (with pump-2)"
    assert line["path"] == "pump-1 —feeds→ filler-1 ←contains— line-1" and line["cost"] == "€2,400"
