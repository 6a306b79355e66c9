"""The Redis ticket book (``server/redis_tickets.py``) on a real Redis, with several books
standing for several instances: single use across instances (also when redeemed at the same
instant), expiry, the per-key bound under a flood of mints (also when instances mint at once),
that the namespace empties again after the ttl, hostile tickets, and an unreachable Redis."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from typing import Any

import pytest

from aichatflow.errors import OverCapacity, RateLimited
from aichatflow.redis_client import redis_client
from aichatflow.server.redis_tickets import RedisTicketBook
from aichatflow.server.tickets import MAX_TICKET_CHARS
from tests.production.tickets.conftest import BookFactory
from tests.support.processes import free_port

pytestmark = pytest.mark.timeout(60)


async def namespace_keys(redis_url: str, namespace: str) -> list[bytes]:
    """Every key of the namespace, by ``SCAN`` (never ``KEYS``)."""
    client = redis_client(redis_url)
    try:
        # "{" and "}" are no glob characters: the namespace matches as written
        return [key async for key in client.scan_iter(match=namespace + "*", count=1000)]
    finally:
        await client.aclose()


async def test_a_ticket_minted_on_one_instance_is_redeemed_once_on_any(
    make_book: BookFactory,
) -> None:
    a, b = make_book(), make_book()
    ticket = await a.mint("team-a")
    assert await b.redeem(ticket) == "team-a"
    assert await b.redeem(ticket) is None
    assert await a.redeem(ticket) is None
    # and the other way round
    other = await b.mint("team-b")
    assert await a.redeem(other) == "team-b"
    assert await b.redeem(other) is None


async def test_concurrent_redemptions_of_one_ticket_succeed_exactly_once(
    make_book: BookFactory,
) -> None:
    books = [make_book() for _ in range(2)]
    for round_ in range(20):
        ticket = await books[round_ % 2].mint("team-a")
        redeemed = await asyncio.gather(*(books[i % 2].redeem(ticket) for i in range(10)))
        assert redeemed.count("team-a") == 1 and redeemed.count(None) == 9, redeemed


async def test_only_the_digest_and_the_key_id_are_stored_and_expire_with_the_ticket(
    make_book: BookFactory, redis_url: str, namespace: str
) -> None:
    book = make_book(ttl=7.5)
    ticket = await book.mint("team-a")
    digest = hashlib.sha256(ticket.encode()).hexdigest()
    ticket_key = f"{namespace}:ticket:{digest}"
    keys = sorted(await namespace_keys(redis_url, namespace))
    assert keys == [
        f"{namespace}:ticket:{digest}".encode(),
        f"{namespace}:tickets-of:team-a".encode(),
    ]
    client = redis_client(redis_url)
    try:
        assert await client.get(ticket_key) == b"team-a"
        assert 6500 < await client.pttl(ticket_key) <= 7500
        assert 6500 < await client.pttl(f"{namespace}:tickets-of:team-a") <= 7500
        stored = [await client.type(k) for k in keys]
        assert stored == [b"string", b"zset"]
        members = await client.zrange(f"{namespace}:tickets-of:team-a", 0, -1)
        assert members == [digest.encode()]
    finally:
        await client.aclose()
    assert not [k for k in keys if ticket.encode() in k]


async def test_a_ticket_expires_after_its_ttl(make_book: BookFactory) -> None:
    a, b = make_book(ttl=1.0), make_book(ttl=1.0)
    early, late = await a.mint("team-a"), await a.mint("team-a")
    await asyncio.sleep(0.5)
    assert await b.redeem(early) == "team-a"
    await asyncio.sleep(0.7)
    assert await b.redeem(late) is None
    assert await a.redeem(late) is None


async def test_a_flood_of_mints_is_bounded_per_key_and_the_namespace_empties_after_the_ttl(
    make_book: BookFactory, redis_url: str, namespace: str
) -> None:
    assert await namespace_keys(redis_url, namespace) == []  # the baseline
    a, b = make_book(ttl=2.0, per_key=20), make_book(ttl=2.0, per_key=20)
    minted = [await a.mint("flooder") for _ in range(19)]
    # 50 mints from two instances at once for the last place: exactly one gets it
    raced = await asyncio.gather(
        *((a, b)[i % 2].mint("flooder") for i in range(50)), return_exceptions=True
    )
    assert len([r for r in raced if isinstance(r, str)]) == 1, raced
    refusals = [r for r in raced if not isinstance(r, str)]
    assert all(isinstance(r, RateLimited) for r in refusals), refusals
    for _ in range(10):
        flood = await asyncio.gather(
            *((a, b)[i % 2].mint("flooder") for i in range(100)), return_exceptions=True
        )
        assert all(isinstance(r, RateLimited) for r in flood)
    refused = flood[0]
    assert isinstance(refused, RateLimited)
    assert refused.http_status == 429 and 1 <= refused.retry_after <= 2
    assert "at most 20" in refused.message
    # 20 tickets and the key's set: the flood left nothing behind
    assert len(await namespace_keys(redis_url, namespace)) == 21
    await b.mint("quiet")  # one key's flood does not starve another
    assert await b.redeem(minted[0]) == "flooder"  # redeeming frees a place...
    await a.mint("flooder")  # ...on every instance
    with pytest.raises(RateLimited):
        await b.mint("flooder")
    assert len(await namespace_keys(redis_url, namespace)) == 23
    await asyncio.sleep(2.5)
    assert await namespace_keys(redis_url, namespace) == []  # back to the baseline
    await a.mint("flooder")  # and the key mints again


@pytest.mark.parametrize(
    "ticket",
    ["", "nope", "t" * MAX_TICKET_CHARS, "t" * (MAX_TICKET_CHARS + 1), "*", "\udcff\udcfe", "a b"],
)
async def test_unknown_or_hostile_tickets_redeem_nothing(
    make_book: BookFactory, redis_url: str, namespace: str, ticket: str
) -> None:
    book = make_book()
    real = await book.mint("team-a")
    assert await book.redeem(ticket) is None
    assert await book.redeem(real) == "team-a"  # a glob or a near miss spent nothing else


async def test_odd_key_ids_stay_inside_the_namespace(
    make_book: BookFactory, redis_url: str, namespace: str
) -> None:
    book = make_book()
    for key_id in ("team:{other}", "*", "caf\u00e9", "a b\nc"):
        ticket = await book.mint(key_id)
        assert await book.redeem(ticket) == key_id
    await book.mint("{x}")
    keys = await namespace_keys(redis_url, namespace)
    assert len(keys) == 2 and all(k.startswith(namespace.encode()) for k in keys)


async def test_an_unreachable_redis_refuses_with_503_and_shows_no_password(
    caplog: pytest.LogCaptureFixture,
) -> None:
    password = "hunter2-ticket-secret"
    url = f"redis://:{password}@127.0.0.1:{free_port()}/0"  # nothing listens there
    book = RedisTicketBook(url, 30.0)
    refusals: list[Any] = []
    try:
        with caplog.at_level(logging.WARNING, logger="aichatflow.tickets"):
            for attempt in (book.mint("team-a"), book.redeem("a" * 43)):
                with pytest.raises(OverCapacity) as caught:
                    await attempt
                refusals.append(caught.value)
    finally:
        await book.aclose()
    for refusal in refusals:
        assert refusal.http_status == 503 and refusal.retry_after == 1
        assert password not in refusal.message and "127.0.0.1" not in refusal.message
    assert "unreachable while minting a ticket" in caplog.text
    assert "[REDACTED]" in caplog.text
    assert password not in caplog.text and password not in repr(book)


async def test_a_stored_value_that_is_no_key_id_is_a_401_not_a_500(
    make_book: BookFactory, redis_url: str, namespace: str
) -> None:
    """Only someone with write access to the Redis could plant it; still no traceback."""
    from aichatflow.config import ApiKey, key_digest
    from aichatflow.errors import Unauthorized
    from aichatflow.server.auth import KeyRing

    keys = KeyRing(
        (ApiKey(id="team-a", sha256=key_digest("acf-" + "k" * 40)),), tickets=make_book()
    )
    planted = "planted-ticket-0123456789abcdefghijklmnopq"
    digest = hashlib.sha256(planted.encode()).hexdigest()
    client = redis_client(redis_url)
    try:
        await client.set(f"{namespace}:ticket:{digest}", b"\xff\xfeteam-a", px=30_000)
    finally:
        await client.aclose()
    scope = {"type": "http", "headers": [], "query_string": b"ticket=" + planted.encode()}
    with pytest.raises(Unauthorized):
        await keys.authenticate(scope, "127.0.0.1")
