"""The Mosquitto test fixture must fail, not skip, under CI=true when the binary is missing."""

import pytest

from tests.support import mosquitto


def test_missing_mosquitto_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mosquitto, "mosquitto_binary", lambda: None)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception):
        mosquitto.require_mosquitto()
    monkeypatch.setenv("CI", "")
    with pytest.raises(pytest.skip.Exception):
        mosquitto.require_mosquitto()
