"""One webhook POST over httpx (async): the receiver's answer or why there was none, never an exception.

Redirects are not followed (a 3xx is a failed attempt: a redirect could point anywhere, past the allow-list),
proxies from the environment are not used (``trust_env=False``: the allow-list names the host actually reached),
and an answer's body is never read (a receiver cannot make the server buffer a large body, and its text is not
repeated where tenants read the log). One time limit covers the whole attempt.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import httpx

from tvilling import __version__

USER_AGENT = f"Tvilling-Webhooks/{__version__}"


def is_redirect(status_code: int | None) -> bool:
    """A 3xx: never followed (a redirect could point anywhere, past the allow-list)."""
    return status_code is not None and 300 <= status_code < 400


@dataclass(frozen=True)
class Answer:
    status_code: int | None  # None: no HTTP answer (connection refused, timeout, …)
    error: str | None  # None on a 2xx
    retry_after: str | None = None  # the Retry-After header, as sent
    latency_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def redirect(self) -> bool:
        return is_redirect(self.status_code)


class WebhookSender:
    def __init__(self, timeout_s: float, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.timeout_s = timeout_s
        self._client = httpx.AsyncClient(timeout=httpx.Timeout(timeout_s), follow_redirects=False, trust_env=False,
                                         headers={"user-agent": USER_AGENT}, transport=transport)

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> Answer:
        began = time.perf_counter()
        try:
            # one limit for the whole attempt (httpx's is per phase: a receiver trickling its answer could hold the
            # route, and outlive its lease, indefinitely)
            async with asyncio.timeout(self.timeout_s), \
                    self._client.stream("POST", url, content=body, headers=headers) as response:
                pass  # the status line and headers are all we keep; the body is never read
        except (TimeoutError, httpx.TimeoutException):
            return Answer(None, f"no answer within {self.timeout_s:g} s", latency_s=time.perf_counter() - began)
        except httpx.HTTPError as exc:
            reason = str(exc) or type(exc).__name__
            return Answer(None, f"{type(exc).__name__}: {reason}"[:500], latency_s=time.perf_counter() - began)
        latency = time.perf_counter() - began
        code = response.status_code
        if 200 <= code < 300:
            return Answer(code, None, latency_s=latency)
        # the status line only: the answer's body is the receiver's (an error page of some other service on an
        # allowed host), not for the tenants who read the delivery log
        text = f"HTTP {code} {response.reason_phrase}".strip()
        if is_redirect(code):
            text += " (redirects are not followed; give the final URL)"
        return Answer(code, text[:1000], retry_after=response.headers.get("retry-after"), latency_s=latency)

    async def aclose(self) -> None:
        await self._client.aclose()
