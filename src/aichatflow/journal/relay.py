"""The Redis journal as a server uses it: runs produced here are read here from memory, and
reach Redis in the background, several entries per round trip.

A plain ``RedisJournal`` makes every batch cost two Redis round trips on the path to the
client: the producer's ``XADD`` and the reader's ``XREAD``, each a few hundred microseconds of
redis-py on top of the network. Yet a reader is almost always on the instance that produces the
run (the request that started it, or a resume routed back by a load balancer). So a run
produced here keeps a copy in this process's ``MemoryJournal``: readers here are served from
it at memory speed, and a reader elsewhere reads Redis, which the producer keeps up to date.

Writes to Redis are *group-committed*: the first entry is sent at once; entries written while
that round trip is in flight wait and go together in the next one, joined into one stream entry
(``merged``). At low
load that is one round trip per entry, as before; under load far fewer, at no cost in latency
(nothing waits for a timer). The end is sent after everything before it, and the run is only
over once Redis has it, so a reader elsewhere never sees an end without the entries before it.

What this gives up: the entries a producer wrote in its last round trip before its instance
died are lost with it (readers elsewhere get ``producer_lost`` after what Redis had), exactly
as the entries it would have written next are.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from .backend import Entry, RunInfo
from .memory import MemoryJournal
from .redis_journal import JournalUnavailable, RedisJournal

log = logging.getLogger("aichatflow.journal")

LOCAL_TTL = 60.0
"""Seconds a finished run stays in this process's memory (Redis keeps it for ``ttl``)."""


class _Outbox:
    """A run produced here: what is on its way to Redis."""

    __slots__ = ("error", "pending", "stop", "task")

    def __init__(self) -> None:
        self.pending: list[Entry] = []
        self.task: asyncio.Task[None] | None = None
        self.stop = False
        self.error: BaseException | None = None


def merged(entries: list[Entry]) -> Entry:
    """Consecutive entries as one: their positions follow each other, and an entry's bytes are
    a JSON array (``codec.py``), so the arrays are joined without decoding anything. Redis
    then keeps one stream entry per round trip, not one per batch the producer wrote."""
    if len(entries) == 1:
        return entries[0]
    data = b"[" + b",".join(entry.data[1:-1] for entry in entries) + b"]"
    return Entry(entries[0].first, sum(entry.count for entry in entries), data)


class RelayedJournal:
    """``RedisJournal`` plus a memory copy of the runs produced here (module docstring)."""

    kind = "redis"
    stores_bytes = True
    shared = True

    def __init__(self, redis: RedisJournal, local: MemoryJournal | None = None) -> None:
        self.redis = redis
        if local is None:
            local = MemoryJournal(ttl=min(LOCAL_TTL, redis.ttl))
        self.local = local
        self._outboxes: dict[str, _Outbox] = {}

    async def create(self, info: RunInfo) -> None:
        await self.redis.create(info)
        await self.local.create(info)
        self._outboxes[info.stream_id] = _Outbox()

    def append_nowait(self, stream_id: str, entry: Entry) -> bool:
        """Readers here have the entry at once; Redis soon (module docstring)."""
        outbox = self._outboxes[stream_id]
        if outbox.error is not None:
            raise JournalUnavailable("the stream journal failed") from outbox.error
        self.local.append_nowait(stream_id, entry)
        outbox.pending.append(entry)
        if outbox.task is None:
            outbox.task = asyncio.get_running_loop().create_task(self._send(stream_id, outbox))
        return not outbox.stop

    async def append(self, stream_id: str, entry: Entry) -> bool:
        return self.append_nowait(stream_id, entry)

    async def _send(self, stream_id: str, outbox: _Outbox) -> None:
        """Send what waits, in one round trip each time, until nothing does."""
        try:
            while outbox.pending:
                entries, outbox.pending = outbox.pending, []
                if not await self.redis.append_many(stream_id, [merged(entries)]):
                    outbox.stop = True
        except Exception as exc:  # the producer learns it on its next write
            outbox.error = exc
            outbox.pending = []
        finally:
            outbox.task = None

    async def _flushed(self, stream_id: str) -> _Outbox:
        """The run's outbox once everything written so far is in Redis."""
        outbox = self._outboxes[stream_id]
        while outbox.task is not None:
            await asyncio.shield(outbox.task)
        if outbox.error is not None:
            raise JournalUnavailable("the stream journal failed") from outbox.error
        return outbox

    async def beat(self, stream_id: str) -> bool:
        outbox = await self._flushed(stream_id)
        if not await self.redis.beat(stream_id):
            outbox.stop = True  # asked on another instance: seen here with the lease
        return not outbox.stop

    async def end(self, stream_id: str, entry: Entry) -> None:
        await self.local.end(stream_id, entry)
        try:
            await self._flushed(stream_id)
            await self.redis.end(stream_id, entry)
        finally:
            self._outboxes.pop(stream_id, None)

    async def info(self, stream_id: str) -> RunInfo | None:
        info = await self.local.info(stream_id)
        if info is not None and info.state != "expired":
            return info
        return await self.redis.info(stream_id)

    async def read(self, stream_id: str, after: int) -> AsyncIterator[list[Entry]]:
        local = await self.local.info(stream_id)
        source = self.local if local is not None and local.state != "expired" else self.redis
        async for entries in source.read(stream_id, after):
            yield entries

    async def discard(self, stream_id: str) -> None:
        self._outboxes.pop(stream_id, None)
        await self.local.discard(stream_id)
        await self.redis.discard(stream_id)

    async def request_stop(self, stream_id: str) -> bool:
        here = await self.local.request_stop(stream_id)
        there = await self.redis.request_stop(stream_id)
        return here or there

    async def claim(self, fingerprint: str, stream_id: str) -> str | None:
        return await self.redis.claim(fingerprint, stream_id)

    async def settle(self, fingerprint: str, stream_id: str, cache_ttl: float) -> None:
        await self.redis.settle(fingerprint, stream_id, cache_ttl)

    async def cached(self, fingerprint: str) -> str | None:
        return await self.redis.cached(fingerprint)

    def lose_producer(self, stream_id: str) -> None:
        self._outboxes.pop(stream_id, None)
        self.local.lose_producer(stream_id)

    async def aclose(self) -> None:
        tasks = [o.task for o in self._outboxes.values() if o.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.local.aclose()
        await self.redis.aclose()


__all__ = ["LOCAL_TTL", "RelayedJournal", "merged"]
