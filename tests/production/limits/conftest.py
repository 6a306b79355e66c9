"""Fixtures of the limits' tests: a real Redis for the session, fresh key prefixes per test."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from aichatflow.config import LimitsSettings
from aichatflow.server.limits import MemoryLimiter
from aichatflow.server.production import Limiter


@pytest.fixture
def redis_prefix() -> str:
    """Key prefix of one test: tests share the session's Redis, never its keys."""
    return "{t" + uuid.uuid4().hex[:12] + "}:limits:"


LimiterFactory = Callable[..., Limiter]


@pytest.fixture(params=["memory", "redis"])
async def make_limiter(request: pytest.FixtureRequest) -> AsyncIterator[LimiterFactory]:
    """Builds limiters of one storage (the test runs once per storage); each call is another
    instance (with Redis: its own connection, as another server process would have), all
    sharing one store. Keyword arguments are ``[limits]`` fields, plus ``lease`` for Redis."""
    made: list[Limiter] = []
    prefix = ""
    url = ""
    if request.param == "redis":
        url = request.getfixturevalue("redis_url")
        prefix = request.getfixturevalue("redis_prefix")

    def build(*, lease: float = 15.0, **limits: Any) -> Limiter:
        limiter: Limiter
        if request.param == "memory":
            limiter = MemoryLimiter(LimitsSettings(**limits))
        else:
            from aichatflow.server.limits.redis_store import RedisLimiter

            settings = LimitsSettings(storage=url, **limits)
            limiter = RedisLimiter(settings, lease=lease, prefix=prefix)
        made.append(limiter)
        return limiter

    build.storage = request.param  # type: ignore[attr-defined]
    yield build
    for limiter in made:
        await limiter.aclose()
