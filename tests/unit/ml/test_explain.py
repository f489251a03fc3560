"""The explainer engine on synthetic signals with a known cause: it is found, effects follow it, settings and 0/1
states that moved first come before measurements, a spike is not an onset, gaps and constant references are
handled, and a window without a change says so."""

from __future__ import annotations

import numpy as np
import pytest

from tvilling.core.errors import ValidationError
from tvilling.ml.explain import Settings, Signal, as_dict, explain, level

N_REF, N = 60, 120


def _noise(seed: int, sd: float = 1.0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, sd, N)


def _world() -> tuple[Signal, list[Signal]]:
    """A valve closes at bucket 80 (a measurement that leads), the flow falls two buckets later (the target), a
    motor's power follows the flow one bucket after it (an effect), a temperature only wanders."""
    t = np.arange(N)
    valve = np.where(t >= 80, 40.0, 80.0) + _noise(1, 0.5)
    flow = np.where(t >= 82, 10.0, 20.0) + _noise(2, 0.3)
    power = np.concatenate([[2.0], 0.1 * flow[:-1]]) + _noise(3, 0.02)
    temp = 20 + np.sin(t / 9.0) * 0.3 + _noise(4, 0.05)
    target = Signal("pump", "flow", flow)
    return target, [Signal("valve", "position", valve, hops=1, path=("pump hasPart valve",)),
                    Signal("motor", "power", power, hops=1), Signal("hall", "temperature", temp, hops=2)]


def test_the_leading_cause_comes_first_and_the_lagging_effect_after() -> None:
    target, cands = _world()
    e = explain(target, cands, N_REF, direction="down")
    assert e.changed and e.onset == 82 and e.during == pytest.approx(10.0, abs=0.3)
    order = [c.twin for c in e.contributors]
    assert order[0] == "valve" and order.index("motor") > 0
    valve = e.contributors[0]
    assert valve.onset == 80 and valve.lead == 2 and valve.timing == "changed before"
    assert valve.z < -3 and abs(valve.r) > 0.9 and valve.kind == "measurement"
    motor = next(c for c in e.contributors if c.twin == "motor")
    assert motor.timing == "changed after" and motor.score < valve.score
    temp = next(c for c in e.contributors if c.twin == "hall")
    assert temp.score < 0.2


def test_a_setting_that_moved_with_the_target_is_ranked_before_every_measurement() -> None:
    t = np.arange(N)
    speed = np.where(t >= 90, 400.0, 500.0)
    throughput = speed + _noise(5, 2.0)
    effect = 0.3 * throughput + _noise(6, 0.05)  # correlates with the target better than the setting does
    e = explain(Signal("line", "throughput", throughput),
                [Signal("chiller", "load", effect, hops=2), Signal("line", "speedSetpoint", speed, setting=True)],
                N_REF, direction="down")
    first = e.contributors[0]
    assert (first.name, first.kind, first.first) == ("speedSetpoint", "setting", True)
    assert abs(e.contributors[1].r) >= abs(first.r) - 1e-9  # ranked second despite the better correlation


def test_a_flag_is_a_state_and_a_constant_reference_is_capped_not_infinite() -> None:
    t = np.arange(N)
    jammed = ((t >= 100) & (t < 104)).astype(float)
    throughput = np.where(jammed > 0, 0.0, 500.0) + _noise(7, 2.0)
    e = explain(Signal("line", "throughput", throughput), [Signal("line", "jammed", jammed)], N_REF)
    (c,) = e.contributors
    assert c.kind == "state" and c.first and c.z == 50.0 and c.during == 1.0


def test_a_single_spike_is_not_an_onset() -> None:
    t = np.arange(N)
    flow = np.where(t >= 82, 10.0, 20.0) + _noise(2, 0.3)
    spiky = 5.0 + _noise(8, 0.1)
    spiky[78] = 50.0  # one bad sample before the change
    spiky[82:] += 3.0  # and the real step with the target
    e = explain(Signal("p", "flow", flow), [Signal("s", "x", spiky)], N_REF, direction="down")
    assert e.contributors[0].onset == 82 and e.contributors[0].timing == "changed with"


def test_gaps_and_missing_signals_are_skipped_with_a_reason() -> None:
    target, cands = _world()
    empty = np.full(N, np.nan)
    late = np.full(N, np.nan)
    late[N_REF:] = 1.0
    e = explain(target, [*cands, Signal("a", "dead", empty), Signal("b", "new", late)], N_REF)
    reasons = {(t, n): why for t, n, why in e.skipped}
    assert reasons[("a", "dead")].startswith("fewer than 3 readings") and ("b", "new") in reasons
    gappy = target.values.copy()
    gappy[::3] = np.nan
    assert explain(Signal("pump", "flow", gappy), cands, N_REF).contributors[0].twin == "valve"


def test_no_change_is_said_not_invented() -> None:
    target = Signal("pump", "flow", 20 + _noise(9, 0.3))
    e = explain(target, [Signal("valve", "position", 80 + _noise(10, 0.5))], N_REF)
    assert not e.changed and e.contributors == () and "stayed within 3 robust standard deviations" in e.notes[0]
    assert as_dict(e, [60.0 * i for i in range(N)], 60.0)["changed"] is False
    up = explain(Signal("pump", "flow", np.where(np.arange(N) >= 90, 30.0, 20.0) + _noise(11, 0.3)), [], N_REF,
                 direction="down")
    assert not up.changed  # it rose; a fall was asked about


def test_settings_limit_the_answer_and_bad_shapes_are_refused() -> None:
    target, cands = _world()
    assert len(explain(target, cands, N_REF, settings=Settings(top=1)).contributors) == 1
    with pytest.raises(ValidationError, match="both have buckets"):
        explain(target, cands, 0)
    with pytest.raises(ValidationError, match="bucket grid"):
        explain(target, [Signal("x", "y", np.zeros(5))], N_REF)
    assert level(np.array([1.0, np.nan])) is None
    body = as_dict(explain(target, cands, N_REF), [1_000.0 + 60.0 * i for i in range(N)], 60.0)
    assert body["target"]["since"] == 1_000.0 + 82 * 60.0 and body["contributors"][0]["leadS"] == 120.0
