"""Process-wide dashboard state: which platform the pages serve, and the browser sessions (token per browser)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from tvilling.app.alarms import AlarmService
from tvilling.app.auth import Principal
from tvilling.app.security_audit import SECURITY_TENANT, Denial, claimed_id, denial_action
from tvilling.app.services import Services
from tvilling.core.errors import AuthenticationError, TvillingError
from tvilling.dashboard.live import LiveHub


@dataclass
class Dashboard:
    services: Services
    alarms: AlarmService
    hub: LiveHub
    app_state: object  # the FastAPI app's ``state`` (history store, insights are found there at run time)
    sessions: dict[str, str] = field(default_factory=dict)  # browser id -> bearer token (memory only)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def login(self, browser_id: str, token: str, source: str = "unknown") -> Principal:
        try:
            principal = self.services.tokens.verify(token.strip())
        except AuthenticationError as exc:  # counted for the security audit trail (S-15), like the API's 401s
            audit = getattr(self.app_state, "security", None)
            if audit is not None:
                audit.record(Denial("dashboard.signin_failed", SECURITY_TENANT, source, "anonymous", "POST",
                                    "/ui/login", 401, exc.message, claimed_id(token.strip())))
            raise
        with self.lock:
            self.sessions[browser_id] = token.strip()
        return principal

    def count_denial(self, exc: TvillingError, principal: Principal, source: str, path: str) -> None:
        """An error marked as a security denial (a webhook URL the allow-list refuses), counted as the API counts
        it (S-15), with the status the API answers for it (the only marked error a page meets is that 422)."""
        action = denial_action(exc)
        audit = getattr(self.app_state, "security", None)
        if action is not None and audit is not None:
            audit.record(Denial(action, principal.tenant, source, principal.actor, "POST", path, 422,
                                exc.message[:200]))

    def logout(self, browser_id: str) -> None:
        with self.lock:
            self.sessions.pop(browser_id, None)

    def principal(self, browser_id: str | None) -> Principal | None:
        """Re-verified on every page load, so a revoked token stops working (within the token cache TTL)."""
        token = self.sessions.get(browser_id or "")
        if token is None:
            return None
        try:
            return self.services.tokens.verify(token)
        except TvillingError:
            self.logout(browser_id or "")
            return None


_current: Dashboard | None = None


def current() -> Dashboard:
    if _current is None:
        raise RuntimeError("the dashboard is not mounted")
    return _current


def set_current(dashboard: Dashboard) -> None:
    global _current
    _current = dashboard
