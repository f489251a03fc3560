"""Development corpus v2: synthetic streams shaped after NAB's published *categories* (round 5).

Nothing here is read from NAB's data files or labels. The generator follows NAB's published description only
(Lavin & Ahmad 2015; the NAB README): AWS CloudWatch CPU/network metrics, hourly ad-exchange CPC/CPM, freeway
traffic occupancy/speed, Twitter mention counts, known-cause streams (machine temperature before a failure,
ambient temperature, taxi demand), and "artificial" streams with and without anomalies. One *block* has NAB's
number of files per category (58); a corpus is ``copies`` blocks. Windows as NAB makes them: centred on the
labelled onset, width 10 % of the length / number of anomalies, after the 15 % probationary period; no-anomaly
files have none. Unlike v1 (``corpus.py``, unchanged: earlier logs depend on it) the streams carry more *normal*
structure a memory-based detector learns but a moment test flags (cron spikes, rush-hour dips, chatter bursts),
and fewer anomalies are one-row spikes. ``make_corpus(seed, copies, revision)`` is deterministic; revisions
(at most 3, logged in ``round5_corpus_log.json``) replace generators as listed in ``REVISIONS``/``OVERRIDES``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from bench.nab_dev.corpus import DevFile

Rng = np.random.Generator
# (category, files per 58-file block): NAB README's counts, the two known-cause kinds split over three generators
BLOCK: tuple[tuple[str, int], ...] = (
    ("aws_cpu", 9), ("aws_network", 8), ("adexchange", 6), ("traffic", 7), ("tweets", 10),
    ("machine_temp", 3), ("ambient_temp", 2), ("taxi", 2), ("artificial_anomaly", 6), ("artificial_none", 5),
)
REVISIONS = {
    1: "first version",
    2: "as the NAB paper describes machine temperature, the planned shutdown is a labelled anomaly (not normal "
       "behaviour); artificial streams follow NAB's art_daily_* files: a daily plateau pattern (14 days), one "
       "anomalous day (jumps up, jumps down, flat middle, no jump, increasing spike density), and the no-anomaly "
       "set adds a constant line and pure noise",
}


@dataclass
class _Stream:
    values: np.ndarray
    onsets: list[int]
    kinds: list[str]


def _onsets(rng: Rng, n: int, count: int) -> list[int]:
    """``count`` onsets after the probationary period, spread so that NAB-style windows do not overlap."""
    if count == 0:
        return []
    width = int(0.10 * n / count)
    lo, hi = int(0.15 * n) + width // 2 + 1, n - width // 2 - 2
    slot = (hi - lo) / count
    return sorted(int(lo + i * slot + rng.uniform(0.1, 0.9) * (slot - width)) if slot > width
                  else int(lo + (i + 0.5) * slot) for i in range(count))


def _daily(rng: Rng, n: int, day: int) -> np.ndarray:
    """A smooth random daily profile, in [0, 1]."""
    t = np.arange(n) / day
    out = np.zeros(n)
    for h in range(1, 4):
        out += rng.normal(0.0, 1.0 / h) * np.sin(2 * np.pi * h * t + rng.uniform(0, 2 * np.pi))
    scaled: np.ndarray = (out - out.min()) / max(float(np.ptp(out)), 1e-9)
    return scaled


def _ar1(rng: Rng, n: int, phi: float, sd: float) -> np.ndarray:
    e = rng.normal(0.0, sd, n)
    out = np.empty(n)
    acc = 0.0
    for i in range(n):
        acc = phi * acc + e[i]
        out[i] = acc
    return out


def _segment(rng: Rng, n: int, at: int, lo: int, hi: int) -> slice:
    return slice(at, min(n, at + int(rng.integers(lo, hi))))


def aws_cpu(rng: Rng) -> _Stream:
    """EC2 CPU utilisation (%): a low noisy level, recurring cron spikes, normal short bursts; anomalies are
    sustained level shifts, a saturated stretch, or the cron pattern changing."""
    n = 4032
    level = rng.uniform(2, 40)
    sd = level * rng.uniform(0.03, 0.15)
    v = level + _ar1(rng, n, 0.6, sd)
    period = int(rng.choice([12, 36, 72, 288]))
    cron = rng.uniform(2, 6) * sd
    v[::period] += cron
    for _ in range(rng.integers(3, 10)):  # normal bursts: deploys, backups
        s = _segment(rng, n, int(rng.integers(0, n - 10)), 1, 6)
        v[s] += rng.uniform(2, 5) * sd
    onsets = _onsets(rng, n, int(rng.choice([1, 1, 2, 2, 3])))
    kinds = []
    for at in onsets:
        kind = str(rng.choice(["level_shift", "saturate", "cron_change", "level_shift"]))
        if kind == "level_shift":
            v[at:] += rng.choice([-1.0, 1.0]) * min(rng.uniform(3, 8) * sd, 0.8 * level)
        elif kind == "saturate":
            v[_segment(rng, n, at, 20, 150)] += rng.uniform(5, 12) * sd
        else:
            end = min(n, at + int(rng.integers(100, 400)))
            v[at:end:max(2, period // 4)] += cron * rng.uniform(1.0, 2.0)
        kinds.append(kind)
    return _Stream(np.clip(v, 0.0, 100.0), onsets, kinds)


def aws_network(rng: Rng) -> _Stream:
    """Network bytes / disk writes: heavy-tailed positive traffic with large normal bursts; anomalies are a
    burst *cluster* (rate change), an outage (near zero) or a sustained rise in the baseline."""
    n = 4032
    scale = 10 ** rng.uniform(3, 7)
    base = scale * (1.0 + 0.3 * _daily(rng, n, 288))
    v = base * rng.lognormal(0.0, rng.uniform(0.2, 0.6), n)
    burst_p = rng.uniform(0.002, 0.01)
    hits = rng.random(n) < burst_p
    v[hits] *= rng.uniform(3, 10, int(hits.sum()))
    onsets = _onsets(rng, n, int(rng.choice([1, 2, 2, 3])))
    kinds = []
    for at in onsets:
        kind = str(rng.choice(["burst_cluster", "outage", "baseline_rise"]))
        s = _segment(rng, n, at, 30, 250)
        if kind == "burst_cluster":
            m = rng.random(s.stop - s.start) < 0.3
            v[s] = np.where(m, v[s] * rng.uniform(4, 10), v[s])
        elif kind == "outage":
            v[s] = scale * rng.uniform(0.0, 0.05, s.stop - s.start)
        else:
            v[at:] *= rng.uniform(1.8, 3.0)
        kinds.append(kind)
    return _Stream(v, onsets, kinds)


def adexchange(rng: Rng) -> _Stream:
    """Hourly ad-exchange CPC/CPM: short files, multiplicative noise, a daily cycle; anomalies are price jumps
    or collapses lasting hours to days."""
    n = int(rng.integers(1500, 1700))
    level = rng.uniform(0.1, 2.0)
    v = level * (1.0 + 0.4 * _daily(rng, n, 24)) * rng.lognormal(0.0, rng.uniform(0.08, 0.2), n)
    onsets = _onsets(rng, n, int(rng.choice([1, 2, 2, 3])))
    kinds = []
    for at in onsets:
        kind = str(rng.choice(["jump", "collapse", "spike"]))
        if kind == "spike":
            v[_segment(rng, n, at, 1, 4)] *= rng.uniform(2.0, 4.0)
        else:
            v[_segment(rng, n, at, 12, 72)] *= rng.uniform(1.8, 3.0) if kind == "jump" else rng.uniform(0.2, 0.5)
        kinds.append(kind)
    return _Stream(v, onsets, kinds)


def traffic(rng: Rng) -> _Stream:
    """Freeway sensor: speed with recurring rush-hour dips, or occupancy with rush-hour peaks; anomalies are a
    long incident (slow-down / jam) outside rush hour, or a stuck sensor."""
    n = int(rng.integers(1100, 2500))
    day = 288
    rush = _daily(rng, n, day) ** 4  # sharp daily peaks
    speed = rng.random() < 0.5
    v = 65 - 35 * rush + rng.normal(0, 3, n) if speed else 5 + 30 * rush + np.abs(rng.normal(0, 2, n))
    onsets = _onsets(rng, n, int(rng.choice([1, 1, 2, 3])))
    kinds = []
    for at in onsets:
        kind = str(rng.choice(["incident", "incident", "stuck"]))
        s = _segment(rng, n, at, 12, 60)
        if kind == "incident":
            v[s] = (rng.uniform(10, 25) if speed else rng.uniform(35, 60)) + rng.normal(0, 2, s.stop - s.start)
        else:
            v[s] = v[at]
        kinds.append(kind)
    return _Stream(np.clip(v, 0.0, None), onsets, kinds)


def tweets(rng: Rng) -> _Stream:
    """Twitter mention counts every 5 minutes: Poisson with a daily cycle and frequent normal bursts;
    anomalies are news events — a sustained surge of mentions lasting hours."""
    n = int(rng.integers(6000, 9000))
    lam = rng.uniform(2, 30) * (0.5 + _daily(rng, n, 288))
    v = rng.poisson(lam).astype(float)
    for _ in range(rng.integers(8, 25)):  # normal chatter bursts
        s = _segment(rng, n, int(rng.integers(0, n - 6)), 1, 4)
        v[s] += rng.poisson(float(lam[s.start]) * rng.uniform(1, 4), s.stop - s.start)
    onsets = _onsets(rng, n, int(rng.choice([1, 2, 2, 3, 4])))
    for at in onsets:
        s = _segment(rng, n, at, 12, 150)
        decay = np.exp(-np.arange(s.stop - s.start) / max(1.0, (s.stop - s.start) / 3))
        v[s] += rng.poisson(float(lam.mean()) * rng.uniform(3, 10) * decay)
    return _Stream(v, onsets, ["surge"] * len(onsets))


def machine_temp(rng: Rng) -> _Stream:
    """Industrial machine temperature: a slowly wandering level with planned shutdowns (normal, deep dips
    that recover); anomalies are a slow decline before a failure, then the failure drop."""
    n = int(rng.integers(6000, 8000))
    v = rng.uniform(70, 95) + _ar1(rng, n, 0.995, 0.3) + rng.normal(0, 0.8, n)
    for _ in range(rng.integers(0, 3)):  # planned shutdowns
        s = _segment(rng, n, int(rng.integers(0, n - 300)), 50, 200)
        v[s] -= np.linspace(0, rng.uniform(20, 40), s.stop - s.start)
    onsets = _onsets(rng, n, int(rng.choice([2, 3, 4])))
    kinds = []
    for at in onsets:
        kind = str(rng.choice(["decline", "failure_drop", "oscillation"]))
        if kind == "decline":
            s = _segment(rng, n, at, 150, 500)
            v[s] -= np.linspace(0, rng.uniform(8, 20), s.stop - s.start)
        elif kind == "failure_drop":
            s = _segment(rng, n, at, 30, 200)
            v[s] -= rng.uniform(30, 60)
        else:
            s = _segment(rng, n, at, 50, 200)
            v[s] += rng.uniform(3, 8) * np.sin(np.arange(s.stop - s.start) / rng.uniform(2, 6))
        kinds.append(kind)
    return _Stream(v, onsets, kinds)


def ambient_temp(rng: Rng) -> _Stream:
    """Hourly office temperature: daily and weekly cycle, slow seasonal drift; anomalies are a system fault
    (an unusually hot/cold stretch of a day or more)."""
    n = int(rng.integers(5000, 7200))
    weekend = ((np.arange(n) // 24) % 7 >= 5).astype(float)
    v = 70 + 3 * _daily(rng, n, 24) * (1 - 0.6 * weekend) + _ar1(rng, n, 0.99, 0.15) + rng.normal(0, 0.4, n)
    onsets = _onsets(rng, n, int(rng.choice([1, 2, 2])))
    for at in onsets:
        v[_segment(rng, n, at, 24, 96)] += rng.choice([-1, 1]) * rng.uniform(4, 8)
    return _Stream(v, onsets, ["fault"] * len(onsets))


def taxi(rng: Rng) -> _Stream:
    """Half-hourly taxi passenger counts: strong daily and weekly seasonality; anomalies are holidays (a day
    with the weekend shape), a storm (demand collapse) or an event surge."""
    n = int(rng.integers(7000, 10000))
    day = 48
    wd, we = _daily(rng, n, day), _daily(rng, n, day)
    weekend = ((np.arange(n) // day) % 7 >= 5)
    level = rng.uniform(5000, 20000)
    v = level * (0.3 + np.where(weekend, 0.8 * we, wd)) + rng.normal(0, 0.03 * level, n)
    onsets = _onsets(rng, n, int(rng.choice([2, 3, 4])))
    kinds = []
    for at in onsets:
        kind = str(rng.choice(["holiday", "storm", "event"]))
        s = _segment(rng, n, at, day // 2, 2 * day)
        if kind == "holiday":
            v[s] = level * (0.3 + 0.8 * we[s]) + rng.normal(0, 0.03 * level, s.stop - s.start)
        elif kind == "storm":
            v[s] *= rng.uniform(0.2, 0.5)
        else:
            v[_segment(rng, n, at, 3, 12)] *= rng.uniform(1.5, 2.5)
        kinds.append(kind)
    return _Stream(v, onsets, kinds)


def _artificial_base(rng: Rng, n: int) -> np.ndarray:
    day = 288
    t = np.arange(n)
    shape = str(rng.choice(["sine", "square", "flat_noise"]))
    if shape == "sine":
        v = 50 + 20 * np.sin(2 * np.pi * t / day)
    elif shape == "square":
        v = 50 + 20 * (np.sin(2 * np.pi * t / day) > 0)
    else:
        v = np.full(n, 50.0)
    return v + rng.normal(0, rng.uniform(0.5, 3.0), n)


def artificial_anomaly(rng: Rng) -> _Stream:
    """NAB's artificial set: clean periodic signals with a jump up/down, a flat middle, denser spikes or a
    shape change inside the normal range."""
    n = 4032
    v = _artificial_base(rng, n)
    onsets = _onsets(rng, n, int(rng.choice([1, 1, 2])))
    kinds = []
    for at in onsets:
        kind = str(rng.choice(["jumps_up", "jumps_down", "flat_middle", "spike_density", "no_jump"]))
        s = _segment(rng, n, at, 100, 400)
        if kind == "jumps_up":
            v[s] += rng.uniform(20, 40)
        elif kind == "jumps_down":
            v[s] -= rng.uniform(20, 40)
        elif kind == "flat_middle":
            v[s] = float(np.median(v[:at])) + rng.normal(0, 0.3, s.stop - s.start)
        elif kind == "spike_density":
            m = rng.random(s.stop - s.start) < 0.1
            v[s] += m * rng.uniform(10, 20)
        else:
            v[s] = v[s][::-1] + rng.normal(0, 1.0, s.stop - s.start)
        kinds.append(kind)
    return _Stream(v, onsets, kinds)


def artificial_none(rng: Rng) -> _Stream:
    """NAB's artificial no-anomaly set: the same clean signals, nothing labelled."""
    return _Stream(_artificial_base(rng, 4032), [], [])


