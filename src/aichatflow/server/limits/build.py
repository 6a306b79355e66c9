"""``build_limiter``: the limits of a configuration, or none at all; and the warning that
``memory://`` limits and tickets are per process."""

from __future__ import annotations

from ...config import Settings
from ...redis_client import require_redis_client
from ..production import Limiter
from .memory import MemoryLimiter

PER_WORKER_WARNING = (
    "limits and tickets are per worker with memory:// storage; "
    'use [limits] storage = "redis://..." to share them'
)


def limits_apply(settings: Settings) -> bool:
    """Whether anything is limited: a key's ``rpm``/``tpm``/``max_streams``, the server's
    ``max_streams`` or the addresses' ``ip_rpm``."""
    limits = settings.limits
    keyed = any(k.rpm or k.tpm or k.max_streams for k in settings.auth.keys)
    return keyed or bool(limits.max_streams or limits.ip_rpm)


def per_worker_warning(settings: Settings) -> str | None:
    """``PER_WORKER_WARNING`` when ``serve`` is to start several processes that would each
    keep their own limits and tickets: ``workers > 1`` (uvicorn's or granian's), ``memory://``
    storage, and a limit or a key (keys mint tickets) configured; else ``None``. Each worker
    would otherwise admit its own ``max_streams`` and honour only its own tickets, silently."""
    if settings.workers <= 1 or settings.limits.storage != "memory://":
        return None
    if limits_apply(settings) or settings.auth.enabled:
        return PER_WORKER_WARNING
    return None


def build_limiter(settings: Settings) -> Limiter | None:
    """The limiter of ``[limits]`` and the keys, or ``None`` when nothing is limited: then the
    request flow skips the limits altogether and they cost nothing."""
    if not limits_apply(settings):
        return None
    storage = settings.limits.storage
    if storage == "memory://":
        return MemoryLimiter(settings.limits)
    require_redis_client(storage)
    from .redis_store import RedisLimiter

    return RedisLimiter(settings.limits)


__all__ = ["PER_WORKER_WARNING", "build_limiter", "limits_apply", "per_worker_warning"]
