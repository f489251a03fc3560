"""The twin page's "If this stops" rows: a twin stopped through a k-of-n rule (``need``) says which other sources
had stopped with it; every other row is as before."""

from __future__ import annotations

from tvilling.dashboard.pages.twin_impact import affected_rows, impact_summary


def test_a_k_of_n_stop_names_the_other_stopped_sources() -> None:
    body = {"twinId": "pump-1", "affected": [
        {"twinId": "filler-1", "effect": "stops", "afterMin": 20, "path": ["pump-1 feeds filler-1"],
         "costPerHour": 0, "with": ["pump-2"]},
        {"twinId": "line-1", "effect": "stops", "afterMin": 20, "costPerHour": 2400,
         "path": ["pump-1 feeds filler-1", "line-1 contains filler-1"]}]}
    filler, line = affected_rows(body)
    assert filler["path"] == "pump-1 —feeds→ filler-1 (with pump-2)"
    assert line["path"] == "pump-1 —feeds→ filler-1 ←contains— line-1" and line["cost"] == "€2,400"


def test_several_failures_name_them_all_and_each_path_starts_where_it_does() -> None:
    body = {"twinId": "conveyor-1", "also": ["pump-1"], "costPerHour": 2400, "repairHours": 8, "affected": [
        {"twinId": "line-1", "effect": "stops", "afterMin": 0, "costPerHour": 2400,
         "path": ["line-1 contains conveyor-1"]},
        {"twinId": "filler-1", "effect": "stops", "afterMin": 20, "costPerHour": 0,
         "path": ["pump-1 feeds filler-1"]}]}
    assert impact_summary(body) == ("If conveyor-1 and pump-1 stop: line-1 and filler-1 stop (filler-1 after "
                                    "20 min) — €2,400/h lost; repair 8 h")
    line, filler = affected_rows(body)
    assert line["path"] == "conveyor-1 ←contains— line-1" and filler["path"] == "pump-1 —feeds→ filler-1"
    assert impact_summary({**body, "also": []}).startswith("If conveyor-1 stops: ")
