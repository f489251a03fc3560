"""Route signing secrets, derived rather than stored: ``HMAC-SHA256(server key, "<tenant>/<route>/<version>")``.

The server key (32 random bytes, hex) is made on first use in ``data_dir/webhook-signing.key`` (mode 0600) or the
file named by ``webhook_key_file``; it never enters the database, so a copy of the database alone cannot forge a
delivery, and a rotation (``version`` + 1) gives a route a new secret without storing anything secret. Servers
sharing one database must share the key file, or their signatures differ.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import threading
import time
from pathlib import Path

from tvilling.core.errors import ConfigurationError

_HEX_KEY = re.compile(r"^[0-9a-f]{64}$")


class SigningKeys:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._key: bytes | None = None
        self._lock = threading.Lock()

    def secret(self, tenant: str, route_id: str, version: int) -> bytes:
        """The route's signing key (the bytes behind its ``whsec_…`` secret)."""
        label = f"tvilling-webhook/v1/{tenant}/{route_id}/{version}".encode()
        return hmac.new(self._server_key(), label, hashlib.sha256).digest()

    def _server_key(self) -> bytes:
        with self._lock:
            if self._key is None:
                self._key = self._load_or_create()
            return self._key

    def _load_or_create(self) -> bytes:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # O_EXCL: two servers starting on one data directory cannot both write a key.
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return self._read()
        except OSError as exc:
            raise ConfigurationError(f"cannot create the webhook signing key: {exc.strerror}", where=str(self.path),
                                     hint="make the data directory writable, or set TVILLING_WEBHOOK_KEY_FILE") from exc
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(secrets.token_hex(32) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        return self._read()

    def _read(self) -> bytes:
        try:
            text = self.path.read_text(encoding="ascii").strip()
            for _ in range(50):  # another process may have just created it and not written it yet
                if text:
                    break
                time.sleep(0.01)
                text = self.path.read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigurationError(f"cannot read the webhook signing key: {exc}", where=str(self.path),
                                     hint="restore the file, or remove it to make a new key (every route's secret "
                                          "changes then)") from exc
        if not _HEX_KEY.fullmatch(text):
            raise ConfigurationError("the webhook signing key file does not hold 64 hex digits", where=str(self.path),
                                     hint="restore the file, or remove it to make a new key (every route's secret "
                                          "changes then)")
        return bytes.fromhex(text)