def machine_temp_r2(rng: Rng) -> _Stream:
    """Revision 2: no unlabelled shutdowns; a planned shutdown (ramp down, then back) is one anomaly kind."""
    n = int(rng.integers(6000, 8000))
    v = rng.uniform(70, 95) + _ar1(rng, n, 0.995, 0.3) + rng.normal(0, 0.8, n)
    onsets = _onsets(rng, n, int(rng.choice([2, 3, 4])))
    kinds = []
    for at in onsets:
        kind = str(rng.choice(["shutdown", "decline", "failure_drop", "oscillation"]))
        if kind == "shutdown":
            s = _segment(rng, n, at, 50, 200)
            v[s] -= np.linspace(0, rng.uniform(20, 40), s.stop - s.start)
        elif kind == "decline":
            s = _segment(rng, n, at, 150, 500)
            v[s] -= np.linspace(0, rng.uniform(8, 20), s.stop - s.start)
        elif kind == "failure_drop":
            v[_segment(rng, n, at, 30, 200)] -= rng.uniform(30, 60)
        else:
            s = _segment(rng, n, at, 50, 200)
            v[s] += rng.uniform(3, 8) * np.sin(np.arange(s.stop - s.start) / rng.uniform(2, 6))
        kinds.append(kind)
    return _Stream(v, onsets, kinds)


