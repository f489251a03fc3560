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


@pytest.mark.parametrize("entry", ["cmms.example.com:44x", "https://cmms.example.com", "cmms.example.com/hooks",
                                   "[::1]:0", "[zz::1]", "host:70000"])
def test_a_malformed_webhook_host_stops_the_settings(entry: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TVILLING_WEBHOOK_ALLOWED_HOSTS", f"127.0.0.1,{entry}")
    with pytest.raises(ConfigurationError) as caught:
        load_settings()
    assert "webhook_allowed_hosts" in str(caught.value) and repr(entry) in str(caught.value)


def test_well_formed_webhook_hosts_load(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TVILLING_WEBHOOK_ALLOWED_HOSTS", "cmms.example.com:443, ::1,[::1]:9000,10.0.0.7,localhost")
    assert load_settings().webhook_allowed_hosts == ["cmms.example.com:443", "::1", "[::1]:9000", "10.0.0.7",
                                                     "localhost"]


def test_a_webhook_attempt_must_fit_well_inside_the_lease() -> None:
    assert load_settings().webhook_timeout_s < load_settings().webhook_lease_s / 3  # the defaults fit
    with pytest.raises(ConfigurationError) as caught:
        load_settings(webhook_timeout_s=10.0, webhook_lease_s=30.0)
    assert "webhook_timeout_s" in str(caught.value) and "TVILLING_WEBHOOK_LEASE_S" in str(caught.value)
    assert load_settings(webhook_timeout_s=9.0, webhook_lease_s=30.0).webhook_timeout_s == 9.0
