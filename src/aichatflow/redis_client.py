"""The one place a Redis client is built, for everything this server keeps in Redis: the limits
(``limits/redis_store.py``) and the stream tickets (``redis_tickets.py``), both selected by
``[limits] storage = "redis://..."``.

Both want the same client: short timeouts (an answer that does not come within ``TIMEOUT``
seconds fails the request closed, with a 503, rather than holding it) and no retries (a script
re-sent after a timeout may already have run: an admission taken twice, a ticket minted twice).
Each part owns its own client (its own connection pool, closed by its own ``aclose``), so
neither can close the other's connections under it.

The URL may hold a password (``redis://:secret@host``): ``describe_error`` is how a Redis error
reaches a log line, with that password redacted.
"""

from __future__ import annotations

from typing import Any

from .errors import ConfigError
from .redaction import redact, redact_url

TIMEOUT = 2.0
"""Seconds to connect or to wait for an answer: past it, the request fails closed."""
NAMESPACE = "{aichatflow}"
"""The start of every key this server writes; the braces put all of them in one Redis Cluster
hash slot, since one script touches several of them."""


def require_redis_client(storage: str) -> None:
    """A ``ConfigError`` naming the extra to install when the Redis client is missing."""
    try:
        import redis.asyncio  # noqa: F401
    except ImportError:
        raise ConfigError(
            f"limits.storage = {redact_url(storage)!r} needs the Redis client: "
            "pip install 'aichatflow[redis]'"
        ) from None


def redis_client(
    url: str, *, answer_timeout: float = TIMEOUT, max_connections: int | None = None
) -> Any:
    """An asyncio Redis client for ``url``: ``TIMEOUT`` to connect and ``answer_timeout`` to
    answer, no retries. Only a client whose commands block on purpose (the journal's
    ``XREAD BLOCK``) waits longer for an answer than ``TIMEOUT``. With ``max_connections``, a
    command past that many connections in use waits for one (at most ``TIMEOUT``, then fails)."""
    import redis.asyncio
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    options: dict[str, Any] = {
        "socket_timeout": answer_timeout,
        "socket_connect_timeout": TIMEOUT,
        "retry": Retry(NoBackoff(), 0),
    }
    if max_connections is None:
        return redis.asyncio.Redis.from_url(url, **options)
    pool = redis.asyncio.BlockingConnectionPool.from_url(
        url, max_connections=max_connections, timeout=TIMEOUT, **options
    )
    return redis.asyncio.Redis.from_pool(pool)


def describe_error(client: Any, exc: BaseException) -> str:
    """``exc`` as one line for a log, with the client's password redacted."""
    kwargs = getattr(getattr(client, "connection_pool", None), "connection_kwargs", {})
    secret = kwargs.get("password") if isinstance(kwargs, dict) else None
    return redact(f"{type(exc).__name__}: {exc}", [secret] if secret else [])


__all__ = ["NAMESPACE", "TIMEOUT", "describe_error", "redis_client", "require_redis_client"]
