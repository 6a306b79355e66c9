"""``build_limiter``: the limits of a configuration, or none at all."""

from __future__ import annotations

from ...config import Settings
from ...errors import ConfigError
from ...redaction import redact_url
from ..production import Limiter
from .memory import MemoryLimiter


def limits_apply(settings: Settings) -> bool:
    """Whether anything is limited: a key's ``rpm``/``tpm``/``max_streams``, the server's
    ``max_streams`` or the addresses' ``ip_rpm``."""
    limits = settings.limits
    keyed = any(k.rpm or k.tpm or k.max_streams for k in settings.auth.keys)
    return keyed or bool(limits.max_streams or limits.ip_rpm)


def build_limiter(settings: Settings) -> Limiter | None:
    """The limiter of ``[limits]`` and the keys, or ``None`` when nothing is limited: then the
    request flow skips the limits altogether and they cost nothing."""
    if not limits_apply(settings):
        return None
    storage = settings.limits.storage
    if storage == "memory://":
        return MemoryLimiter(settings.limits)
    try:
        import redis.asyncio  # noqa: F401
    except ImportError:
        raise ConfigError(
            f"limits.storage = {redact_url(storage)!r} needs the Redis client: "
            "pip install 'aichatflow[redis]'"
        ) from None
    from .redis_store import RedisLimiter

    return RedisLimiter(settings.limits)


__all__ = ["build_limiter", "limits_apply"]
