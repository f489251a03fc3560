"""One exception -> status table; problem+json bodies carry what, where and how to fix."""

from __future__ import annotations

import pytest

from tvilling.api.errors import STATUS_TABLE, lookup
from tvilling.app.errors import NotImplementedYetError
from tvilling.core import errors as e


@pytest.mark.parametrize("exc,status", [
    (e.NotFoundError("x"), 404), (e.ValidationError("x"), 422), (e.ConflictError("x"), 409),
    (e.PreconditionFailedError("x"), 412), (e.AuthenticationError("x"), 401), (e.PermissionDeniedError("x"), 403),
    (e.UnavailableError("x"), 503), (e.StorageFullError("x"), 503), (e.QuerySyntaxError("x"), 400),
    (NotImplementedYetError("x"), 501), (e.TvillingError("x"), 500),
])
def test_status_table(exc: e.TvillingError, status: int) -> None:
    assert lookup(exc)[0] == status


def test_every_core_error_has_a_row() -> None:
    core = [c for c in vars(e).values() if isinstance(c, type) and issubclass(c, e.TvillingError)]
    for cls in core:
        assert any(base in STATUS_TABLE for base in cls.__mro__), cls
