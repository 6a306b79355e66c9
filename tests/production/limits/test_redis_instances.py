"""Two instances on one Redis (RELIABILITY T23 across instances), leases of dead instances,
and a Redis that cannot be reached."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from aichatflow.config import LimitsSettings
from aichatflow.errors import OverCapacity, RateLimited
from aichatflow.server.production import Admission, Caller
from tests.production.limits._helpers import keyed
from tests.support.processes import free_port
from tests.support.redis_server import redis_process, require_redis


@pytest.fixture
async def redis_limiter(redis_url: str, redis_prefix: str) -> AsyncIterator[Callable[..., Any]]:
    """Builds instances on the session's Redis (each with its own connections)."""
    from aichatflow.server.limits.redis_store import RedisLimiter

    made: list[RedisLimiter] = []

    def build(lease: float = 15.0, url: str = redis_url, **limits: int) -> RedisLimiter:
        limiter = RedisLimiter(
            LimitsSettings(storage=url, **limits), lease=lease, prefix=redis_prefix
        )
        made.append(limiter)
        return limiter

    yield build
    for limiter in made:
        await limiter.aclose()


async def _split_race(a: Any, b: Any, callers: list[Caller]) -> list[Admission | BaseException]:
    barrier = asyncio.Barrier(len(callers))

    async def one(i: int, caller: Caller) -> Admission:
        await barrier.wait()
        return await (a if i % 2 else b).admit(caller, tokens=0)

    return await asyncio.gather(*(one(i, c) for i, c in enumerate(callers)), return_exceptions=True)


async def test_two_instances_share_max_streams_exactly(redis_limiter: Callable[..., Any]) -> None:
    a, b = redis_limiter(), redis_limiter()
    try:
        results = await _split_race(a, b, [keyed(max_streams=5)] * 50)
        refused = [r for r in results if isinstance(r, BaseException)]
        assert len(results) - len(refused) == 5
        assert len(refused) == 45
        assert all(type(r) is RateLimited and r.retry_after == 1.0 for r in refused)
        assert a.held + b.held == 5
    finally:
        await a.aclose()
        await b.aclose()


async def test_two_instances_share_the_server_capacity(redis_limiter: Callable[..., Any]) -> None:
    a, b = redis_limiter(max_streams=5), redis_limiter(max_streams=5)
    try:
        results = await _split_race(a, b, [Caller(None, f"10.0.0.{i}") for i in range(50)])
        refused = [r for r in results if isinstance(r, BaseException)]
        assert len(results) - len(refused) == 5
        assert all(type(r) is OverCapacity for r in refused)
    finally:
        await a.aclose()
        await b.aclose()


async def test_two_instances_share_rpm_exactly(redis_limiter: Callable[..., Any]) -> None:
    a, b = redis_limiter(), redis_limiter()
    try:
        results = await _split_race(a, b, [keyed(rpm=60)] * 100)
        refused = [r for r in results if isinstance(r, BaseException)]
        assert len(results) - len(refused) == 60
        assert all(type(r) is RateLimited for r in refused)
    finally:
        await a.aclose()
        await b.aclose()


async def test_a_dead_instances_slots_free_within_the_lease(
    redis_limiter: Callable[..., Any],
) -> None:
    """An instance that stops renewing (killed, frozen) holds its slots one lease at most,
    while a live instance's slots outlast many leases."""
    lease = 1.0
    live, dead = redis_limiter(lease=lease), redis_limiter(lease=lease)
    caller = keyed(max_streams=2)
    try:
        await live.admit(caller, tokens=0)
        await dead.admit(caller, tokens=0)
        assert dead._renewer is not None
        dead._renewer.cancel()  # the instance dies: no release, no renewal
        with pytest.raises(RateLimited):
            await live.admit(caller, tokens=0)
        started = time.monotonic()
        while True:
            try:
                await live.admit(caller, tokens=0)
                break
            except RateLimited:
                assert time.monotonic() - started < lease + 2.0, "the dead slot never freed"
                await asyncio.sleep(0.05)
        # The live instance's first slot was renewed all along; both of its slots are held.
        await asyncio.sleep(lease * 2)
        with pytest.raises(RateLimited):
            await live.admit(caller, tokens=0)
        assert live.held == 2
    finally:
        await live.aclose()
        await dead.aclose()


async def test_one_renewal_task_per_limiter(redis_limiter: Callable[..., Any]) -> None:
    limiter = redis_limiter(lease=3.0)
    try:
        before = len(asyncio.all_tasks())
        admissions = [await limiter.admit(keyed(max_streams=100), tokens=0) for _ in range(20)]
        assert len(asyncio.all_tasks()) == before + 1
        for admission in admissions:
            await admission.release(None)
        assert limiter.held == 0
    finally:
        await limiter.aclose()
    assert limiter._renewer is not None and limiter._renewer.done()


async def test_unreachable_redis_fails_closed_without_the_password(
    caplog: pytest.LogCaptureFixture,
) -> None:
    require_redis()
    from aichatflow.server.limits.redis_store import RedisLimiter

    url = f"redis://:hunter2-secret@127.0.0.1:{free_port()}/0"  # nothing listens there
    limiter = RedisLimiter(LimitsSettings(storage=url, max_streams=5))
    assert "hunter2" not in repr(limiter)
    try:
        with caplog.at_level(logging.WARNING, logger="aichatflow.limits"):
            started = time.monotonic()
            with pytest.raises(OverCapacity) as refused:
                await limiter.admit(Caller(None, "127.0.0.1"), tokens=0)
            assert time.monotonic() - started < 5.0
        assert refused.value.retry_after == 1.0
        assert "hunter2" not in str(refused.value)
        assert "unreachable" in caplog.text
        assert "hunter2" not in caplog.text
        assert "[REDACTED]" in caplog.text
        assert not any(r.exc_info for r in caplog.records)
    finally:
        await limiter.aclose()


async def test_release_with_redis_gone_logs_and_does_not_raise(
    redis_limiter: Callable[..., Any], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with redis_process(tmp_path) as url:
        limiter = redis_limiter(url=url)
        admission = await limiter.admit(keyed(max_streams=1, tpm=100), tokens=10)
    # That Redis is stopped now.
    with caplog.at_level(logging.WARNING, logger="aichatflow.limits"):
        await admission.release(5)
        await admission.release(5)
    assert caplog.text.count("could not release") == 1
    assert not any(r.exc_info for r in caplog.records)
    assert limiter.held == 0
