"""The parts of the production layer, as the request flow (``server/gate.py``) sees them.

Each part is built from its settings table when the app is created and lives in one module
(or package) of its own; the gate calls them in a fixed order, once per request, never per
event:

1. ``Host`` check (``hosts.py``), then a request id and a ``RequestRecord``;
2. CORS (``cors.py``): a preflight is answered here; an allowed origin's headers are added to
   whatever the request is answered with;
3. keys (``auth.py``): who is asking (401 before anything else runs);
4. for a chat request, once its body is parsed: the key's models (403), then the limits
   (``limits/``: 429 or 503), then the stream; the admission is released when the stream ends,
   however it ends;
5. when the request is over: one access-log line (``access_log.py``) and the metrics
   (``metrics/``), both from the record.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Protocol

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope

from ..config import ApiKey
from ..dialects.error_shape import Headers
from ..request_record import RequestRecord


@dataclass(frozen=True, slots=True)
class Caller:
    """Who sent a request: a configured key, or nobody (keys off) from an address."""

    key: ApiKey | None
    client_ip: str

    @property
    def key_id(self) -> str | None:
        return None if self.key is None else self.key.id

    def may_use(self, model: str) -> bool:
        """Whether one of the key's ``models`` globs (case-sensitive, as ``fnmatch``) matches
        ``model``, the name the request used (an alias stays an alias); no key or no globs:
        every model."""
        key = self.key
        if key is None or key.models is None:
            return True
        return any(fnmatch.fnmatchcase(model, pattern) for pattern in key.models)


class Keys(Protocol):
    """``auth.py``: the configured client keys and the tickets minted for them."""

    enabled: bool

    def requires_key(self, method: str, path: str) -> bool:
        """Whether this route wants a credential (not the page, its files, ``/healthz``, a
        CORS preflight, nor ``/metrics`` when it is public)."""
        ...

    async def authenticate(self, scope: Scope, client_ip: str) -> Caller:
        """The caller of a request that needs a key; raises ``Unauthorized`` (401), or
        ``OverCapacity`` (503) when the shared store of tickets cannot be reached (a ticket
        may live in Redis, so this may await it)."""
        ...

    def authorize_model(self, caller: Caller, model: str) -> None:
        """Raises ``Forbidden`` (403) when the caller's key may not use ``model``."""
        ...

    async def aclose(self) -> None:
        """Close what the keys hold open (the tickets' Redis connections)."""
        ...


class Admission(Protocol):
    """A request let in by the limits: holds its stream slots and token reservation."""

    headers: Headers
    """``x-ratelimit-*`` for the response (empty when no limit applies)."""

    async def release(self, used_tokens: int | None) -> None:
        """Give the slots back and settle the tokens reserved against what was used (``None``:
        unknown, the reservation stands). Idempotent, and never raises."""
        ...


class Limiter(Protocol):
    """``limits/``: the server's capacity, each key's limits and anonymous callers' limits."""

    async def admit(self, caller: Caller, *, tokens: int) -> Admission:
        """Let a chat request in, or raise ``RateLimited`` (429) / ``OverCapacity`` (503),
        each with ``retry_after`` and its ``x-ratelimit-*`` headers."""
        ...

    async def aclose(self) -> None: ...


class Metrics(Protocol):
    """``metrics/``: counters and histograms, served by ``GET /metrics``."""

    def stream_opened(self, route: str) -> None: ...

    def stream_closed(self, route: str) -> None: ...

    def rate_limited(self, scope: str) -> None:
        """A request was refused by a limit: ``scope`` is ``key``, ``ip`` or ``server``."""
        ...

    def shared(self, kind: str) -> None:
        """A request was answered from another's run: ``joined`` or ``cache_hit``."""
        ...

    def request_finished(self, record: RequestRecord) -> None:
        """Everything else, from the record of a finished request."""
        ...

    def wants_gaps(self) -> bool:
        """Whether chat records should count gaps between content writes."""
        ...

    async def endpoint(self, request: Request) -> Response:
        """``GET /metrics``."""
        ...


class Cors(Protocol):
    """``cors.py``: which other origins' pages may call the API."""

    def preflight(self, scope: Scope) -> tuple[int, Headers] | None:
        """The answer to a CORS preflight (``OPTIONS`` with ``Access-Control-Request-Method``),
        or ``None`` when the request is not one."""
        ...

    def headers(self, scope: Scope) -> Headers:
        """The CORS headers of an actual request's response (empty for an origin not allowed,
        or no ``Origin``)."""
        ...


class AccessLog(Protocol):
    def write(self, record: RequestRecord) -> None: ...


__all__ = ["AccessLog", "Admission", "Caller", "Cors", "Keys", "Limiter", "Metrics"]
