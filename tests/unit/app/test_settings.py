"""Settings: env prefix, config file, precedence, masked secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from tvilling.core.errors import ConfigurationError
from tvilling.settings import load_settings


def test_defaults_and_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TVILLING_DB", "TVILLING_PORT", "TVILLING_PROFILE", "TVILLING_HOST"):
        monkeypatch.delenv(name, raising=False)
    s = load_settings()
    assert (s.host, s.port, s.profile) == ("127.0.0.1", 8000, "durable")
    assert s.db_url_value().startswith("sqlite:///") and s.db_url_value().endswith("tvilling.db")
    cfg = tmp_path / "tv.yaml"
    cfg.write_text("port: 9000\nprofile: fast\nmax-page-size: 50\n")
    monkeypatch.setenv("TVILLING_PORT", "9100")
    s = load_settings(cfg, host=None)
    assert (s.port, s.profile, s.max_page_size) == (9100, "fast", 50)  # env beats file
    assert load_settings(cfg, port=9200).port == 9200  # flags beat env


def test_secrets_are_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TVILLING_DB", "postgresql://tv:hunter2@127.0.0.1/tv")
    s = load_settings()
    assert "hunter2" not in repr(s) and "hunter2" not in str(s.model_dump())
    assert s.db_url_value() == "postgresql://tv:hunter2@127.0.0.1/tv"


def test_bad_config_is_a_configuration_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("- just\n- a list\n")
    with pytest.raises(ConfigurationError):
        load_settings(bad)
    with pytest.raises(ConfigurationError):
        load_settings(tmp_path / "missing.yaml")
    with pytest.raises(ConfigurationError):
        load_settings(port=-5)
