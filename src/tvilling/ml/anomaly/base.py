"""Shared pieces of the anomaly detectors: the alert/explanation types and small helpers."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from tvilling.core.errors import ValidationError


@dataclass(frozen=True)
class Contribution:
    """How much one signal contributed to an anomaly score (share in ``[0, 1]``, shares sum to 1)."""

    signal: str
    share: float
    residual: float


@dataclass(frozen=True)
class Explanation:
    """Why a point scored high: the contributing signals, largest first."""

    score: float
    contributions: tuple[Contribution, ...] = ()

    @property
    def signals(self) -> list[str]:
        return [c.signal for c in self.contributions]


@dataclass(frozen=True)
class Alert:
    """An anomaly episode: the signals that caused it and the index/time since when it has been anomalous.

    ``since`` and ``last`` are whatever the caller uses to stamp points (row index, epoch seconds, datetime).
    """

    since: object
    last: object
    peak_score: float
    signals: tuple[str, ...]
    explanation: Explanation | None = None
    extra: dict[str, float] = field(default_factory=dict)


def first_value(x: Mapping[str, float], key: str | None) -> float:
    """The value of ``key`` in ``x``, or the only value when ``key`` is None."""
    if key is not None:
        try:
            return float(x[key])
        except KeyError:
            raise ValidationError(f"missing signal {key!r}", where=key) from None
    if len(x) != 1:
        raise ValidationError(f"a univariate detector needs exactly one signal, got {len(x)}",
                              hint="pass key=... to pick one")
    return float(next(iter(x.values())))


def explain_residuals(score: float, signals: Sequence[str], residuals: Iterable[float]) -> Explanation:
    """``score`` plus each signal's share of the squared residuals, largest first.

    Shared by every residual-based detector so their explanations read the same; all-zero residuals explain
    nothing, so no signal is named.
    """
    values = [float(r) for r in residuals]
    total = sum(r * r for r in values)
    if total <= 0.0:
        return Explanation(score)
    parts = sorted((Contribution(s, r * r / total, r) for s, r in zip(signals, values, strict=True)),
                   key=lambda c: -c.share)
    return Explanation(score, tuple(parts))
