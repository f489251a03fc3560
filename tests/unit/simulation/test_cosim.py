from __future__ import annotations

import math

import pytest

from tvilling.core.errors import ValidationError
from tvilling.physics.thermal_zone import ThermalZone
from tvilling.simulation.cosim import InputTable, Span, resolve_span, simulate


def test_defaults_come_from_the_models_experiment() -> None:
    span = resolve_span(ThermalZone())
    assert (span.start, span.stop, span.step, span.steps) == (0.0, 86400.0, 60.0, 1440)


def test_the_last_step_is_shortened_to_land_on_the_stop_time() -> None:
    result = simulate(ThermalZone(), resolve_span(ThermalZone(), stop_time=250.0, step=100.0))
    assert result.times == [0.0, 100.0, 200.0, 250.0]
    assert set(result.columns) == {"T", "Q_loss"} and result.units == {"T": "degC", "Q_loss": "W"}


def test_inputs_are_held_between_rows() -> None:
    table = InputTable.from_rows([0.0, 3600.0], {"Q_hvac": [0.0, 5000.0], "T_out": [21.0, 21.0]})
    assert table.at(-5.0) == {"Q_hvac": 0.0, "T_out": 21.0}
    assert table.at(3599.0)["Q_hvac"] == 0.0 and table.at(3600.0)["Q_hvac"] == 5000.0
    result = simulate(ThermalZone(), Span(0.0, 7200.0, 600.0), values={"T_start": 21.0}, inputs=table,
                      record=["T"])
    temps = result.columns["T"]
    assert list(result.columns) == ["T"]
    assert all(t == pytest.approx(21.0) for t in temps[:7])  # in equilibrium until the heater starts at 1 h
    assert temps[-1] > 22.0
    expected = 31.0 + (21.0 - 31.0) * math.exp(-500.0 * 3600.0 / 5.0e6)
    assert temps[-1] == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"stop_time": 0.0}, "must be after the start time"),
    ({"step": 0.0}, "step must be > 0"),
    ({"step": math.inf}, "finite"),
    ({"step": 0.001}, "more than the limit"),
])
def test_bad_spans_are_refused_with_a_fix(kwargs: dict[str, float], match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        resolve_span(ThermalZone(), **kwargs)


def test_bad_input_tables_list_every_problem() -> None:
    with pytest.raises(ValidationError) as err:
        InputTable.from_rows([0.0, 10.0, 5.0], {"Q_hvac": [0.0, math.nan, 1.0], "T_out": [1.0]})
    messages = " | ".join(p.message for p in err.value.problems)
    assert "times must increase" in messages and "non-finite" in messages and "has 1 values" in messages
    with pytest.raises(ValidationError, match="no rows"):
        InputTable.from_rows([], {})


def test_unknown_columns_and_outputs_are_named() -> None:
    table = InputTable.from_rows([0.0], {"Q_hvak": [1.0]})
    with pytest.raises(ValidationError, match="Q_hvak"):
        simulate(ThermalZone(), Span(0.0, 60.0, 60.0), inputs=table)
    with pytest.raises(ValidationError, match="'C' is a parameter"):
        simulate(ThermalZone(), Span(0.0, 60.0, 60.0), record=["C"])


def test_progress_is_reported() -> None:
    seen: list[tuple[int, int]] = []
    simulate(ThermalZone(), Span(0.0, 300.0, 60.0), on_step=lambda done, total: seen.append((done, total)))
    assert seen == [(k, 5) for k in range(1, 6)]