def _art_daily(rng: Rng, n: int) -> tuple[np.ndarray, float, float]:
    """NAB's art_daily shape: low at night, a plateau by day; returns (values, low, amplitude)."""
    low, amp = rng.uniform(10, 30), rng.uniform(40, 80)
    t = np.arange(n)
    plateau = 1.0 / (1.0 + np.exp(-8.0 * np.sin(2 * np.pi * t / 288 + rng.uniform(0, 2 * np.pi))))
    noise = float(rng.choice([0.0, 0.02, 0.05])) * amp
    return low + amp * plateau + rng.normal(0, noise + 1e-9, n), low, amp


def artificial_anomaly_r2(rng: Rng) -> _Stream:
    """Revision 2: 14 days of the art_daily pattern, one anomalous day."""
    n = 4032
    v, low, amp = _art_daily(rng, n)
    at = _onsets(rng, n, 1)[0]
    s = slice(at, min(n, at + 288))
    kind = str(rng.choice(["jumps_up", "jumps_down", "flat_middle", "no_jump", "spike_density"]))
    if kind == "jumps_up":
        v[s] = low + (v[s] - low) * rng.uniform(1.5, 2.0)
    elif kind == "jumps_down":
        v[s] = low + (v[s] - low) * rng.uniform(0.3, 0.6)
    elif kind == "flat_middle":
        v[s] = low + amp / 2 + rng.normal(0, 0.01 * amp, s.stop - s.start)
    elif kind == "no_jump":
        v[s] = low + rng.normal(0, 0.01 * amp, s.stop - s.start)
    else:
        m = rng.random(s.stop - s.start) < np.linspace(0.02, 0.3, s.stop - s.start)
        v[s] += m * amp * rng.uniform(0.3, 0.6)
    return _Stream(v, [at], [kind])


