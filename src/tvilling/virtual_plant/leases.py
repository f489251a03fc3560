"""Supervisory leases: the device side of reliability C-13 ("leases make devices fall back to local control").

A setpoint command may carry ``lease_s`` and ``holder`` (an autonomous loop of the platform sends them). The device
then holds that point under *supervisory control*: the value stays only while the holder keeps renewing the lease.
Renewals arrive on ``plant/<device>/commands/lease`` as ``{"holder", "lease_s"}``: they extend every point that
holder has on that device to now + ``lease_s`` on the device's own monotonic clock; ``lease_s: 0`` releases them at
once. When a lease runs out (the platform crashed, the network is cut, autonomy was turned off) the point reverts
to its *local value* — what it was at start or what a command without a lease set last (an operator's setting),
like a BACnet priority array falling back to the lower priority. A later command without a lease on the point
ends the lease: the person takes over.

Renewals never create a lease: after a revert only a new command re-arms it (the platform's loop decides again).
This is the watchdog a PLC or BMS controller implements; here it is the virtual plant's, so the contract can be
tested end to end (tests/integration/commands/test_supervisory_lease.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

MAX_LEASE_S = 3600.0
MAX_HOLDER = 200


class LeaseError(ValueError):
    """A lease field that cannot be honoured; the message is the one-line reason sent back."""


@dataclass
class Held:
    holder: str
    lease_s: float
    expires: float  # device monotonic seconds


@dataclass(frozen=True)
class Reverted:
    device: str
    command: str
    value: float
    holder: str
    why: str  # "expired" | "released"


def parse_lease(data: dict[str, Any], *, renewal: bool = False) -> tuple[float, str] | None:
    """(lease_s, holder) from a command or renewal body; None when a command carries no lease.
    Raises :class:`LeaseError` for a malformed one (the command is rejected: bad input is never half-applied)."""
    if not renewal and "lease_s" not in data:
        return None
    lease = data.get("lease_s")
    holder = data.get("holder")
    if isinstance(lease, bool) or not isinstance(lease, int | float) or not math.isfinite(lease):
        raise LeaseError("lease_s must be a finite number of seconds")
    if not (0 <= lease <= MAX_LEASE_S) or (lease == 0 and not renewal):
        raise LeaseError(f"lease_s must be in {'[0' if renewal else '(0'}, {MAX_LEASE_S:g}] seconds, got {lease}")
    if not isinstance(holder, str) or not holder or len(holder) > MAX_HOLDER:
        raise LeaseError(f"holder must be a non-empty string of at most {MAX_HOLDER} characters")
    return float(lease), holder


class SupervisoryLeases:
    """Leased points of one plant: armed by commands, extended by renewals, reverted on expiry.

    ``read(device, command)`` gives a point's present value (None: the command cannot be leased, it has no value
    to fall back to); ``write(device, command, value)`` applies a value without the command path's checks (a
    revert restores a value the device had itself)."""

    def __init__(self, read: Callable[[str, str], float | None], write: Callable[[str, str, float], None],
                 clock: Callable[[], float]) -> None:
        self._read, self._write, self._clock = read, write, clock
        self.local: dict[tuple[str, str], float] = {}  # the value to fall back to, per point
        self.held: dict[tuple[str, str], Held] = {}
        self.expired = 0
        self.released = 0
        self.renewals = 0

    def leasable(self, device: str, command: str) -> bool:
        return self._read(device, command) is not None

    def before_command(self, device: str, command: str) -> None:
        """Called before a command is applied: remember the local value the first time a point is touched."""
        key = (device, command)
        if key not in self.local:
            value = self._read(device, command)
            if value is not None:
                self.local[key] = value

    def after_command(self, device: str, command: str, value: float | None, lease: tuple[float, str] | None) -> None:
        """A command was applied. With a lease the point is held; without one its value is the new local value."""
        key = (device, command)
        if lease is None:
            self.held.pop(key, None)
            if key in self.local and value is not None:
                self.local[key] = float(value)
            return
        lease_s, holder = lease
        self.held[key] = Held(holder, lease_s, self._clock() + lease_s)

    def renew(self, device: str, holder: str, lease_s: float) -> list[Reverted]:
        """Extend ``holder``'s points on ``device``; ``lease_s == 0`` reverts them now. Returns what reverted."""
        self.renewals += 1
        now = self._clock()
        out: list[Reverted] = []
        for key, held in list(self.held.items()):
            if key[0] != device or held.holder != holder:
                continue
            if lease_s == 0:
                out.append(self._revert(key, held, "released"))
            else:
                held.lease_s, held.expires = lease_s, now + lease_s
        return out

    def expire(self) -> list[Reverted]:
        """Revert every point whose lease has run out (called between physics steps)."""
        if not self.held:
            return []
        now = self._clock()
        return [self._revert(key, held, "expired") for key, held in list(self.held.items()) if now >= held.expires]

    def _revert(self, key: tuple[str, str], held: Held, why: str) -> Reverted:
        del self.held[key]
        value = self.local[key]
        self._write(key[0], key[1], value)
        if why == "expired":
            self.expired += 1
        else:
            self.released += 1
        return Reverted(key[0], key[1], value, held.holder, why)
