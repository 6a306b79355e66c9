"""The journal ``[journal]`` asks for: none, this process's memory, or Redis Streams."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .backend import Journal
from .memory import MemoryJournal

if TYPE_CHECKING:
    from ..config import Settings


def build_journal(settings: Settings) -> Journal | None:
    """None with ``backend = "off"`` (the direct path). ``redis`` uses ``[journal] url``, or
    ``[limits] storage`` when that is a Redis (one Redis for everything shared)."""
    config = settings.journal
    if config.backend == "off":
        return None
    if config.backend == "memory":
        return MemoryJournal(
            ttl=config.ttl,
            max_stream_bytes=config.max_stream_bytes,
            max_bytes=config.max_bytes,
            cache_max_bytes=settings.cache.max_bytes,
        )
    from ..errors import ConfigError
    from ..redis_client import require_redis_client

    url = config.url or settings.limits.storage
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError(
            "journal: backend = 'redis' needs journal.url (or a Redis limits.storage)"
        )
    require_redis_client(url)
    from .redis_journal import RedisJournal
    from .relay import RelayedJournal

    redis = RedisJournal(
        url,
        ttl=config.ttl,
        heartbeat=settings.stream.heartbeat,
        max_duration=settings.stream.max_duration,
        # a finished run's description outlives its entries by one more ttl: long enough to
        # tell a late resume "expired", short enough that Redis holds two ttl's worth of runs
        tombstone=config.ttl,
        cache_max_bytes=settings.cache.max_bytes,
    )
    journal: Journal = RelayedJournal(redis)
    return journal


__all__ = ["build_journal"]
