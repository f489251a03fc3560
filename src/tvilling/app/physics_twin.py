"""One twin's physics coupling: readings in (source time), model steps and residual insights out. Synchronous and
clock-free; the FMU runs in a session (:class:`tvilling.app.fmu_session.FmuSession`, or anything with its
``initialize``/``steps``/``close``).

Time. The model advances on a fixed grid of ``step`` seconds of *source* time, only as far as every property the
coupling reads has been reported (the data frontier), so a step never uses a value that is about to arrive. Inputs
are held from their last reading at the start of each step (zero-order hold, as in calibration); at each grid point
every output is compared with the measured property's last reading if it is at most one step old (otherwise that
residual is missing). The first grid point after all properties have a reading starts the model, with ``values``
and the ``start`` parameters taken from the readings.

Alerting. After each (re)start the first ``settle_hours`` are not charted (the model's state, started from
measured values, carries their noise and settles with the model's time constants). Then each output's residual
goes through a :class:`~tvilling.simulation.residuals.ResidualChart`: the first
``reference_hours`` are learned as healthy, then a grid point whose chart ratio reaches 1 is anomalous. The first
anomalous point opens an episode (``insight.anomaly``, detector ``physics``, naming the twin properties whose
residuals crossed their limit, the expected and measured values), ``quiet_hours`` without one close it
(``insight.cleared``) — the same insights the ML monitors publish, so work-order rules act on them alike.

Failures. A session that fails (the FMU refuses, crashes or hangs) is closed; the next reading starts a new one at
the frontier (the charts keep what they learned), up to ``MAX_RESTARTS`` times; a configuration the FMU rejects
(an unknown variable) stops the coupling at once. Either way the status says why.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from tvilling.app.monitoring_twin import Insight, good_reading, iso
from tvilling.app.physics_config import CouplingSpec
from tvilling.core.errors import SimulationError, ValidationError
from tvilling.simulation.residuals import ResidualChart

MAX_RESTARTS = 3
MAX_CATCH_UP_STEPS = 10_000  # a longer gap restarts the model at the frontier instead of simulating the outage
MAX_HELD_READINGS = 20_000  # per property, waiting for the model to pass them


class Session(Protocol):
    def initialize(self, values: dict[str, float], start_time: float) -> dict[str, float]: ...

    def steps(self, dt: float, inputs: list[dict[str, float]]) -> list[dict[str, float]]: ...

    def close(self) -> None: ...


@dataclass
class CouplingStats:
    readings: int = 0
    late: int = 0
    skipped: int = 0
    steps: int = 0
    restarts: int = 0


@dataclass
class TwinCoupling:
    spec: CouplingSpec
    open_session: Callable[[], Session]
    stats: CouplingStats = field(default_factory=CouplingStats)

    def __post_init__(self) -> None:
        self.session: Session | None = None
        self.time: float | None = None  # model time, s since the epoch (source time)
        self.started_at = -math.inf  # when the model was last (re)started
        self.readings: dict[str, tuple[list[float], list[float]]] = {p: ([], []) for p in self.spec.properties()}
        self.charts = {name: ResidualChart(self.spec.reference_rows, self.spec.charts) for name in self.spec.outputs}
        self.episode: dict[str, Any] | None = None
        self._last_anomalous = -math.inf
        self.last: dict[str, dict[str, float | None]] = {}
        self.last_score: float | None = None
        self.error: str | None = None
        self.stopped = False
        self.version: int | None = None  # the registry version whose references the charts use
        self.trained: list[dict[str, Any]] = []  # references just learned, waiting to be registered
        self._learning_since: float | None = None

    # -- readings -------------------------------------------------------------------------------------------
    def update(self, changes: dict[str, Any]) -> list[Insight]:
        """Feed one ``twin.telemetry`` change set ``{name: {"new", "quality", "source_time", ...}}``."""
        for name, ch in changes.items():
            series = self.readings.get(name)
            if series is None:
                continue
            good = good_reading(ch)
            if good is None:
                self.stats.skipped += 1
                continue
            value, t_s = good
            times, values = series
            if times and t_s <= times[-1]:
                self.stats.late += 1
                continue
            times.append(t_s)
            values.append(value)
            if len(times) > MAX_HELD_READINGS:  # a property that never reports must not make the others pile up
                del times[0], values[0]
            self.stats.readings += 1
        if self.stopped:
            return []
        try:
            return self._advance()
        except ValidationError as exc:  # the configuration does not fit the FMU: no restart can help
            self._stop(f"stopped: {exc}")
        except SimulationError as exc:
            self._drop_session(exc)
        return []

    def frontier(self) -> float | None:
        """The latest time up to which every property the coupling reads has been reported."""
        lasts = [times[-1] for times, _ in self.readings.values() if times]
        return min(lasts) if len(lasts) == len(self.readings) else None

    # -- the model ------------------------------------------------------------------------------------------
    def _advance(self) -> list[Insight]:
        horizon = self.frontier()
        if horizon is None:
            return []
        step = self.spec.step
        if self.session is None or self.time is None or horizon - self.time > MAX_CATCH_UP_STEPS * step:
            self._start(math.floor(horizon / step) * step)
            return []
        grid = []
        t = self.time
        while t + step <= horizon:
            grid.append(t + step)
            t += step
        if not grid:
            return []
        inputs = [{name: m.to_model(self._held(m.property, tau - step)) for name, m in self.spec.inputs.items()}
                  for tau in grid]
        outputs = self.session.steps(step, inputs)
        self.time = grid[-1]
        self.stats.steps += len(grid)
        self._prune()
        out: list[Insight] = []
        for tau, model in zip(grid, outputs, strict=True):
            out.extend(self._compare(tau, model))
        return out

    def _start(self, t0: float) -> None:
        if self.stats.restarts > MAX_RESTARTS:
            self._stop(f"stopped after {MAX_RESTARTS} restarts: {self.error}")
            return
        if self.session is not None:
            self.session.close()
        values = dict(self.spec.values)
        for name, m in self.spec.start.items():
            values[name] = m.to_model(self._held(m.property, t0, latest=True))
        for name, m in self.spec.inputs.items():
            values[name] = m.to_model(self._held(m.property, t0, latest=True))
        self.session = self.open_session()
        self.session.initialize(values, t0)
        self.time = self.started_at = t0

    def _compare(self, tau: float, model: Mapping[str, float | None]) -> list[Insight]:
        scores: dict[str, float] = {}
        last: dict[str, dict[str, float | None]] = {}  # swapped in whole: the API thread reads it any time
        for name, m in self.spec.outputs.items():
            expected = model.get(name)
            if expected is None and name not in model:
                raise ValidationError(f"the FMU has no output {name!r}", where=f"outputs.{name}")
            measured = self._fresh(m.property, tau)
            residual = (m.to_model(measured) - expected) if measured is not None and expected is not None \
                else math.nan
            settling = tau - self.started_at < self.spec.settle_hours * 3600.0
            if not settling and self._learning_since is None and self.charts[name].reference is None:
                self._learning_since = tau
            ratio = None if settling else self.charts[name].update(residual)
            last[m.property] = {"expected": None if expected is None else m.to_twin(expected),
                                "measured": measured, "residual": None if math.isnan(residual) else residual,
                                "ratio": None if ratio is None else round(ratio, 4)}
            if ratio is not None:
                scores[name] = ratio
        self.last = last
        if len(scores) < len(self.charts):
            if all(c.reference is not None for c in self.charts.values()) and not self.trained \
                    and self.version is None:
                self._record_reference(tau)
            return []  # still learning the reference (or it has just been learned at this step)
        self.last_score = max(scores.values())
        return self._alerting(tau, scores)

    def _alerting(self, tau: float, scores: dict[str, float]) -> list[Insight]:
        score = max(scores.values())
        anomalous = score >= 1.0
        if anomalous:
            self._last_anomalous = tau
        if self.episode is None:
            if not anomalous:
                return []
            crossed = sorted((n for n, r in scores.items() if r >= 1.0), key=lambda n: -scores[n])
            total = sum(scores.values()) or 1.0
            props = {n: self.spec.outputs[n].property for n in self.spec.outputs}
            self.episode = {
                "detector": "physics", "fmu": self.spec.fmu, "score": round(score, 4), "threshold": 1.0,
                "detected_at": iso(tau), "since": iso(tau), "signals": [props[n] for n in crossed],
                "contributions": [{"signal": props[n], "share": round(scores[n] / total, 4),
                                   "deviation": _round(self.last[props[n]]["residual"])} for n in scores],
                "values": {props[n]: self.last[props[n]]["measured"] for n in scores},
                "expected": {props[n]: _round(self.last[props[n]]["expected"]) for n in scores}}
            return [Insight("insight.anomaly", dict(self.episode))]
        if anomalous:
            self.episode = {**self.episode, "peak_score": max(self.episode.get("peak_score", 0.0), round(score, 4))}
            return []
        if tau - self._last_anomalous >= self.spec.quiet_hours * 3600.0:
            closed = {"since": self.episode["since"], "detected_at": self.episode["detected_at"],
                      "cleared_at": iso(tau), "signals": self.episode["signals"], "detector": "physics"}
            self.episode = None
            return [Insight("insight.cleared", closed)]
        return []

    # -- the learned reference (stored in the model registry by the service) -----------------------------------
    def _record_reference(self, tau: float) -> None:
        refs = {name: c.reference.as_dict() for name, c in self.charts.items() if c.reference is not None}
        self.trained.append({"references": refs, "start": self._learning_since or tau, "end": tau,
                             "rows": self.spec.reference_rows})

    def use_references(self, references: dict[str, Any], version: int) -> bool:
        """Start every chart from a reference stored before (registry ``version``); False (and nothing changed)
        when they do not fit this coupling's outputs."""
        from tvilling.simulation.residuals import Reference

        if set(references) != set(self.charts):
            return False
        loaded = {name: Reference.from_dict(doc) for name, doc in references.items()}
        for name, ref in loaded.items():
            self.charts[name].use(ref)
        self.version = version
        return True

    # -- readings as of a time ------------------------------------------------------------------------------
    def _held(self, prop: str, t: float, *, latest: bool = False) -> float:
        """The property's last reading at or before ``t`` (its first one if none is that old, or with ``latest``
        its newest)."""
        times, values = self.readings[prop]
        if latest:
            return values[-1]
        i = bisect.bisect_right(times, t) - 1
        return values[max(i, 0)]

    def _fresh(self, prop: str, t: float) -> float | None:
        """The property's last reading at or before ``t`` if it is at most one step old."""
        times, values = self.readings[prop]
        i = bisect.bisect_right(times, t) - 1
        if i < 0 or t - times[i] > self.spec.step:
            return None
        return values[i]

    def _prune(self) -> None:
        """Forget readings the model has passed (keeping the last one at or before its time)."""
        assert self.time is not None
        for times, values in self.readings.values():
            i = bisect.bisect_right(times, self.time - self.spec.step) - 1
            if i > 0:
                del times[:i]
                del values[:i]

    # -- failures -------------------------------------------------------------------------------------------
    def _drop_session(self, exc: Exception) -> None:
        self.error = str(exc)
        self.stats.restarts += 1
        if self.session is not None:
            self.session.close()
        self.session, self.time = None, None

    def _stop(self, reason: str) -> None:
        self.stopped, self.error = True, reason
        self.close()

    def close(self) -> None:
        if self.session is not None:
            self.session.close()
            self.session = None

    def snapshot(self) -> dict[str, Any]:
        """What the status endpoint shows."""
        learned = min(c.learned for c in self.charts.values())
        if self.stopped:
            phase = "stopped"
        elif self.time is None:
            phase = "waiting" if self.error is None else "restarting"
        elif self.time - self.started_at < self.spec.settle_hours * 3600.0:
            phase = "settling"
        elif learned < self.spec.reference_rows:
            phase = "learning"
        else:
            phase = "watching"
        return {"fmu": self.spec.fmu, "phase": phase, "referenceVersion": self.version,
                "modelTime": None if self.time is None else iso(self.time),
                "step": self.spec.step, "reference": {"rows": self.spec.reference_rows, "learned": learned},
                "outputs": self.last, "score": self.last_score, "episode": dict(self.episode) if self.episode else None,
                "error": self.error, "readings": self.stats.readings, "late": self.stats.late,
                "steps": self.stats.steps, "restarts": self.stats.restarts}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)
