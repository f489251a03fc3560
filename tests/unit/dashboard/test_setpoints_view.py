"""The Setpoints page's pure parts: setpoint moves, energy and saving, confidence, autonomy, rows and the cursor."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tvilling.dashboard.pages import setpoints as view


def proposal(**more: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "p1", "loop": "hall-comfort", "twin": "hall", "mode": "auto", "at": "2026-12-04T06:15:00Z",
        "createdAt": "2026-12-04T06:15:02.125000Z", "decision": "sent", "band": {"low": 21.0, "high": 23.0},
        "current": {"heatingSetpoint": 20.0, "coolingSetpoint": 24.0, "energyKwh": 12.34, "minAir": 21.1,
                    "maxAir": 22.0},
        "proposed": {"heatingSetpoint": 20.5, "coolingSetpoint": 24.0, "energyKwh": 10.1, "minAir": 21.2,
                     "maxAir": 22.0},
        "changes": True, "savingKwh": 2.24, "horizonH": 6.0, "held": [], "reasons": ["heating works: ride low"],
        "confidence": {"energyError": 0.12, "outOfDistribution": False, "outdoorRange": [-3.0, 18.5],
                       "confident": True},
        "commands": [{"id": "c1", "command": "set_heating_setpoint_c", "value": 20.5, "state": "acked"}],
    }
    body.update(more)
    return body


def test_setpoints_move_or_are_kept_and_a_held_one_says_why() -> None:
    assert view.move(20.0, 20.5) == "20.0 → 20.5 °C"
    assert view.move(20.75, 21.0) == "20.75 → 21.0 °C"
    assert view.temp(21.333) == "21.33" and view.temp(21) == "21.0" and view.temp(None) == "–"
    assert view.move(24.0, 24.0) == "24.0 °C (kept)"
    assert view.move(24.0, None) == "24.0 °C"
    assert view.move(None, None) == "–"
    moves = view.setpoint_moves(proposal(held=["cooling"]))
    assert moves["heating"] == "20.0 → 20.5 °C"
    assert moves["cooling"].startswith("24.0 °C (kept) (held")
    no_model = view.setpoint_moves({"decision": "no model", "current": {"heatingSetpoint": 19.0,
                                                                        "coolingSetpoint": 25.0}})
    assert no_model == {"heating": "19.0 °C", "cooling": "25.0 °C"}
    assert view.setpoint_moves({"decision": "no model"}) == {"heating": "–", "cooling": "–"}


def test_energy_and_saving_in_words() -> None:
    assert view.energy_text(proposal()) == ("12.3 kWh with the current setpoints → 10.1 kWh proposed, over the next "
                                            "6 h")
    assert view.energy_text({"decision": "no model"}) == "no energy prediction"
    assert view.saving_text(2.24) == "saves 2.2 kWh"
    assert view.saving_text(-0.4) == "uses 0.4 kWh more"
    assert view.saving_text(0.01) == "no saving"
    assert view.saving_text(None) == "–" and view.saving_text(float("nan")) == "–"
    assert view.num(True) == "–" and view.num(21) == "21.0" and view.num(1.234, 2) == "1.23"


def test_the_confidence_gate_in_words() -> None:
    parts = view.confidence_parts(proposal()["confidence"])
    assert parts == {"verdict": "confident", "energyError": "+12%",
                     "outdoor": "within the fitted range (-3.0 … 18.5 °C)"}
    ood = view.confidence_parts({"energyError": None, "outOfDistribution": True, "outdoorRange": [None, None],
                                 "confident": False})
    assert ood["verdict"] == "not confident" and ood["outdoor"] == "outside the fitted range"
    assert ood["energyError"].startswith("not known")
    assert view.confidence_parts(None) == {}
    assert view.confident_cell(proposal()) == ("yes", "text-positive")
    assert view.confident_cell(proposal(confidence={"confident": False}))[0] == "no"
    assert view.confident_cell({"decision": "no model"}) == ("–", "tv-muted")


def test_autonomy_states() -> None:
    loop: dict[str, Any] = {"name": "hall-comfort", "mode": "auto", "autonomy": {
        "enabled": False, "suspendedReason": None, "changedAt": None, "changedBy": None,
        "failures": 0}}
    assert view.autonomy_text(loop) == ("Autonomy off: not enabled yet", "grey-7")
    loop["autonomy"] = {"enabled": True, "suspendedReason": None, "changedAt": "2026-12-04T06:00:00.5Z",
                        "changedBy": "token:eng", "failures": 0}
    assert view.autonomy_text(loop) == ("Autonomy enabled — token:eng at 2026-12-04 06:00:00 UTC", "positive")
    loop["autonomy"] = {"enabled": False, "suspendedReason": "disabled by token:op: window open",
                        "changedAt": "2026-12-04T07:00:00Z", "changedBy": "token:op", "failures": 0}
    text, color = view.autonomy_text(loop)
    assert text == "Autonomy off: disabled by token:op: window open — token:op at 2026-12-04 07:00:00 UTC"
    assert color == "negative"
    text, color = view.autonomy_text({"name": "x", "mode": "recommend", "autonomy": None})
    assert text.startswith("No autonomy in recommend mode") and color == "grey-7"
    assert view.band_text({"band": {"low": 21, "high": 23}, "margin": 0.2}) == "21.0 – 23.0 °C (aims 0.2 K inside)"
    assert view.band_text({"band": {"low": 21, "high": 23}, "margin": 0}) == "21.0 – 23.0 °C"


def test_rows_commands_and_the_page_cursor() -> None:
    row = view.proposal_row(proposal())
    assert row["at"] == "2026-12-04 06:15:00" and row["created"] == "2026-12-04 06:15:02"
    assert (row["decision"], row["decisionColor"]) == ("sent", "positive")
    assert row["heating"] == "20.0 → 20.5 °C" and row["saving"] == "2.24" and row["confident"] == "yes"
    assert row["reasons"] == "heating works: ride low"
    bare = view.proposal_row({"id": "p2", "decision": "no model", "at": "2026-12-04T06:30:00Z",
                              "createdAt": "2026-12-04T06:30:00Z", "reasons": []})
    assert (bare["heating"], bare["saving"], bare["confident"], bare["reasons"]) == ("–", "–", "–", "–")
    assert bare["decisionColor"] == "grey-5"
    [cmd] = view.command_rows(proposal(commands=[{"command": "set_cooling_setpoint_c", "value": 25.25,
                                                  "state": "refused", "reason": "slew limit"}]))
    assert cmd == {"id": "", "command": "set_cooling_setpoint_c", "value": "25.25", "state": "refused",
                   "color": "negative", "reason": "slew limit"}
    items = [proposal(id="b"), proposal(id="a")]
    assert view.next_before(items, 2) == (datetime(2026, 12, 4, 6, 15, 2, 125000, tzinfo=UTC), "a")
    assert view.next_before(items, 3) is None and view.next_before([], 2) is None
    assert view.stamp(None) == "–" and view.stamp("2026-12-04T06:15:00+00:00") == "2026-12-04 06:15:00"


def test_the_commands_states_as_they_are_now() -> None:
    p = proposal(commands=[{"id": "c1", "command": "set_heating_setpoint_c", "value": 20.5, "state": "sent"},
                           {"command": "set_cooling_setpoint_c", "value": 25.0, "state": "refused", "reason": "x"}])
    now = view.with_states(p, {"c1": "acked", "other": "failed"})
    assert [c["state"] for c in now["commands"]] == ["acked", "refused"]
    assert p["commands"][0]["state"] == "sent"  # the stored proposal is left as it was
    bare = {"id": "p", "decision": "no model"}
    assert view.with_states(bare, {"c1": "acked"}) is bare
