"""What only the Redis journal has: several instances on one Redis, the producer's lease, keys
that expire, one round trip per append, and failures that neither hang nor show a password.
Against the session's real ``redis-server`` (``redis_url``), or one of a test's own."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from aichatflow.journal import Entry, ProducerLost, RunInfo
from aichatflow.journal.redis_journal import JournalUnavailable, RedisJournal
from aichatflow.redis_client import TIMEOUT, redis_client
from tests.journal.conftest import new_run
from tests.journal.test_contract import WAIT, done, flat, read_all, shape, text
from tests.support.processes import free_port
from tests.support.redis_server import redis_process, require_redis

Factory = Callable[..., RedisJournal]


@pytest.fixture
async def instances(redis_url: str) -> AsyncIterator[Factory]:
    """Builds ``RedisJournal``s on the session's Redis: each one another instance."""
    made: list[RedisJournal] = []

    def build(url: str = redis_url, **options: Any) -> RedisJournal:
        journal = RedisJournal(url, **options)
        made.append(journal)
        return journal

    yield build
    for journal in made:
        await journal.aclose()


async def run_keys(url: str, stream_id: str) -> dict[str, int]:
    """Every key of a run, with its PTTL in ms (-1: none)."""
    client = redis_client(url)
    try:
        keys = [k async for k in client.scan_iter(match=f"aichatflow:{{{stream_id}}}:*")]
        return {k.decode(): await client.pttl(k) for k in keys}
    finally:
        await client.aclose()


async def test_a_run_written_on_one_instance_is_followed_on_another(
    instances: Factory,
) -> None:
    a, b = instances(), instances()
    info = new_run()
    await a.create(info)
    await a.append(info.stream_id, text(1, "a", "b"))
    reader = asyncio.ensure_future(read_all(b, info.stream_id, 1))
    await asyncio.sleep(0.2)
    sent = [text(3, "c"), text(4, "d", "e")]
    for entry in sent:
        await a.append(info.stream_id, entry)
    sent.append(done(6))
    await a.end(info.stream_id, sent[-1])
    got = await reader
    assert shape(got) == shape([text(1, "a", "b"), *sent])  # from the entry holding 2
    seen = await b.info(info.stream_id)
    assert seen is not None and (seen.state, seen.length) == ("ended", 6)


async def test_a_reader_learns_the_producer_died_within_two_heartbeats(
    instances: Factory,
) -> None:
    heartbeat = 0.5
    a, b = instances(heartbeat=heartbeat), instances(heartbeat=heartbeat)
    info = new_run()
    await a.create(info)
    await a.append(info.stream_id, text(1, "a"))
    renewed = time.monotonic()  # A "dies" here: no beat, no append, no end
    reader = flat(b.read(info.stream_id, 0))
    assert (await anext(reader)).first == 1
    with pytest.raises(ProducerLost):
        await asyncio.wait_for(anext(reader), WAIT)
    lost_after = time.monotonic() - renewed
    assert 2 * heartbeat - 0.05 <= lost_after <= 2 * heartbeat + 0.3, lost_after
    # a reader arriving later learns it at once (the lease is gone already)
    started = time.monotonic()
    with pytest.raises(ProducerLost):
        await read_all(b, info.stream_id, 1)
    assert time.monotonic() - started < 0.5


async def test_a_producer_that_beats_is_not_lost(instances: Factory) -> None:
    heartbeat = 0.3
    a, b = instances(heartbeat=heartbeat), instances(heartbeat=heartbeat)
    info = new_run()
    await a.create(info)
    reader = flat(b.read(info.stream_id, 0))
    pending = asyncio.ensure_future(anext(reader))
    for _ in range(8):  # 2.4 s: eight heartbeats, four lease lengths, nothing appended
        await asyncio.sleep(heartbeat)
        assert await a.beat(info.stream_id)
        assert not pending.done()
    await a.append(info.stream_id, text(1, "late"))
    assert (await asyncio.wait_for(pending, WAIT)).first == 1
    await a.end(info.stream_id, done(2))
    assert [e.first async for e in reader] == [2]


async def test_every_key_of_a_run_expires(instances: Factory, redis_url: str) -> None:
    journal = instances(ttl=0.5, tombstone=0.5)
    finished, dead = new_run(), new_run()
    await journal.create(finished)
    await journal.append(finished.stream_id, text(1, "a"))
    await journal.end(finished.stream_id, done(2))
    fingerprint = new_run().stream_id
    await journal.claim(fingerprint, finished.stream_id)
    await journal.settle(fingerprint, finished.stream_id, 0.5)
    await journal.create(dead)
    await journal.append(dead.stream_id, text(1, "a"))  # then its instance dies
    ended_keys = await run_keys(redis_url, finished.stream_id)
    assert sorted(k.rsplit(":", 1)[1] for k in ended_keys) == ["i", "s"]  # the lease is gone
    assert all(0 < pttl <= 1_000 for pttl in ended_keys.values()), ended_keys
    dead_keys = await run_keys(redis_url, dead.stream_id)
    assert sorted(k.rsplit(":", 1)[1] for k in dead_keys) == ["i", "l", "s"]
    longest = (journal.max_duration + journal.ttl) * 1000
    assert all(0 < pttl <= longest for pttl in dead_keys.values()), dead_keys
    assert await journal.cached(fingerprint) == finished.stream_id
    await asyncio.sleep(1.5)
    assert await run_keys(redis_url, finished.stream_id) == {}
    client = redis_client(redis_url)
    try:
        assert [k async for k in client.scan_iter(match=f"*{fingerprint}*")] == []
    finally:
        await client.aclose()
    assert await journal.info(finished.stream_id) is None  # forgotten after the tombstone


