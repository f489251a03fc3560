"""The conformance suite every :class:`tvilling.ports.physics.PhysicsModel` passes (native models and FMUs alike).

``make`` builds a fresh, uninitialised instance; ``inputs`` is one set of input values the model accepts.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import pytest

from tvilling.core.errors import SimulationError, ValidationError
from tvilling.ports.physics import PhysicsModel


def _run(model: PhysicsModel, steps: int, dt: float, inputs: Mapping[str, float]) -> list[dict[str, float]]:
    return [model.step(dt, inputs) for _ in range(steps)]


def check_physics_model(make: Callable[[], PhysicsModel], inputs: Mapping[str, float], *, dt: float = 60.0) -> None:
    first, second = make(), make()
    try:
        assert isinstance(first, PhysicsModel)
        names = [v.name for v in first.variables]
        assert len(names) == len(set(names)), "variable names are unique"
        outputs = {v.name for v in first.variables if v.causality == "output"}
        assert outputs, "a model has at least one output"

        # Not initialised yet: a clear SimulationError, not a crash.
        with pytest.raises(SimulationError):
            first.step(dt, inputs)

        first.initialize({}, start_time=100.0)
        assert first.time == 100.0
        start = first.outputs()
        assert set(start) == outputs and all(math.isfinite(v) for v in start.values())

        # Deterministic: a second instance fed the same inputs gives the same values.
        second.initialize({}, start_time=100.0)
        run1, run2 = _run(first, 20, dt, inputs), _run(second, 20, dt, inputs)
        assert run1 == run2
        assert first.time == pytest.approx(100.0 + 20 * dt)
        assert run1[-1] != start, "the inputs move the model"

        # Snapshot, run on, restore, run again: the same continuation, the clock restored too.
        state, at = first.snapshot(), first.time
        ahead = _run(first, 10, dt, inputs)
        first.restore(state)
        assert first.time == at
        assert _run(first, 10, dt, inputs) == ahead

        # A snapshot forks another instance of the same model (what-if).
        second.restore(state)
        assert second.time == at and _run(second, 10, dt, inputs) == ahead

        # Initialising again starts over.
        first.initialize({}, start_time=100.0)
        assert first.outputs() == start and _run(first, 20, dt, inputs) == run1

        # Bad input gets a clear error naming the variable; the model survives it.
        with pytest.raises(ValidationError, match="no_such_variable"):
            first.initialize({"no_such_variable": 1.0})
        output = sorted(outputs)[0]
        with pytest.raises(ValidationError, match=output):
            first.step(dt, {output: 1.0})
        name = sorted(inputs)[0]
        with pytest.raises(ValidationError, match=name):
            first.step(dt, {name: "warm"})  # type: ignore[dict-item]
        with pytest.raises(ValidationError, match=name):
            first.step(dt, {name: math.nan})
        with pytest.raises(SimulationError):
            first.step(-dt, inputs)
        first.initialize({}, start_time=0.0)
        assert first.outputs() == start

        with pytest.raises(ValidationError):
            first.restore(b"\x00")
    finally:
        first.close()
        first.close()  # idempotent
        second.close()
    with pytest.raises(SimulationError):
        first.step(dt, inputs)
