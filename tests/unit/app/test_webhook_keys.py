"""Route signing secrets are derived from a server key kept outside the database (made once, mode 0600)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from tvilling.app.webhook_keys import SigningKeys
from tvilling.core.errors import ConfigurationError


def test_server_key_is_made_once_and_secrets_are_derived(tmp_path: Path) -> None:
    path = tmp_path / "data" / "webhook-signing.key"
    keys = SigningKeys(path)
    first = keys.secret("acme", "rt-1", 1)
    assert path.exists() and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) == 32 and SigningKeys(path).secret("acme", "rt-1", 1) == first  # stable across restarts
    others = {keys.secret("acme", "rt-1", 2), keys.secret("acme", "rt-2", 1), keys.secret("globex", "rt-1", 1)}
    assert first not in others and len(others) == 3  # rotation, route and tenant each change it
    assert SigningKeys(tmp_path / "other.key").secret("acme", "rt-1", 1) != first  # another server key


def test_a_damaged_key_file_is_a_configuration_error(tmp_path: Path) -> None:
    path = tmp_path / "webhook-signing.key"
    path.write_text("not a key\n")
    with pytest.raises(ConfigurationError) as caught:
        SigningKeys(path).secret("acme", "rt-1", 1)
    assert caught.value.where == str(path) and "remove it" in caught.value.hint
