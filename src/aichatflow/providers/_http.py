"""The one place that knows which HTTP client talks to upstreams.

Everything else sees ``HttpClient.stream(...)`` yielding an ``UpstreamResponse`` (status, lower-
cased headers, an async iterator of body chunks) and typed errors from ``aichatflow.errors``. The
client was chosen by measuring chunks per second through the OpenAI-compatible adapter
(``benchmarks/http_clients.py``; figures in docs/performance.md).

Errors never carry the request URL or headers (a Gemini-style ``?key=`` or a bearer token would
leak into logs and frames); they name the provider and the kind of failure only.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx

from ..errors import ProviderError, UpstreamDisconnected, UpstreamTimeout

READ_SIZE = 65536
"""What one network read asks for (httpcore's own read size); not a buffering threshold."""


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpOptions:
    connect_timeout: float = 5.0
    """Seconds to open the TCP (and TLS) connection."""
    read_timeout: float = 60.0
    """Seconds without a single byte from the upstream (bytes-idle; keep-alives reset it)."""
    max_connections: int = 1000
    max_error_body: int = 65536
    """How much of an error response body is read to find its message."""


class UpstreamResponse:
    """An upstream response whose body has not been read yet."""

    __slots__ = ("_provider", "_response", "headers", "status")

    def __init__(self, response: httpx.Response, provider: str) -> None:
        self._response = response
        self._provider = provider
        self.status = response.status_code
        self.headers: Mapping[str, str] = {k.lower(): v for k, v in response.headers.items()}

    async def chunks(self) -> AsyncIterator[bytes]:
        """Body bytes as they arrive, one item per network read."""
        try:
            # No chunk_size: with one, httpx's ByteChunker holds bytes back until that many
            # have arrived, so small deltas would wait for 64 KiB or the end of the stream.
            async for chunk in self._response.aiter_raw():
                yield chunk
        except httpx.TimeoutException as exc:
            raise UpstreamTimeout(
                f"{self._provider}: no data from upstream within the read timeout",
                provider=self._provider,
            ) from exc
        except httpx.TransportError as exc:
            raise UpstreamDisconnected(
                f"{self._provider}: upstream connection lost ({type(exc).__name__})",
                provider=self._provider,
            ) from exc

    async def read(self, limit: int) -> bytes:
        """Up to ``limit`` bytes of the body (error bodies), never more in memory."""
        buf = bytearray()
        async for chunk in self.chunks():
            buf += chunk
            if len(buf) >= limit:
                break
        return bytes(buf[:limit])


class HttpClient:
    """A pooled HTTP client for one upstream base URL."""

    def __init__(self, provider: str, options: HttpOptions | None = None) -> None:
        self.provider = provider
        self.options = opts = options or HttpOptions()
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(
                connect=opts.connect_timeout, read=opts.read_timeout, write=30.0, pool=30.0
            ),
            limits=httpx.Limits(
                max_connections=opts.max_connections,
                max_keepalive_connections=min(100, opts.max_connections),
            ),
            follow_redirects=False,
            trust_env=False,
        )

    @asynccontextmanager
    async def stream(
        self, method: str, url: str, *, headers: Mapping[str, str], body: bytes
    ) -> AsyncIterator[UpstreamResponse]:
        """Send a request; the response is closed when the block exits, however it exits."""
        request = self._client.build_request(method, url, headers=headers, content=body)
        try:
            response = await self._client.send(request, stream=True)
        except httpx.TimeoutException as exc:
            raise UpstreamTimeout(
                f"{self.provider}: upstream did not answer in time ({type(exc).__name__})",
                provider=self.provider,
            ) from exc
        except httpx.TransportError as exc:
            raise ProviderError(
                f"{self.provider}: cannot reach upstream ({type(exc).__name__})",
                provider=self.provider,
            ) from exc
        try:
            yield UpstreamResponse(response, self.provider)
        finally:
            await response.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()


__all__ = ["HttpClient", "HttpOptions", "UpstreamResponse"]
