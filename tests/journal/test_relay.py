"""The Redis journal as a server uses it (``journal/relay.py``): readers here read memory,
Redis gets every entry group-committed (several batches in one round trip and one stream
entry), and a reader on another instance sees exactly what a local one does."""

from __future__ import annotations

import asyncio

from aichatflow.events import TextDelta
from aichatflow.journal import Entry, MemoryJournal, decode_batch, encode_batch
from aichatflow.journal.redis_journal import RedisJournal
from aichatflow.journal.relay import RelayedJournal, merged
from aichatflow.redis_client import redis_client
from tests.journal.conftest import new_run
from tests.journal.test_contract import done, read_all


def batch(first: int, *words: str) -> Entry:
    events = [TextDelta(w) for w in words]
    return Entry(first, len(words), encode_batch(events), events)


def test_merged_entries_decode_to_the_batches_in_order() -> None:
    entries = [batch(1, "a", "b"), batch(3, "c"), batch(4, "d\n\x00\u2028", "e")]
    one = merged(entries)
    assert (one.first, one.count) == (1, 5)
    assert decode_batch(one.data) == [TextDelta(w) for w in ["a", "b", "c", "d\n\x00\u2028", "e"]]
    assert merged([entries[1]]) is entries[1]


async def xadds(url: str) -> int:
    client = redis_client(url)
    try:
        stats = await client.info("commandstats")
        return int(stats.get("cmdstat_xadd", {}).get("calls", 0))
    finally:
        await client.aclose()


async def test_a_burst_goes_to_redis_in_few_round_trips_and_reads_the_same_everywhere(
    redis_url: str,
) -> None:
    here = RelayedJournal(RedisJournal(redis_url), MemoryJournal())
    elsewhere = RedisJournal(redis_url)
    try:
        info = new_run()
        await here.create(info)
        before = await xadds(redis_url)
        for position in range(1, 201):  # a burst: no await between the producer's writes
            assert here.append_nowait(info.stream_id, batch(position, f"w{position} "))
        await here.end(info.stream_id, done(201))
        written = await xadds(redis_url) - before
        assert written <= 3, written  # the first entry, the rest joined, the end
        local = await read_all(here, info.stream_id, 0)
        remote = await read_all(elsewhere, info.stream_id, 0)

        def events(entries: list[Entry]) -> list[object]:
            out: list[object] = []
            for entry in entries:
                out += entry.events or decode_batch(entry.data)
            return out

        assert events(local) == events(remote)
        assert len(events(remote)) == 201
        # a reader elsewhere, from the middle of a joined entry, gets exactly the rest
        tail = await read_all(elsewhere, info.stream_id, 150)
        assert events(tail)[0:1] != [] and tail[0].first <= 151 <= tail[0].last
    finally:
        await here.aclose()
        await elsewhere.aclose()
    await asyncio.sleep(0)
