"""Setpoint optimisation for a heated and cooled zone: hold a comfort band with the least HVAC energy.

The zone's own controller stays as it is (a proportional heating loop below the heating setpoint, a cooling loop
above the cooling setpoint); the optimiser chooses the pair of setpoints. A proportional loop has a droop: under a
load of ``P`` kW it holds the air ``P / k`` below its setpoint. So the naive pair (the band's edges) lets the air sag
out of the band under load, and a pair pulled in by a fixed margin wastes energy whenever the load is light. The
least energy that keeps the band is spent when the air rides just inside the band's edge on the working side:
heating to ``low + margin``, cooling to ``high − margin``. The setpoint that achieves that is the edge plus the
droop of the load expected there — which is what this module predicts. Three steps, each pure:

1. :func:`identify` fits, per mode seen in the zone's recent history (regular buckets of air and outdoor
   temperature, HVAC electrical power, occupancy and the setpoints in force), the electrical power that mode needs
   to hold the air at ``T``::

       D(T) = u·(T − T_out) + b·occ + c + s₁·sin φ + s₂·cos φ      (heating spends D, cooling −D)

   (φ the time of day: the sun, the shifts and the walls' stored heat follow the day) and the controller's gain
   ``k`` (kW per K of droop) from the buckets where the loop ran. Least squares over the buckets where that mode
   worked — the operating points the decision needs, which closed-loop data always cover.
   (A wall term, the air's mean over the previous day, was tried: held air makes it collinear with ``c``, and its
   fitted sign wandered.) Before use, the fit on all but the last day predicts that day's HVAC energy from its
   weather, occupancy and air: the confidence figure.
2. :func:`forecast` extends outdoor temperature and occupancy: the same hour a day (occupancy: a week, when the
   history reaches back that far) earlier, shifted by today's outdoor offset.
3. :func:`propose` sets each working mode's setpoint to hold the band's edge under the largest load expected over
   the next ``lookahead`` buckets. A mode with too few buckets in the history to be fitted gets the band's edge
   itself (the rule one would set by hand); that also lets it work, so the next fits can learn its droop.
   Moves are limited per decision (``max_move``, so a slew guard never refuses them), kept on a ``step`` grid, and
   apart by the zone's ``min_gap``. Predicted energy over the forecast is reported for the proposal and for the
   current pair (steady state at each bucket: the droop meets the load).

Measured against fixed setpoints on the virtual plant's zone in ``bench/bench_setpoints.py``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from tvilling.core.errors import ValidationError

POWER_ON_KW = 0.05  # below this the HVAC counts as idle (sensor noise)
MIN_MODE_BUCKETS = 16  # buckets of one mode (heating / cooling) before it is modelled
DAY_S = 86400.0


@dataclass(frozen=True)
class ZoneSeries:
    """Regular buckets ``step_s`` apart, oldest first; NaN where a bucket had no reading."""

    step_s: float
    air: np.ndarray
    outdoor: np.ndarray
    power_kw: np.ndarray
    occupancy: np.ndarray
    heating_sp: np.ndarray
    cooling_sp: np.ndarray
    start_s: float = 0.0  # epoch seconds at the start of the first bucket (for the time of day)

    def __post_init__(self) -> None:
        n = len(self.air)
        if not (math.isfinite(self.step_s) and self.step_s > 0):
            raise ValidationError(f"the bucket width must be > 0 s, got {self.step_s!r}", where="step_s")
        for name in ("outdoor", "power_kw", "occupancy", "heating_sp", "cooling_sp"):
            if len(getattr(self, name)) != n:
                raise ValidationError(f"series {name!r} has {len(getattr(self, name))} buckets, air has {n}",
                                      where=name, hint="pass buckets over one common time axis")

    def __len__(self) -> int:
        return len(self.air)

    def tail(self, n: int) -> ZoneSeries:
        return self._cut(slice(len(self) - n, None), self.start_s + (len(self) - n) * self.step_s)

    def head(self, n: int) -> ZoneSeries:
        return self._cut(slice(None, n), self.start_s)

    def _cut(self, part: slice, start_s: float) -> ZoneSeries:
        return ZoneSeries(self.step_s, self.air[part], self.outdoor[part], self.power_kw[part], self.occupancy[part],
                          self.heating_sp[part], self.cooling_sp[part], start_s=start_s)

    def phase(self, offset: int = 0, n: int | None = None) -> np.ndarray:
        """Time of day (radians) at the middle of buckets ``offset .. offset + n`` (default: this series')."""
        return day_phase(self.start_s + (offset + 0.5) * self.step_s, self.step_s, len(self) if n is None else n)


def day_phase(first_mid_s: float, step_s: float, n: int) -> np.ndarray:
    return 2 * math.pi * (((first_mid_s + np.arange(n) * step_s) / DAY_S) % 1.0)


class IdentificationError(ValidationError):
    """The history cannot support a model (too short, gaps, no excitation)."""


@dataclass(frozen=True)
class ModeFit:
    """The zone's net heat need at air temperature ``T`` in one mode's electricity (kW):
    ``D(T) = u·(T − T_out) + b·occ + c + s1·sin φ + s2·cos φ`` (φ the time of day), positive = heat needed.
    Heating spends ``D``, cooling
    ``−D`` (each mode's own fit, so each carries its own efficiency)."""

    u: float
    b: float
    c: float
    s1: float  # the day's cycle (sun, schedules, the walls' stored heat): s1·sin + s2·cos of the time of day
    s2: float
    k: float  # kW per K of droop (the zone controller's gain, in electricity)
    p_max: float
    samples: int

    def demand(self, air: np.ndarray, outdoor: np.ndarray, occupancy: np.ndarray, phase: np.ndarray) -> np.ndarray:
        return np.asarray(self.u * (air - outdoor) + self.b * occupancy + self.c + self.s1 * np.sin(phase)
                          + self.s2 * np.cos(phase), dtype=float)


@dataclass(frozen=True)
class ZoneModel:
    step_s: float
    heating: ModeFit | None
    cooling: ModeFit | None
    outdoor_range: tuple[float, float]
    samples: int
    replay_energy_error: float = math.nan  # (predicted − actual) / actual HVAC energy on the held-out last day
    unfitted: dict[str, str] = field(default_factory=dict)  # mode -> why it has no fit

    @property
    def heats(self) -> bool:
        return self.heating is not None

    @property
    def cools(self) -> bool:
        return self.cooling is not None

    def as_dict(self) -> dict[str, Any]:
        def mode(m: ModeFit | None) -> dict[str, float] | None:
            return None if m is None else {"u": m.u, "b": m.b, "c": m.c, "s1": m.s1, "s2": m.s2, "k": m.k,
                                           "pMax": m.p_max, "samples": m.samples}
        return {"heating": mode(self.heating), "cooling": mode(self.cooling),
                "outdoorRange": [_finite(x) for x in self.outdoor_range], "samples": self.samples,
                "replayEnergyError": _finite(self.replay_energy_error), "unfitted": dict(self.unfitted)}

    def power(self, fc: Forecast, heating_sp: float, cooling_sp: float) -> tuple[np.ndarray, np.ndarray]:
        """Steady state per bucket: (electrical kW, air temperature) where the droop meets the load; NaN air
        where neither loop works (the air floats between the setpoints)."""
        power, air = np.zeros(len(fc.outdoor)), np.full(len(fc.outdoor), np.nan)
        for m, sp, sign in ((self.heating, heating_sp, 1.0), (self.cooling, cooling_sp, -1.0)):
            if m is None:
                continue
            p = held_power(m, sp, fc, sign)
            on = p > 0
            power = np.where(on, p, power)
            air = np.where(on, sp - sign * p / m.k, air)
        return power, air


def held_power(m: ModeFit, sp: float, fc: Forecast, sign: float) -> np.ndarray:
    """Power (kW, capped at the most seen) with which the loop holds the air below (heating) or above (cooling)
    ``sp``: ``k·(sp − T) = D(T)`` for heating, linear in ``T``, solved in closed form."""
    at_sp = m.demand(np.full(len(fc.outdoor), sp), fc.outdoor, fc.occupancy, fc.phase)
    p = sign * at_sp / (1.0 + m.u / m.k)  # k·|sp − T| = sign·D(T), D linear in T with slope u
    return np.clip(p, 0.0, m.p_max)


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _modes(s: ZoneSeries) -> tuple[np.ndarray, np.ndarray]:
    """Heating and cooling buckets: power on, the air nearer that mode's setpoint (the zone's controller never
    does both at once)."""
    on = np.nan_to_num(s.power_kw) > POWER_ON_KW
    mid = (s.heating_sp + s.cooling_sp) / 2.0
    return on & (s.air < mid), on & (s.air >= mid)


def _fit_mode(s: ZoneSeries, sel: np.ndarray, sign: float) -> tuple[ModeFit | None, str]:
    """The mode's fit, or None and why not."""
    sp = s.heating_sp if sign > 0 else s.cooling_sp
    phase = s.phase()
    x = np.column_stack([s.air - s.outdoor, s.occupancy, np.ones(len(s)), np.sin(phase), np.cos(phase)])
    y = sign * np.nan_to_num(s.power_kw)
    ok = sel & np.isfinite(x).all(axis=1) & np.isfinite(sp)
    if ok.sum() < MIN_MODE_BUCKETS:
        return None, f"{int(ok.sum())} quarter-hours of it, fewer than {MIN_MODE_BUCKETS}"
    # With the time of day in, the day's cycle of the outdoor temperature can be taken by the harmonics instead,
    # and the outdoor coupling comes out wrong-signed; then the day's cycle is left out (one model fewer to trust).
    for cols in (5, 3):
        coef, *_ = np.linalg.lstsq(x[ok][:, :cols], y[ok], rcond=None)
        values = [float(q) for q in coef] + [0.0] * (5 - cols)
        if values[0] > 0:
            break
    u, b, c, s1, s2 = values
    if u <= 0:  # less heat needed when the air is warmer than outside: not a zone this model describes
        return None, f"its fitted load does not grow with the indoor-outdoor difference (u = {u:.3g})"
    gap = sign * (sp - s.air)
    on = ok & (gap > 0.02)
    if on.sum() < MIN_MODE_BUCKETS // 2:
        return None, f"{int(on.sum())} quarter-hours with the air on its side of the setpoint, too few for its droop"
    k = float(np.sum(np.abs(y[on]) * gap[on]) / np.sum(gap[on] ** 2))
    fit = ModeFit(u=u, b=b, c=c, s1=s1, s2=s2, k=k, p_max=float(np.abs(y[ok]).max()), samples=int(ok.sum()))
    return fit, ""


def _fit(s: ZoneSeries) -> ZoneModel:
    heat, cool = _modes(s)
    heating, why_h = _fit_mode(s, heat, +1.0)
    cooling, why_c = _fit_mode(s, cool, -1.0)
    out = s.outdoor[np.isfinite(s.outdoor)]
    notes = {name: why for name, why in (("heating", why_h), ("cooling", why_c)) if why}
    return ZoneModel(step_s=s.step_s, heating=heating, cooling=cooling,
                     outdoor_range=(float(out.min()), float(out.max())) if len(out) else (math.nan, math.nan),
                     samples=int(np.isfinite(s.air).sum()), unfitted=notes)


def replay(model: ZoneModel, s: ZoneSeries) -> float:
    """Relative error of the HVAC energy the model gives over ``s`` (each fitted mode's need at the air that was
    measured, in the buckets that mode worked) against the energy measured in those buckets. A mode without a fit
    makes no prediction to check (its setpoint is a rule: the band's edge)."""
    heat, cool = _modes(s)
    predicted = actual = 0.0
    for m, sel, sign in ((model.heating, heat, 1.0), (model.cooling, cool, -1.0)):
        if m is None or not sel.any():
            continue
        d = sign * m.demand(s.air, _fill(s.outdoor), _fill(s.occupancy), s.phase())
        predicted += float(np.nansum(np.clip(d[sel], 0.0, m.p_max)))
        actual += float(np.nansum(s.power_kw[sel]))
    measured = np.isfinite(s.air) & np.isfinite(s.power_kw)
    if actual <= 1e-6 or measured.mean() < 0.5:  # nothing (or too little) to check the model on: not confident
        return math.nan
    return (predicted - actual) / actual


def hold_last(x: np.ndarray) -> np.ndarray:
    """Forward-fill NaNs with the last finite value before them (those before the first one stay NaN)."""
    ok = np.isfinite(np.asarray(x, dtype=float))
    x = np.where(ok, x, np.nan)
    idx = np.where(ok, np.arange(len(x)), 0)
    np.maximum.accumulate(idx, out=idx)
    return x[idx]  # before the first finite value idx is 0: x[0], NaN unless it is that value


def _fill(x: np.ndarray) -> np.ndarray:
    """Forward-fill NaNs, then back-fill the start; all NaN stays NaN."""
    x = hold_last(x)
    ok = np.isfinite(x)
    if ok.any():
        first = int(np.flatnonzero(ok)[0])
        x[:first] = x[first]
    return x


def identify(s: ZoneSeries, *, validation_s: float = DAY_S) -> ZoneModel:
    """Fit on the history but its last ``validation_s``, replay that span for the confidence figures, then refit
    on everything (the figures describe how well this model class explains data it was not fitted to)."""
    n_val = round(validation_s / s.step_s)
    day = max(1, round(DAY_S / s.step_s))
    complete = int((np.isfinite(s.air) & np.isfinite(s.outdoor) & np.isfinite(s.power_kw)).sum())
    if len(s) - n_val < 2 * day or complete < 2 * day + n_val:
        raise IdentificationError(
            f"{complete * s.step_s / 3600:.1f} h of history with air, outdoor temperature and power; at least "
            f"{(2 * day + n_val) * s.step_s / 3600:.0f} h are needed (two days to fit, the last one to check)",
            where="history", hint="the loop proposes once the zone has reported long enough")
    held = _fit(s.head(len(s) - n_val))
    err = replay(held, s.tail(n_val))
    return replace(_fit(s), replay_energy_error=err)


@dataclass(frozen=True)
class Forecast:
    outdoor: np.ndarray
    occupancy: np.ndarray
    phase: np.ndarray  # time of day, radians


def forecast(s: ZoneSeries, steps: int) -> Forecast:
    """Outdoor temperature a day earlier shifted by today's offset (decaying over a day); occupancy a week
    earlier when the history covers it, else a day earlier."""
    day = max(1, round(DAY_S / s.step_s))
    week = 7 * day
    out = _fill(s.outdoor)
    occ = _fill(s.occupancy)
    n = len(s)
    k = np.arange(1, steps + 1)
    past_out = out[np.clip(n - 1 - day + k, 0, n - 1)]
    offset = out[-1] - out[max(0, n - 1 - day)]
    outdoor = past_out + offset * np.exp(-k / day)
    lag = week if n >= week and steps <= week else day
    occupancy = occ[np.clip(n - 1 - lag + k, 0, n - 1)]
    return Forecast(np.nan_to_num(outdoor, nan=float(np.nanmean(s.outdoor))), np.nan_to_num(occupancy),
                    s.phase(n, steps))


@dataclass(frozen=True)
class Band:
    low: float
    high: float


@dataclass(frozen=True)
class Limits:
    heating: tuple[float, float]
    cooling: tuple[float, float]
    min_gap: float = 1.0  # the zone refuses a heating setpoint closer than this below the cooling one
    step: float = 0.25
    max_move: float = 2.0  # K per decision, per setpoint (stay within a slew guard)


@dataclass(frozen=True)
class Outcome:
    heating_sp: float
    cooling_sp: float
    energy_kwh: float  # predicted over the forecast
    min_air: float | None  # predicted, where a loop holds the air (None: it floats all along)
    max_air: float | None

    def as_dict(self) -> dict[str, float | None]:
        return {"heatingSetpoint": self.heating_sp, "coolingSetpoint": self.cooling_sp,
                "energyKwh": self.energy_kwh, "minAir": self.min_air, "maxAir": self.max_air}


@dataclass(frozen=True)
class Proposal:
    best: Outcome
    current: Outcome
    horizon_s: float
    unmodelled: tuple[str, ...] = ()  # modes without a fit: their setpoint is the band's edge
    reasons: tuple[str, ...] = field(default_factory=tuple)

    @property
    def changes(self) -> bool:
        return (self.best.heating_sp, self.best.cooling_sp) != (self.current.heating_sp, self.current.cooling_sp)


def outcome(model: ZoneModel, fc: Forecast, h: float, c: float) -> Outcome:
    power, air = model.power(fc, h, c)
    held = air[np.isfinite(air)]
    return Outcome(float(h), float(c), float(np.sum(power) * model.step_s / 3600.0),
                   float(held.min()) if len(held) else None, float(held.max()) if len(held) else None)


def _setpoint_for(m: ModeFit, edge: float, fc: Forecast, sign: float, n: int) -> float:
    """The setpoint that holds the air at ``edge`` under the largest load of the next ``n`` buckets."""
    load = sign * m.demand(np.full(n, edge), fc.outdoor[:n], fc.occupancy[:n], fc.phase[:n])
    p = float(np.clip(load.max(initial=0.0), 0.0, m.p_max))
    return edge + sign * p / m.k


def _on_grid(x: float, lo: float, hi: float, current: float, limits: Limits, up: bool) -> float:
    lo, hi = max(lo, current - limits.max_move), min(hi, current + limits.max_move)
    q = (math.ceil if up else math.floor)(x / limits.step - 1e-9 if up else x / limits.step + 1e-9) * limits.step
    return round(min(max(q, lo), hi), 6) if lo <= hi else current


def propose(model: ZoneModel, fc: Forecast, band: Band, limits: Limits,
            current: tuple[float, float], *, margin: float = 0.2, lookahead: int = 2) -> Proposal:
    """Setpoints that hold the air ``margin`` inside ``band`` on the working side with the least energy."""
    low, high = band.low + margin, band.high - margin
    if high <= low:
        raise ValidationError(f"the band {band.low}..{band.high} leaves no room inside a {margin} K margin",
                              where="band", hint="widen the band or lower the margin")
    h_now, c_now = current
    n = max(1, min(lookahead, len(fc.outdoor)))
    unmodelled, reasons = [], []
    need_h = need_c = 0.0
    if model.heating is not None:
        target = _setpoint_for(model.heating, low, fc, 1.0, n)
        need_h = target - low
    else:
        target = low
        unmodelled.append("heating")
    h = _on_grid(target, *limits.heating, h_now, limits, up=True)
    if model.cooling is not None:
        target = _setpoint_for(model.cooling, high, fc, -1.0, n)
        need_c = high - target
    else:
        target = high
        unmodelled.append("cooling")
    c = _on_grid(target, *limits.cooling, c_now, limits, up=False)
    for mode in unmodelled:
        why = model.unfitted.get(mode, "not fitted")
        reasons.append(f"no model of {mode} ({why}): the band's edge")
    if c - h < limits.min_gap - 1e-9:  # the mode under the larger load keeps its setpoint; the other yields
        if need_h >= need_c:
            c = _on_grid(h + limits.min_gap, *limits.cooling, c_now, limits, up=True)
        else:
            h = _on_grid(c - limits.min_gap, *limits.heating, h_now, limits, up=False)
        reasons.append(f"setpoints kept {limits.min_gap} K apart")
        if c - h < limits.min_gap - 1e-9:
            h, c = h_now, c_now
            reasons.append("no pair within the move limit keeps the gap; current setpoints held")
    if abs(h - h_now) > limits.max_move - 1e-9 or abs(c - c_now) > limits.max_move - 1e-9:
        reasons.append(f"moves limited to {limits.max_move} K per decision")
    now = outcome(model, fc, h_now, c_now)
    best = outcome(model, fc, h, c)
    return Proposal(best, now, len(fc.outdoor) * model.step_s, tuple(unmodelled), tuple(reasons))
