"""The platform's one instance of a service kept on the app's state, made on first use.

The API's thread pool, the dashboard and a background task may all ask first at the same moment; each must get the
same instance, and it must be made once (a second FMU library would have its own slots, a second work-order service
its own counters). The lock is re-entrant: making one service may ask for another.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
_LOCK = threading.RLock()


def shared(app_state: Any, attr: str, kind: type[T], make: Callable[[], T]) -> T:
    """``app_state.<attr>`` if it is a ``kind``, else ``make()`` stored there (once, whoever asks first)."""
    found = getattr(app_state, attr, None)
    if isinstance(found, kind):
        return found
    with _LOCK:
        found = getattr(app_state, attr, None)
        if not isinstance(found, kind):
            found = make()
            setattr(app_state, attr, found)
        return found
