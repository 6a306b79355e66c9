"""The limiter's admissions, on each storage: exact counts under races, all-or-nothing, tokens,
releases and the headers (RELIABILITY T23 at the limiter level)."""

from __future__ import annotations

import pytest

from aichatflow.errors import OverCapacity, RateLimited
from aichatflow.server.production import Caller
from tests.production.limits._helpers import headers_of, key, keyed, race
from tests.production.limits.conftest import LimiterFactory


async def test_50_at_once_against_key_max_streams_5_admit_exactly_5(
    make_limiter: LimiterFactory,
) -> None:
    limiter = make_limiter()
    results = await race(limiter, [keyed(max_streams=5)] * 50)
    admitted = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(admitted) == 5
    assert len(refused) == 45
    assert all(type(r) is RateLimited and r.retry_after == 1.0 for r in refused), refused[:3]


async def test_50_at_once_against_server_max_streams_5_admit_exactly_5(
    make_limiter: LimiterFactory,
) -> None:
    limiter = make_limiter(max_streams=5)
    callers = [Caller(None, f"10.0.0.{i}") for i in range(50)]
    results = await race(limiter, callers)
    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(results) - len(refused) == 5
    assert len(refused) == 45
    assert all(type(r) is OverCapacity and r.retry_after == 1.0 for r in refused)


async def test_rpm_60_admits_exactly_60_of_100(make_limiter: LimiterFactory) -> None:
    limiter = make_limiter()
    results = await race(limiter, [keyed(rpm=60)] * 100)
    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(results) - len(refused) == 60
    assert all(type(r) is RateLimited for r in refused)
    for error in refused:
        assert isinstance(error, RateLimited)
        assert 55 < error.retry_after <= 60  # the first of the 60 frees in about a minute
        headers = headers_of(error)
        assert headers["x-ratelimit-limit-requests"] == "60"
        assert headers["x-ratelimit-remaining-requests"] == "0"
        assert headers["x-ratelimit-reset-requests"].endswith("s")
    # Slots were never involved: releasing everything lets no request more in.
    for admission in results:
        if not isinstance(admission, BaseException):
            await admission.release(None)
    with pytest.raises(RateLimited):
        await limiter.admit(keyed(rpm=60), tokens=0)


async def test_headers_of_admissions_count_down(make_limiter: LimiterFactory) -> None:
    limiter = make_limiter()
    caller = keyed(rpm=3, tpm=1000)
    first = headers_of(await limiter.admit(caller, tokens=100))
    assert first == {
        "x-ratelimit-limit-requests": "3",
        "x-ratelimit-remaining-requests": "2",
        "x-ratelimit-reset-requests": "1m0s",
        "x-ratelimit-limit-tokens": "1000",
        "x-ratelimit-remaining-tokens": "900",
        "x-ratelimit-reset-tokens": "1m0s",
    }
    second = headers_of(await limiter.admit(caller, tokens=250))
    assert second["x-ratelimit-remaining-requests"] == "1"
    assert second["x-ratelimit-remaining-tokens"] == "650"


async def test_no_limit_no_headers(make_limiter: LimiterFactory) -> None:
    limiter = make_limiter(max_streams=10)
    admission = await limiter.admit(keyed(), tokens=50)
    assert admission.headers == []  # only the server's capacity applies: no OpenAI headers
    await admission.release(10)


async def test_a_refusal_takes_nothing(make_limiter: LimiterFactory) -> None:
    """The key's single slot is held: a second request is refused and its rpm unit and token
    reservation are not taken, so after the release exactly the remaining budget is left."""
    limiter = make_limiter()
    caller = keyed(rpm=3, tpm=1000, max_streams=1)
    held = await limiter.admit(caller, tokens=100)
    for _ in range(5):
        with pytest.raises(RateLimited) as refused:
            await limiter.admit(caller, tokens=100)
        assert refused.value.retry_after == 1.0
        headers = headers_of(refused.value)
        assert headers["x-ratelimit-remaining-requests"] == "2"
        assert headers["x-ratelimit-remaining-tokens"] == "900"
    await held.release(None)
    second = await limiter.admit(caller, tokens=100)
    assert headers_of(second)["x-ratelimit-remaining-requests"] == "1"
    assert headers_of(second)["x-ratelimit-remaining-tokens"] == "800"


async def test_tpm_reserves_then_settles_to_usage(make_limiter: LimiterFactory) -> None:
    limiter = make_limiter()
    caller = keyed(tpm=1000)
    first = await limiter.admit(caller, tokens=600)
    with pytest.raises(RateLimited) as refused:
        await limiter.admit(caller, tokens=600)  # 600 + 600 > 1000
    assert 55 < refused.value.retry_after <= 60
    assert headers_of(refused.value)["x-ratelimit-remaining-tokens"] == "400"
    await first.release(100)  # used 100 of the 600 reserved: 500 come back
    second = await limiter.admit(caller, tokens=600)
    assert headers_of(second)["x-ratelimit-remaining-tokens"] == "300"  # 1000 - 100 - 600
    await second.release(None)  # unknown usage: the reservation stands
    with pytest.raises(RateLimited):
        await limiter.admit(caller, tokens=301)
    third = await limiter.admit(caller, tokens=300)
    assert headers_of(third)["x-ratelimit-remaining-tokens"] == "0"
    await third.release(0)  # failed before any token: all of it comes back
    fourth = await limiter.admit(caller, tokens=300)
    assert headers_of(fourth)["x-ratelimit-remaining-tokens"] == "0"


