"""The physics-model port (architecture guideline 6): native models and the FMU adapter implement it alike.

A model is set up once with :meth:`PhysicsModel.initialize`, then advanced step by step with inputs held
constant over each step (co-simulation, zero-order hold). :meth:`snapshot` and :meth:`restore` let a what-if
fork a running model: restore a snapshot, feed other inputs, compare.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol, runtime_checkable

from tvilling.core.physics import Experiment, Variable


@runtime_checkable
class PhysicsModel(Protocol):
    """A co-simulation model. Values are floats in each variable's own unit; time in seconds.

    Errors: an unknown or non-settable name, or a value that cannot be a number, raises
    :class:`tvilling.core.errors.ValidationError` naming it; a model that refuses valid-looking values or fails
    while stepping raises :class:`tvilling.core.errors.SimulationError` with the model's own messages.
    """

    @property
    def variables(self) -> Sequence[Variable]:
        """Every variable the model declares, parameters, inputs and outputs included."""
        ...

    @property
    def default_experiment(self) -> Experiment:
        """The run the model suggests (FMI ``DefaultExperiment``)."""
        ...

    @property
    def time(self) -> float:
        """The model's current time, seconds."""
        ...

    def initialize(self, values: Mapping[str, float], *, start_time: float = 0.0,
                   stop_time: float | None = None) -> None:
        """Set parameters and inputs' start values, then leave initialisation; may be called again to start over."""
        ...

    def step(self, dt: float, inputs: Mapping[str, float] | None = None) -> dict[str, float]:
        """Hold ``inputs`` over ``dt`` seconds from :attr:`time`; return every output at the step's end."""
        ...

    def outputs(self) -> dict[str, float]:
        """Every output at the current time."""
        ...

    def snapshot(self) -> bytes:
        """The complete state, time included, as bytes that :meth:`restore` accepts on this model."""
        ...

    def restore(self, state: bytes) -> None:
        """Return to a state taken by :meth:`snapshot` (on this model or another instance of the same model)."""
        ...

    def close(self) -> None:
        """Release what the model holds (an FMU's instance and its unpacked files); idempotent."""
        ...
