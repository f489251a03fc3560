"""Rate limits are on by default (G4/G7): a burst beyond a token's limit gets 429 problem+json with Retry-After,
other tokens are unaffected, unauthenticated traffic is limited per client address, and normal use never sees 429."""

from __future__ import annotations

from pathlib import Path

from tests.support.platform import api_rig
from tvilling.core.roles import Role
from tvilling.settings import Settings


def test_defaults_are_on() -> None:
    s = Settings()
    assert s.rate_limit_enabled and s.rate_limit_token_per_s > 0 and s.rate_limit_anonymous_per_s > 0


def test_burst_beyond_the_token_limit_gets_429_with_retry_after(tmp_path: Path) -> None:
    # 0.2/s: the bucket cannot refill during the test, so the count is exact however slow the machine is.
    with api_rig(f"sqlite:///{tmp_path / 'rl.db'}", seed_models=False, rate_limit_token_per_s=0.2,
                 rate_limit_token_burst=10) as rig:
        statuses = [rig.call("GET", "/api/v1/twins", role=Role.VIEWER).status_code for _ in range(10)]
        assert statuses == [200] * 10
        r = rig.call("GET", "/api/v1/twins/anything", role=Role.VIEWER)
        assert r.status_code == 429
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["type"].endswith("rate-limited") and r.json()["status"] == 429
        assert 1 <= int(r.headers["retry-after"]) <= 5  # one token at 0.2/s
        # Another token of the same tenant has its own bucket.
        assert rig.call("GET", "/api/v1/twins", role=Role.ADMIN).status_code == 200


def test_unauthenticated_traffic_is_limited_per_address(tmp_path: Path) -> None:
    with api_rig(f"sqlite:///{tmp_path / 'rl.db'}", seed_models=False, rate_limit_anonymous_per_s=0.2,
                 rate_limit_anonymous_burst=3) as rig:
        assert [rig.client.get("/health").status_code for _ in range(3)] == [200] * 3
        r = rig.client.get("/health")
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        # Failed authentication is charged to the same address: guessing tokens gets 429 instead of lookups.
        bad = {"Authorization": "Bearer tvl_0000000000000000_" + "0" * 48}
        assert rig.client.get("/api/v1/twins", headers=bad).status_code == 429
        # A valid token is not an anonymous request: unaffected.
        assert rig.call("GET", "/api/v1/twins").status_code == 200


def test_normal_use_never_gets_429_under_defaults(tmp_path: Path) -> None:
    with api_rig(f"sqlite:///{tmp_path / 'rl.db'}", seed_models=False) as rig:
        statuses = {rig.call("GET", "/api/v1/twins/x").status_code for _ in range(300)}
        statuses |= {rig.client.get("/health").status_code for _ in range(100)}
        assert statuses == {404, 200}


def test_limits_can_be_switched_off(tmp_path: Path) -> None:
    with api_rig(f"sqlite:///{tmp_path / 'rl.db'}", seed_models=False, rate_limit_enabled=False,
                 rate_limit_anonymous_burst=1, rate_limit_anonymous_per_s=0.01) as rig:
        assert {rig.client.get("/health").status_code for _ in range(5)} == {200}