async def test_usage_beyond_the_reservation_counts(make_limiter: LimiterFactory) -> None:
    limiter = make_limiter()
    caller = keyed(tpm=1000)
    admission = await limiter.admit(caller, tokens=100)
    await admission.release(950)
    with pytest.raises(RateLimited):
        await limiter.admit(caller, tokens=100)
    last = await limiter.admit(caller, tokens=50)
    assert headers_of(last)["x-ratelimit-remaining-tokens"] == "0"


async def test_a_reservation_larger_than_tpm_takes_the_whole_budget(
    make_limiter: LimiterFactory,
) -> None:
    """A request asking more than the key's whole minute runs when the window is empty,
    instead of being refused for ever."""
    limiter = make_limiter()
    caller = keyed(tpm=1000)
    admission = await limiter.admit(caller, tokens=50_000)
    assert headers_of(admission)["x-ratelimit-remaining-tokens"] == "0"
    with pytest.raises(RateLimited):
        await limiter.admit(caller, tokens=1)


async def test_release_is_idempotent(make_limiter: LimiterFactory) -> None:
    limiter = make_limiter()
    caller = keyed(max_streams=2, tpm=1000)
    first = await limiter.admit(caller, tokens=400)
    second = await limiter.admit(caller, tokens=400)
    for _ in range(3):
        await first.release(100)
    # One slot back, not three; the settlement counted once (100 + 400 held).
    third = await limiter.admit(caller, tokens=400)
    assert headers_of(third)["x-ratelimit-remaining-tokens"] == "100"
    with pytest.raises(RateLimited):
        await limiter.admit(caller, tokens=0)
    await second.release(None)
    await third.release(None)
    await limiter.admit(caller, tokens=0)
    await limiter.admit(caller, tokens=0)
    with pytest.raises(RateLimited):
        await limiter.admit(caller, tokens=0)


async def test_keys_never_share_limits(make_limiter: LimiterFactory) -> None:
    """Scopes are namespaced: a key named like an address, or like another key's scope, has
    windows of its own."""
    limiter = make_limiter(ip_rpm=1)
    odd_ids = ["a", "a.b", "a-b", "a_b", "ip", "server", "A"]
    for key_id in odd_ids:
        await limiter.admit(keyed(key_id, rpm=1), tokens=0)
    for key_id in odd_ids:
        with pytest.raises(RateLimited):
            await limiter.admit(keyed(key_id, rpm=1), tokens=0)
    for address in ["a", "key:a", "server", "127.0.0.1"]:
        await limiter.admit(Caller(None, address), tokens=0)  # the keys' use counts not here
        with pytest.raises(RateLimited):
            await limiter.admit(Caller(None, address), tokens=0)


@pytest.mark.parametrize(
    "address",
    [
        "x" * 1_000_000,
        "::ffff:10.0.0.1",
        "a b:c\r\nd",
        "\x00\xff\u2028",
        "",
        "ip#" + "0" * 32,
        "\ud800",
    ],
)
async def test_odd_client_addresses_are_limited_apart(
    make_limiter: LimiterFactory, address: str
) -> None:
    limiter = make_limiter(ip_rpm=2)
    for _ in range(2):
        await limiter.admit(Caller(None, address), tokens=0)
    with pytest.raises(RateLimited) as refused:
        await limiter.admit(Caller(None, address), tokens=0)
    assert headers_of(refused.value)["x-ratelimit-limit-requests"] == "2"
    # Another address, and even one whose digest form is this one's text, is untouched.
    await limiter.admit(Caller(None, address + "."), tokens=0)
    await limiter.admit(Caller(None, "127.0.0.1"), tokens=0)


async def test_ip_rpm_applies_only_without_a_key(make_limiter: LimiterFactory) -> None:
    limiter = make_limiter(ip_rpm=1)
    for _ in range(3):
        await limiter.admit(Caller(key("k1"), "10.1.1.1"), tokens=0)
    await limiter.admit(Caller(None, "10.1.1.1"), tokens=0)
    with pytest.raises(RateLimited) as refused:
        await limiter.admit(Caller(None, "10.1.1.1"), tokens=0)
    assert "address" in str(refused.value)


async def test_key_limits_are_reported_before_the_server_capacity(
    make_limiter: LimiterFactory,
) -> None:
    limiter = make_limiter(max_streams=1)
    caller = keyed(max_streams=1)
    await limiter.admit(caller, tokens=0)
    with pytest.raises(RateLimited):  # the key's own limit: 429, not the server's 503
        await limiter.admit(caller, tokens=0)
    with pytest.raises(OverCapacity):
        await limiter.admit(keyed("k2"), tokens=0)