def counting_client(url: str) -> tuple[Any, list[int]]:
    """A client whose connections count their writes: one write per round trip (a pipeline
    or a script is one write, its reply one read)."""
    import redis.asyncio

    writes = [0]

    class Counting(redis.asyncio.Connection):
        async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
            writes[0] += 1
            await super().send_packed_command(command, check_health)

    return redis.asyncio.Redis.from_url(url, connection_class=Counting), writes


async def test_an_append_is_one_round_trip(instances: Factory, redis_url: str) -> None:
    client, writes = counting_client(redis_url)
    journal = instances(client=client)
    info = new_run()
    await journal.create(info)
    await journal.append(info.stream_id, text(1, "warm"))  # loads the script once
    before = writes[0]
    for position in range(2, 102):
        assert await journal.append(info.stream_id, text(position, "w"))
    assert writes[0] - before == 100
    before = writes[0]
    assert await journal.beat(info.stream_id)
    assert writes[0] - before == 1
    before = writes[0]
    await journal.end(info.stream_id, done(102))
    assert writes[0] - before == 1


async def test_an_unreachable_redis_fails_fast_without_the_password(
    instances: Factory, caplog: pytest.LogCaptureFixture
) -> None:
    require_redis()
    password = "hunter2-journal-secret"
    journal = instances(f"redis://:{password}@127.0.0.1:{free_port()}/0")  # nothing listens
    assert password not in repr(journal)
    info = new_run()
    with caplog.at_level(logging.WARNING, logger="aichatflow.journal"):
        started = time.monotonic()
        with pytest.raises(JournalUnavailable) as failed:
            await journal.create(info)
        with pytest.raises(JournalUnavailable):
            await read_all(journal, info.stream_id, 0)
        assert time.monotonic() - started < 2 * TIMEOUT + 1
    assert failed.value.code == "over_capacity" and failed.value.retry_after == 1
    assert password not in str(failed.value) and password not in caplog.text
    assert "[REDACTED]" in caplog.text
    assert not any(r.exc_info for r in caplog.records)


async def test_a_wrong_password_fails_without_showing_it(
    instances: Factory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with redis_process(tmp_path, password="right-secret-pw") as url:
        journal = instances(url.replace("right-secret-pw", "wrong-secret-pw"))
        with (
            caplog.at_level(logging.WARNING, logger="aichatflow.journal"),
            pytest.raises(JournalUnavailable) as failed,
        ):
            await journal.info("x")
        assert "wrong-secret-pw" not in str(failed.value) + caplog.text
        assert "right-secret-pw" not in str(failed.value) + caplog.text
        good = instances(url)
        assert await good.info("x") is None


async def test_a_reader_whose_redis_dies_fails_instead_of_hanging(
    instances: Factory, tmp_path: Path
) -> None:
    heartbeat = 1.0
    with redis_process(tmp_path) as url:
        a, b = instances(url, heartbeat=heartbeat), instances(url, heartbeat=heartbeat)
        info = RunInfo(stream_id="r-dies", owner="", model="m")
        await a.create(info)
        await a.append(info.stream_id, Entry(1, 1, text(1, "a").data))
        reader = flat(b.read(info.stream_id, 1))
        pending = asyncio.ensure_future(anext(reader))
        await asyncio.sleep(0.2)
        assert not pending.done()
    stopped = time.monotonic()  # that Redis is stopped now, the reader blocked on it
    with pytest.raises((JournalUnavailable, ProducerLost)):
        await asyncio.wait_for(pending, WAIT)
    assert time.monotonic() - stopped < heartbeat + TIMEOUT + 1


async def test_readers_that_leave_mid_wait_give_their_connection_back(
    instances: Factory,
) -> None:
    producer, readers = instances(), instances(max_readers=2)
    info = new_run()
    await producer.create(info)
    for _ in range(5):  # more readers than connections, each leaving while blocked
        waiting = [
            asyncio.ensure_future(anext(flat(readers.read(info.stream_id, 0)))) for _ in range(2)
        ]
        await asyncio.sleep(0.1)
        for task in waiting:
            task.cancel()
        await asyncio.gather(*waiting, return_exceptions=True)
    started = time.monotonic()
    follower = asyncio.ensure_future(read_all(readers, info.stream_id, 0))
    await asyncio.sleep(0.1)
    await producer.append(info.stream_id, text(1, "a"))
    await producer.end(info.stream_id, done(2))
    assert [e.first for e in await follower] == [1, 2]
    assert time.monotonic() - started < TIMEOUT  # never waited for a connection


async def test_a_reader_past_max_readers_waits_for_a_connection(instances: Factory) -> None:
    producer, readers = instances(), instances(max_readers=1)
    info = new_run()
    await producer.create(info)
    first = asyncio.ensure_future(read_all(readers, info.stream_id, 0))
    await asyncio.sleep(0.1)
    second = asyncio.ensure_future(read_all(readers, info.stream_id, 0))
    await asyncio.sleep(0.1)
    await producer.end(info.stream_id, done(1))  # frees the first reader's connection
    assert [e.first for e in await first] == [1]
    assert [e.first for e in await second] == [1]


async def test_more_concurrent_runs_than_connections_all_get_through(instances: Factory) -> None:
    journal = instances(max_connections=8)  # redis-py's default pool would refuse the 101st
    runs = [new_run() for _ in range(300)]

    async def produce(info: RunInfo) -> list[int]:
        await journal.create(info)
        for position in range(1, 4):
            assert await journal.append(info.stream_id, text(position, "w"))
        await journal.end(info.stream_id, done(4))
        return [e.first for e in await read_all(journal, info.stream_id, 0)]

    results = await asyncio.gather(*(produce(info) for info in runs))
    assert results == [[1, 2, 3, 4]] * 300
