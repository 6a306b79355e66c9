"""The journal backend contract (``journal/backend.py``), run against every backend: what a
reader gets from any position, live following, the end, stop, de-duplication claims, the
cache, expiry and trimming. The memory backend is the reference; Redis must behave the same."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from aichatflow.events import Finish, TextDelta
from aichatflow.journal import Entry, Journal, ResumeExpired, decode_batch, encode_batch
from tests.journal.conftest import JournalFactory, new_run

WAIT = 10.0
"""Generous bound for anything that should take milliseconds."""


async def flat(reads: AsyncIterator[list[Entry]]) -> AsyncIterator[Entry]:
    """The entries of a ``read``, one by one (a read yields everything available at once)."""
    async for entries in reads:
        for entry in entries:
            yield entry


def text(first: int, *words: str) -> Entry:
    return Entry(first, len(words), encode_batch([TextDelta(w) for w in words]))


def done(first: int) -> Entry:
    return Entry(first, 1, encode_batch([Finish(reason="stop")]))


async def read_all(journal: Journal, stream_id: str, after: int) -> list[Entry]:
    async def collect() -> list[Entry]:
        return [entry async for entry in flat(journal.read(stream_id, after))]

    return await asyncio.wait_for(collect(), WAIT)


def shape(entries: list[Entry]) -> list[tuple[int, int, bytes]]:
    return [(e.first, e.count, bytes(e.data)) for e in entries]


async def finished_run(journal: Journal) -> tuple[str, list[Entry]]:
    """A run of positions 1..5 in three entries (1; 2-4; 5 = the terminal ``done``)."""
    info = new_run()
    entries = [text(1, "a"), text(2, "b", "c", "d"), done(5)]
    await journal.create(info)
    assert await journal.append(info.stream_id, entries[0])
    assert await journal.append(info.stream_id, entries[1])
    await journal.end(info.stream_id, entries[2])
    return info.stream_id, entries


async def test_read_from_zero_replays_every_entry_then_stops(make_journal: JournalFactory) -> None:
    journal = make_journal()
    stream_id, entries = await finished_run(journal)
    got = await read_all(journal, stream_id, 0)
    assert shape(got) == shape(entries)
    assert [e.__class__ for e in decode_batch(got[-1].data)] == [Finish]


@pytest.mark.parametrize(
    ("after", "firsts"), [(1, [2, 5]), (2, [2, 5]), (3, [2, 5]), (4, [5]), (5, [])]
)
async def test_read_from_any_position_starts_at_the_entry_holding_the_next_event(
    make_journal: JournalFactory, after: int, firsts: list[int]
) -> None:
    journal = make_journal()
    stream_id, _ = await finished_run(journal)
    got = await read_all(journal, stream_id, after)
    assert [e.first for e in got] == firsts
    if got:
        assert got[0].first <= after + 1 <= got[0].last


async def test_a_reader_at_the_last_position_gets_only_what_follows(
    make_journal: JournalFactory,
) -> None:
    journal = make_journal()
    info = new_run()
    await journal.create(info)
    await journal.append(info.stream_id, text(1, "a", "b"))
    reader = flat(journal.read(info.stream_id, 2))
    first = asyncio.ensure_future(anext(reader))
    await asyncio.sleep(0.2)
    assert not first.done()  # nothing after position 2 yet
    await journal.append(info.stream_id, text(3, "c"))
    entry = await asyncio.wait_for(first, WAIT)
    assert (entry.first, entry.count) == (3, 1)
    await journal.end(info.stream_id, done(4))
    assert [e.first async for e in reader] == [4]


async def test_a_waiting_reader_gets_a_later_append_promptly(make_journal: JournalFactory) -> None:
    journal = make_journal()
    info = new_run()
    await journal.create(info)
    reader = flat(journal.read(info.stream_id, 0))
    pending = asyncio.ensure_future(anext(reader))
    await asyncio.sleep(0.3)
    appended = time.monotonic()
    await journal.append(info.stream_id, text(1, "late"))
    entry = await asyncio.wait_for(pending, WAIT)
    assert time.monotonic() - appended < 1.0
    assert decode_batch(entry.data) == [TextDelta("late")]
    await journal.end(info.stream_id, done(2))
    assert [e.first async for e in reader] == [2]


async def test_many_readers_each_get_every_entry_once(make_journal: JournalFactory) -> None:
    journal = make_journal()
    info = new_run()
    await journal.create(info)
    await journal.append(info.stream_id, text(1, "x"))
    readers = [asyncio.ensure_future(read_all(journal, info.stream_id, 0)) for _ in range(12)]
    await asyncio.sleep(0.2)
    sent = [text(1, "x")]
    for position in range(2, 30, 3):
        entry = text(position, "p", "q", "r")
        sent.append(entry)
        await journal.append(info.stream_id, entry)
        await asyncio.sleep(0.005)
    sent.append(done(32))
    await journal.end(info.stream_id, sent[-1])
    for got in await asyncio.gather(*readers):
        assert shape(got) == shape(sent)


async def test_an_ended_run_read_from_its_final_position_yields_nothing(
    make_journal: JournalFactory,
) -> None:
    journal = make_journal()
    stream_id, _ = await finished_run(journal)
    assert await read_all(journal, stream_id, 5) == []
    info = await journal.info(stream_id)
    assert info is not None and (info.state, info.length) == ("ended", 5)


async def test_stop_is_seen_by_the_next_append_and_beat(make_journal: JournalFactory) -> None:
    journal, other = make_journal(), make_journal()  # the stop may come from another instance
    info = new_run()
    await journal.create(info)
    assert await journal.append(info.stream_id, text(1, "a"))
    assert await journal.beat(info.stream_id)
    assert await other.request_stop(info.stream_id)
    assert not await journal.beat(info.stream_id)
    assert not await journal.append(info.stream_id, text(2, "b"))
    await journal.end(info.stream_id, done(3))
    assert not await other.request_stop(info.stream_id)  # ended: nothing to stop
    assert [e.first for e in await read_all(other, info.stream_id, 0)] == [1, 2, 3]


async def test_stopping_an_unknown_run_is_refused(make_journal: JournalFactory) -> None:
    assert not await make_journal().request_stop(new_run().stream_id)


async def test_info_round_trips_the_run(make_journal: JournalFactory) -> None:
    journal = make_journal()
    info = new_run(
        owner="key-9", deployment="fake/m", conversation_id="c-1", extra={"attempt": "1"}
    )
    await journal.create(info)
    await journal.append(info.stream_id, text(1, "a", "b"))
    seen = await make_journal().info(info.stream_id)
    assert seen is not None
    assert (seen.stream_id, seen.owner, seen.model) == (info.stream_id, "key-9", "m")
    assert (seen.deployment, seen.conversation_id, seen.extra) == (
        "fake/m",
        "c-1",
        {"attempt": "1"},
    )
    assert (seen.state, seen.length) == ("live", 2)
    bare = new_run(owner="")
    await journal.create(bare)
    seen = await journal.info(bare.stream_id)
    assert seen is not None and (seen.owner, seen.deployment, seen.conversation_id) == (
        "",
        None,
        None,
    )


async def test_info_of_an_unknown_run_is_none(make_journal: JournalFactory) -> None:
    assert await make_journal().info(new_run().stream_id) is None


async def test_claim_joins_the_live_run_and_settle_caches_its_answer(
    make_journal: JournalFactory,
) -> None:
    journal, other = make_journal(), make_journal()
    fingerprint = new_run().stream_id
    first, second = new_run(), new_run()
    await journal.create(first)
    assert await journal.claim(fingerprint, first.stream_id) is None
    assert await other.claim(fingerprint, second.stream_id) == first.stream_id
    assert await other.cached(fingerprint) is None  # live: nothing cached yet
    await journal.end(first.stream_id, done(1))
    await journal.settle(fingerprint, first.stream_id, 60.0)
    assert await other.cached(fingerprint) == first.stream_id
    third = new_run()
    await other.create(third)
    assert await other.claim(fingerprint, third.stream_id) is None  # the claim was dropped


async def test_settle_without_a_cache_ttl_caches_nothing(make_journal: JournalFactory) -> None:
    journal = make_journal()
    fingerprint, run = new_run().stream_id, new_run()
    await journal.create(run)
    assert await journal.claim(fingerprint, run.stream_id) is None
    await journal.end(run.stream_id, done(1))
    await journal.settle(fingerprint, run.stream_id, 0)
    assert await journal.cached(fingerprint) is None


async def test_a_claim_whose_run_ended_does_not_block_a_new_run(
    make_journal: JournalFactory,
) -> None:
    journal = make_journal()
    fingerprint, old, new = new_run().stream_id, new_run(), new_run()
    await journal.create(old)
    assert await journal.claim(fingerprint, old.stream_id) is None
    await journal.end(old.stream_id, done(1))  # never settled (its instance died after ending)
    await journal.create(new)
    assert await journal.claim(fingerprint, new.stream_id) is None
    assert await journal.claim(fingerprint, new_run().stream_id) == new.stream_id


async def test_a_finished_run_expires_after_its_ttl(make_journal: JournalFactory) -> None:
    journal = make_journal(ttl=0.5)
    stream_id, _ = await finished_run(journal)
    assert len(await read_all(journal, stream_id, 0)) == 3
    await asyncio.sleep(1.0)
    info = await journal.info(stream_id)
    assert info is not None and info.state == "expired"
    with pytest.raises(ResumeExpired):
        await read_all(journal, stream_id, 0)
    with pytest.raises(ResumeExpired):
        await read_all(journal, stream_id, 5)


async def test_positions_trimmed_by_the_bound_are_expired(make_journal: JournalFactory) -> None:
    journal = make_journal(small=True)
    info = new_run()
    await journal.create(info)
    for position in range(1, 401):
        await journal.append(info.stream_id, text(position, f"word-{position:04}"))
    await journal.end(info.stream_id, done(401))
    with pytest.raises(ResumeExpired):
        await read_all(journal, info.stream_id, 0)
    with pytest.raises(ResumeExpired):
        await read_all(journal, info.stream_id, 100)
    tail = await read_all(journal, info.stream_id, 395)
    assert [e.first for e in tail] == [396, 397, 398, 399, 400, 401]


async def test_a_reader_left_behind_by_the_bound_gets_expired(
    make_journal: JournalFactory,
) -> None:
    journal = make_journal(small=True)
    info = new_run()
    await journal.create(info)
    await journal.append(info.stream_id, text(1, "first"))
    reader = flat(journal.read(info.stream_id, 0))
    assert (await anext(reader)).first == 1
    for position in range(2, 402):  # the reader sleeps while its next entries are trimmed
        await journal.append(info.stream_id, text(position, f"word-{position:04}"))
    with pytest.raises(ResumeExpired):
        await asyncio.wait_for(anext(reader), WAIT)
