"""Bearer tokens ``tvl_<id>_<secret>``: only the SHA-256 of the secret is stored; comparison is constant-time.

Verified tokens are cached for ``cache_ttl_s`` (default 10 s) so a read does not cost a token lookup;
revocation therefore takes effect within that TTL (reliability S-07 asks for ≤ 60 s).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
from dataclasses import dataclass

from tvilling.core.context import Context
from tvilling.core.errors import AuthenticationError, NotFoundError, PermissionDeniedError, ValidationError
from tvilling.core.roles import Role
from tvilling.ports.clock import Clock
from tvilling.ports.store import Store, TokenRecord

DEFAULT_TENANT = "default"
TOKEN_RE = re.compile(r"^tvl_([0-9a-f]{16})_([0-9a-f]{48})$")
TENANT_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a tenant, a role and the token id (the actor recorded in events)."""

    tenant: str
    role: Role
    token_id: str

    @property
    def actor(self) -> str:
        return f"token:{self.token_id}"

    def context(self, parent: Context | None = None) -> Context:
        return Context.new(actor=self.actor, parent=parent)


@dataclass(frozen=True)
class IssuedToken:
    token: str  # shown once
    id: str
    tenant: str
    role: Role
    name: str


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError as exc:
        raise ValidationError(f"unknown role {value!r}", where="role",
                              hint="use one of " + ", ".join(r.value for r in Role)) from exc


class TokenService:
    def __init__(self, store: Store, clock: Clock, cache_ttl_s: float = 10.0) -> None:
        self._store = store
        self._clock = clock
        self._ttl = cache_ttl_s
        self._cache: dict[str, tuple[float, Principal]] = {}
        self._lock = threading.Lock()

    def create(self, tenant: str, role: Role, name: str = "") -> IssuedToken:
        if not TENANT_RE.match(tenant):
            raise ValidationError(f"invalid tenant id {tenant!r}", where="tenant",
                                  hint="lower-case letters, digits, '-' and '_', at most 63 characters")
        token_id = secrets.token_hex(8)
        secret = secrets.token_hex(24)
        now = self._clock.now()
        with self._store.write() as tx:
            tx.tenants.ensure(tenant, tenant, now)
            tx.tokens.add(TokenRecord(id=token_id, tenant=tenant, role=role.value, name=name[:200],
                                      secret_hash=_hash(secret), created_at=now))
        return IssuedToken(token=f"tvl_{token_id}_{secret}", id=token_id, tenant=tenant, role=role, name=name)

    def list(self, tenant: str) -> list[TokenRecord]:
        with self._store.read() as tx:
            return tx.tokens.list(tenant)

    def revoke(self, tenant: str, token_id: str) -> None:
        with self._store.write() as tx:
            if not tx.tokens.revoke(tenant, token_id, self._clock.now()):
                raise NotFoundError(f"token {token_id} not found", where=token_id,
                                    hint="list tokens with GET /api/v1/tokens")
        with self._lock:
            for key in [k for k, (_, p) in self._cache.items() if p.token_id == token_id]:
                del self._cache[key]

    def cached(self, token: str) -> Principal | None:
        """The principal of a token verified within the TTL, without touching the database; else None."""
        hit = self._cache.get(token)
        return hit[1] if hit is not None and hit[0] > self._clock.monotonic() else None

    def verify(self, token: str | None) -> Principal:
        if not token:
            raise AuthenticationError("no credentials", hint="send 'Authorization: Bearer tvl_…'")
        now = self._clock.monotonic()
        cached = self._cache.get(token)
        if cached is not None and cached[0] > now:
            return cached[1]
        match = TOKEN_RE.match(token)
        if match is None:
            raise AuthenticationError("malformed token", hint="tokens look like tvl_<id>_<secret>")
        token_id, secret = match.groups()
        with self._store.read() as tx:
            record = tx.tokens.get(token_id)
        # compare_digest runs even when the record is missing, so timing does not reveal which ids exist.
        expected = record.secret_hash if record is not None else "0" * 64
        if not hmac.compare_digest(expected, _hash(secret)) or record is None or record.revoked_at is not None:
            raise AuthenticationError("invalid or revoked token", hint="create a new one: tvilling token create")
        principal = Principal(tenant=record.tenant, role=Role(record.role), token_id=record.id)
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[token] = (now + self._ttl, principal)
        return principal

    def first_start(self) -> IssuedToken | None:
        """On an empty database create tenant "default" and an admin token (returned once, for printing)."""
        with self._store.read() as tx:
            if tx.tenants.count() > 0:
                return None
        return self.create(DEFAULT_TENANT, Role.ADMIN, name="first-start admin")


def require_role(role: Role, needed: Role, what: str) -> None:
    """Refuse ``what`` to a role below ``needed``. Services call it themselves (the API routes and the dashboard
    check too), so no front-end can forget."""
    if not role.allows(needed):
        raise PermissionDeniedError(f"the {role.value} role cannot {what}; it needs {needed.value}",
                                    hint="use a token with a higher role (tvilling token create --role …)")