def artificial_none_r2(rng: Rng) -> _Stream:
    """Revision 2: art_daily with/without noise, a square wave, a constant line, pure noise."""
    n = 4032
    kind = str(rng.choice(["daily", "daily", "square", "flatline", "noisy"]))
    if kind == "daily":
        v = _art_daily(rng, n)[0]
    elif kind == "square":
        v = 20 + 60 * (np.sin(2 * np.pi * np.arange(n) / 288) > 0)
    elif kind == "flatline":
        v = np.full(n, rng.uniform(10, 80))
    else:
        v = rng.uniform(10, 80) + rng.normal(0, rng.uniform(1, 10), n)
    return _Stream(np.asarray(v, dtype=np.float64), [], [])


GENERATORS: dict[str, Callable[[Rng], _Stream]] = {
    "aws_cpu": aws_cpu, "aws_network": aws_network, "adexchange": adexchange, "traffic": traffic,
    "tweets": tweets, "machine_temp": machine_temp, "ambient_temp": ambient_temp, "taxi": taxi,
    "artificial_anomaly": artificial_anomaly, "artificial_none": artificial_none,
}
# generators a revision replaces (earlier revisions keep their exact output)
OVERRIDES: dict[int, dict[str, Callable[[Rng], _Stream]]] = {
    2: {"machine_temp": machine_temp_r2, "artificial_anomaly": artificial_anomaly_r2,
        "artificial_none": artificial_none_r2},
}


