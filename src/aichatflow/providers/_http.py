"""The one place that knows which HTTP client talks to upstreams: aiohttp.

Everything else sees ``HttpClient.stream(...)`` yielding an ``UpstreamResponse`` (status, lower-
cased headers, an async iterator of body chunks) and typed errors from ``aichatflow.errors``.

Why aiohttp: through the OpenAI-compatible adapter's decoder and parser it costs about a third
of httpx's CPU per event, and it hands over *everything already received* per item, which is
what lets the engine write a lagging client's backlog in one send; httpx yields one item per
HTTP chunk (docs/performance.md, "Reading upstreams: which HTTP client").

Errors never carry the request URL or headers (a Gemini-style ``?key=`` or a bearer token would
leak into logs and frames); they name the provider and the kind of failure only.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aiohttp

from ..errors import ProviderError, UpstreamDisconnected, UpstreamTimeout


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpOptions:
    connect_timeout: float = 5.0
    """Seconds to open the TCP (and TLS) connection."""
    read_timeout: float = 60.0
    """Seconds without a single byte from the upstream (bytes-idle; keep-alives reset it)."""
    pool_size: int = 1000
    """Connections to the upstream open at once (``[providers.NAME] pool_size``): streaming and
    idle together. Past it a request waits for a connection to come free (its stream's
    ``first_token`` timer still runs). 1000 is what aiohttp was given before it was a setting:
    a cap that only guards against runaway, as every stream holds its own connection."""
    keepalive: float = 15.0
    """Seconds an idle connection is kept for the next request (``[providers.NAME]
    keepalive``); 0 closes each one when its response ends. 15 is aiohttp's own default, which
    applied before it was a setting; keep it below the upstream's idle timeout (or its load
    balancer's), so the upstream is never first to close a connection about to be reused."""
    max_error_body: int = 65536
    """How much of an error response body is read to find its message."""


def _untraced(exc: BaseException) -> BaseException:
    """``exc`` and the exceptions it was raised from, with their tracebacks dropped.

    A failed connection leaves a reference cycle in the HTTP stack (aiohappyeyeballs keeps the
    exception in a list in the very frame its traceback holds), a cycle only a full garbage
    collection frees; ``serve`` runs one rarely (``tune_gc``), so an unreachable upstream would
    grow the server with every attempt (docs/performance.md, "No reference cycle per stream").
    The frames are only reachable through the tracebacks, and nothing reads them: errors are
    reported by type, never with a stack.
    """
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        current.__traceback__ = None
        pending += (current.__cause__, current.__context__)
    return exc


class UpstreamResponse:
    """An upstream response whose body has not been read yet."""

    __slots__ = ("_provider", "_response", "headers", "status")

    def __init__(self, response: aiohttp.ClientResponse, provider: str) -> None:
        self._response = response
        self._provider = provider
        self.status = response.status
        self.headers: Mapping[str, str] = {k.lower(): v for k, v in response.headers.items()}

    async def chunks(self) -> AsyncIterator[bytes]:
        """Body bytes as they arrive: each item is everything received since the last one."""
        try:
            async for chunk in self._response.content.iter_any():
                yield chunk
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise UpstreamTimeout(
                f"{self._provider}: no data from upstream within the read timeout",
                provider=self._provider,
            ) from _untraced(exc)
        except aiohttp.ClientError as exc:
            raise UpstreamDisconnected(
                f"{self._provider}: upstream connection lost ({type(exc).__name__})",
                provider=self._provider,
            ) from _untraced(exc)

    async def read(self, limit: int) -> bytes:
        """Up to ``limit`` bytes of the body (error bodies), never more in memory."""
        buf = bytearray()
        async for chunk in self.chunks():
            buf += chunk
            if len(buf) >= limit:
                break
        return bytes(buf[:limit])

    def close(self) -> None:
        """Return a fully read connection to the pool; close one that is mid-body."""
        if self._response.content.at_eof():
            self._response.release()
        else:
            self._response.close()


class HttpClient:
    """A pooled HTTP client for one provider, created lazily in the loop that uses it."""

    def __init__(self, provider: str, options: HttpOptions | None = None) -> None:
        self.provider = provider
        self.options = options or HttpOptions()
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _client(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is None or self._loop is not loop or self._session.closed:
            opts = self.options
            keep = opts.keepalive > 0
            connector = aiohttp.TCPConnector(
                limit=opts.pool_size,
                limit_per_host=0,  # a provider has one upstream: ``limit`` is its pool
                keepalive_timeout=opts.keepalive if keep else None,
                force_close=not keep,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(
                    total=None, sock_connect=opts.connect_timeout, sock_read=opts.read_timeout
                ),
                auto_decompress=True,
                trust_env=False,
            )
            self._loop = loop
        return self._session

    @asynccontextmanager
    async def stream(
        self, method: str, url: str, *, headers: Mapping[str, str], body: bytes
    ) -> AsyncIterator[UpstreamResponse]:
        """Send a request; the response is closed when the block exits, however it exits."""
        try:
            response = await self._client().request(
                method, url, headers=dict(headers), data=body, allow_redirects=False
            )
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise UpstreamTimeout(
                f"{self.provider}: upstream did not answer in time ({type(exc).__name__})",
                provider=self.provider,
            ) from _untraced(exc)
        except aiohttp.ClientError as exc:
            raise ProviderError(
                f"{self.provider}: cannot reach upstream ({type(exc).__name__})",
                provider=self.provider,
            ) from _untraced(exc)
        upstream = UpstreamResponse(response, self.provider)
        try:
            yield upstream
        finally:
            upstream.close()

    async def aclose(self) -> None:
        if self._session is not None and not self._session.closed:
            session, self._session = self._session, None
            if self._loop is asyncio.get_running_loop():
                await session.close()


__all__ = ["HttpClient", "HttpOptions", "UpstreamResponse"]
