"""The memory storage alone: bounded under address churn, and windows that slide."""

from __future__ import annotations

import pytest

from aichatflow.config import LimitsSettings
from aichatflow.errors import RateLimited
from aichatflow.server.limits import MemoryLimiter
from aichatflow.server.production import Caller
from tests.production.limits._helpers import headers_of, keyed


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_100k_distinct_addresses_are_dropped_once_idle() -> None:
    clock = Clock()
    limiter = MemoryLimiter(LimitsSettings(ip_rpm=5), clock=clock)
    for i in range(100_000):
        await limiter.admit(Caller(None, f"10.{i >> 16}.{(i >> 8) & 255}.{i & 255}"), tokens=0)
        clock.now += 0.0001  # 100k requests within 10 s
    assert limiter.tracked_scopes == 100_000  # all inside the window: each is still counted
    clock.now += 61.0
    await limiter.admit(Caller(None, "192.0.2.1"), tokens=0)
    assert limiter.tracked_scopes <= 1
    # Continuous churn: at most two windows' worth of addresses are ever held.
    peak = 0
    for i in range(50_000):
        await limiter.admit(Caller(None, f"churn-{i}"), tokens=0)
        clock.now += 0.01  # 100 new addresses a second
        peak = max(peak, limiter.tracked_scopes)
    assert peak <= 2 * 60 * 100 + 2


async def test_windows_slide_exactly() -> None:
    clock = Clock()
    limiter = MemoryLimiter(LimitsSettings(), clock=clock)
    caller = keyed(rpm=2)
    await limiter.admit(caller, tokens=0)
    clock.now += 20
    await limiter.admit(caller, tokens=0)
    clock.now += 10
    with pytest.raises(RateLimited) as refused:
        await limiter.admit(caller, tokens=0)
    assert refused.value.retry_after == pytest.approx(30.0)  # the first frees at +60
    assert headers_of(refused.value)["x-ratelimit-reset-requests"] == "50s"
    clock.now += 30.0
    admission = await limiter.admit(caller, tokens=0)  # exactly 60 s after the first
    assert headers_of(admission)["x-ratelimit-remaining-requests"] == "0"


async def test_token_wait_is_until_enough_tokens_slide_out() -> None:
    clock = Clock()
    limiter = MemoryLimiter(LimitsSettings(), clock=clock)
    caller = keyed(tpm=1000)
    await limiter.admit(caller, tokens=300)
    clock.now += 10
    await limiter.admit(caller, tokens=300)
    clock.now += 10
    await limiter.admit(caller, tokens=300)
    with pytest.raises(RateLimited) as refused:
        await limiter.admit(caller, tokens=500)  # needs the first two gone: at +70
    assert refused.value.retry_after == pytest.approx(50.0)
    assert headers_of(refused.value)["x-ratelimit-reset-tokens"] == "1m0s"


async def test_slot_counters_do_not_outlive_their_streams() -> None:
    limiter = MemoryLimiter(LimitsSettings(max_streams=10))
    admissions = [await limiter.admit(keyed(f"k{i}", max_streams=1), tokens=0) for i in range(5)]
    assert limiter.streams() == 5
    for admission in admissions:
        await admission.release(None)
    assert limiter.streams() == 0
    assert limiter.tracked_scopes == 0