def _generators(revision: int) -> dict[str, Callable[[Rng], _Stream]]:
    out = dict(GENERATORS)
    for r in sorted(OVERRIDES):
        if r <= revision:
            out.update(OVERRIDES[r])
    return out


def make_file(rng: Rng, category: str, name: str, revision: int = 1) -> DevFile:
    st = _generators(revision)[category](rng)
    n = len(st.values)
    count = len(st.onsets)
    width = int(0.10 * n / count) if count else 0
    # NAB centres each window on the labelled onset
    windows = [(max(0, at - width // 2), min(n - 1, at + width // 2 - 1)) for at in st.onsets]
    return DevFile(f"{category}/dev2_{name}.csv", np.asarray(st.values, dtype=np.float64), windows,
                   (category, *st.kinds))


def make_corpus(seed: int = 20, copies: int = 2, revision: int = 1) -> list[DevFile]:
    """``copies`` blocks of NAB's category mix; deterministic for (``seed``, ``revision``)."""
    if revision not in REVISIONS:
        raise ValueError(f"unknown corpus revision {revision}")
    rng = np.random.default_rng(seed)
    out = []
    for c in range(copies):
        for category, count in BLOCK:
            for i in range(count):
                out.append(make_file(rng, category, f"{seed}_{c}_{i:02d}", revision))
    return out
