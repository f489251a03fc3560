"""One webhook POST over httpx (async): the receiver's answer or why there was none, never an exception.

Redirects are not followed (a 3xx is a failed attempt: a redirect could point anywhere, past the allow-list),
proxies from the environment are not used (``trust_env=False``: the allow-list names the host actually reached),
and at most ``MAX_ANSWER_BYTES`` of an answer are read (a receiver cannot make the server buffer a large body).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx

from tvilling import __version__

MAX_ANSWER_BYTES = 1024
USER_AGENT = f"Tvilling-Webhooks/{__version__}"


@dataclass(frozen=True)
class Answer:
    status_code: int | None  # None: no HTTP answer (connection refused, timeout, …)
    error: str | None  # None on a 2xx
    retry_after: str | None = None  # the Retry-After header, as sent
    latency_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class WebhookSender:
    def __init__(self, timeout_s: float, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.timeout_s = timeout_s
        self._client = httpx.AsyncClient(timeout=httpx.Timeout(timeout_s), follow_redirects=False, trust_env=False,
                                         headers={"user-agent": USER_AGENT}, transport=transport)

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> Answer:
        began = time.perf_counter()
        try:
            async with self._client.stream("POST", url, content=body, headers=headers) as response:
                snippet = await _head(response)
        except httpx.TimeoutException:
            return Answer(None, f"no answer within {self.timeout_s:g} s", latency_s=time.perf_counter() - began)
        except httpx.HTTPError as exc:
            reason = str(exc) or type(exc).__name__
            return Answer(None, f"{type(exc).__name__}: {reason}"[:500], latency_s=time.perf_counter() - began)
        latency = time.perf_counter() - began
        code = response.status_code
        if 200 <= code < 300:
            return Answer(code, None, latency_s=latency)
        text = f"HTTP {code} {response.reason_phrase}".strip()
        if 300 <= code < 400:
            text += " (redirects are not followed; give the final URL)"
        if snippet:
            text += ": " + snippet
        return Answer(code, text[:1000], retry_after=response.headers.get("retry-after"), latency_s=latency)

    async def aclose(self) -> None:
        await self._client.aclose()


async def _head(response: httpx.Response) -> str:
    """The start of the answer's body as one line of text (for the delivery log)."""
    data = b""
    async for chunk in response.aiter_bytes():
        data += chunk
        if len(data) >= MAX_ANSWER_BYTES:
            break
    return " ".join(data[:MAX_ANSWER_BYTES].decode("utf-8", "replace").split())[:300]
