"""Tables of the commands feature, on the shared metadata of :mod:`tvilling.adapters.sql.schema`."""

from __future__ import annotations

from tvilling.adapters.sql.schema import metadata  # noqa: F401
