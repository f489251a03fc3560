"""How the Scenarios page's cards run FMU library calls: one after the other off the event loop, with the card's
Run button disabled and its spinner shown, and any failure turned into a notification that names the run."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any

from nicegui import ui

from tvilling.core.errors import TvillingError

log = logging.getLogger(__name__)


async def guarded_runs(calls: Sequence[tuple[str, Callable[[], Any]]], *, button: ui.button, spinner: ui.spinner,
                       explain: Callable[[TvillingError, str], None], fmu: str) -> dict[str, Any] | None:
    """Each ``(label, call)`` in turn (one at a time: the library's run slots are shared by every user); their
    answers by label, or None after a failure, which is already shown."""
    button.disable()
    spinner.set_visibility(True)
    answers: dict[str, Any] = {}
    label = calls[0][0]
    try:
        for label, call in calls:
            answers[label] = await asyncio.to_thread(call)
    except TvillingError as exc:
        explain(exc, f"The {label} failed: ")
        return None
    except Exception:  # an FMU is outside code: whatever else goes wrong, the page stays usable
        log.exception("%s on %s failed", label, fmu)
        ui.notify(f"The {label} failed unexpectedly; the server log has the details.", type="negative")
        return None
    finally:
        button.enable()
        spinner.set_visibility(False)
    return answers
