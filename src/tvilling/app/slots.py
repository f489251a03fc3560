"""A bounded number of heavy read requests at once (per server): the rest wait a little, then get a 503 with
Retry-After rather than queue without bound (explanations, cascade-impact rankings)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from tvilling.core.errors import UnavailableError


class Slots:
    def __init__(self, n: int, wait_s: float, what: str) -> None:
        self._sem, self._wait_s, self._what = threading.BoundedSemaphore(n), wait_s, what

    @contextmanager
    def slot(self) -> Iterator[None]:
        if not self._sem.acquire(timeout=self._wait_s):
            raise UnavailableError(f"too many {self._what} are being computed", hint="retry in a few seconds")
        try:
            yield
        finally:
            self._sem.release()
