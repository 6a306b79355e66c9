"""The memory journal: runs kept in this process, for one instance (``backend.py``).

Bounded in bytes twice: each stream keeps at most ``max_stream_bytes`` of entries (the oldest
go first, and a reader asking for them gets ``resume_expired``), and all streams together at
most ``max_bytes`` (finished streams go first, oldest first). A finished stream is kept ``ttl``
seconds (longer when it is a cached answer), then only its ``RunInfo`` is, so a late resume
gets ``resume_expired`` rather than "unknown", until ``FORGET_AFTER`` more entries have expired.

Readers following a live stream wait on a future that the next append resolves: no polling,
no task per reader, and the producer never waits for a reader.
"""

from __future__ import annotations

import asyncio
import heapq
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable

from .backend import Entry, ProducerLost, ResumeExpired, RunInfo

FORGET_AFTER = 10_000
"""How many expired runs are still recognised as expired (an id and an owner each, about 100
bytes)."""


class _Stream:
    __slots__ = ("base", "bytes", "entries", "info", "keep_until", "stop", "trimmed", "waiters")

    def __init__(self, info: RunInfo) -> None:
        self.info = info
        self.entries: list[Entry] = []
        self.base = 0
        """How many entries were trimmed from the front (absolute index = base + index)."""
        self.trimmed = 0
        """The last position trimmed away (0 when nothing was)."""
        self.bytes = 0
        self.waiters: list[asyncio.Future[None]] = []
        self.stop = False
        self.keep_until = 0.0

    def wake(self) -> None:
        waiters, self.waiters = self.waiters, []
        for future in waiters:
            if not future.done():
                future.set_result(None)


def held_bytes(entry: Entry) -> int:
    """What an entry holds in memory, estimated: its bytes if it has them, else its events'
    text plus what CPython spends on the objects around it (measured with ``tracemalloc`` on
    CPython 3.11 by ``benchmarks/run_journal.py``: a 1,000-event run of one event per entry
    holds 170 bytes per event, about 110 per entry and 55 per event besides the text)."""
    if entry.data:
        return len(entry.data) + ENTRY_OVERHEAD
    if entry.text_size >= 0:  # counted by the producer as it looked at each event anyway
        return ENTRY_OVERHEAD + entry.count * EVENT_OVERHEAD + entry.text_size
    size = ENTRY_OVERHEAD
    for event in entry.events or ():
        size += EVENT_OVERHEAD + len(getattr(event, "text", "") or getattr(event, "arguments", ""))
    return size


ENTRY_OVERHEAD = 110
EVENT_OVERHEAD = 55


class MemoryJournal:
    """Runs and their entries in this process (module docstring)."""

    kind = "memory"
    stores_bytes = False
    shared = False

    def __init__(
        self,
        *,
        ttl: float = 600.0,
        max_stream_bytes: int = 4 << 20,
        max_bytes: int = 256 << 20,
        cache_max_bytes: int = 64 << 20,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.max_stream_bytes = max_stream_bytes
        self.max_bytes = max_bytes
        self.cache_max_bytes = cache_max_bytes
        self._now = clock
        self._streams: dict[str, _Stream] = {}
        self._ended: list[tuple[float, str]] = []
        """A heap of (keep until, stream id) of finished streams; an entry whose stream's time
        was extended since (a cached answer) is pushed again when it comes up."""
        self._forgotten: OrderedDict[str, str] = OrderedDict()
        """Expired runs, by id: only their owner (what a resume must check), kept small."""
        self._claims: dict[str, str] = {}
        self._cache: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self.bytes = 0
        """Bytes of entries held, all streams together."""

    def __len__(self) -> int:
        return len(self._streams)

    async def create(self, info: RunInfo) -> None:
        self._expire()
        self._streams[info.stream_id] = _Stream(info)

    async def append(self, stream_id: str, entry: Entry) -> bool:
        return self.append_nowait(stream_id, entry)

    def append_nowait(self, stream_id: str, entry: Entry) -> bool:
        """``append`` without a coroutine: the producer's per-batch path (``run.py``)."""
        stream = self._streams[stream_id]
        self._add(stream, entry)
        return not stream.stop

    async def beat(self, stream_id: str) -> bool:
        stream = self._streams.get(stream_id)
        return stream is not None and not stream.stop

    async def end(self, stream_id: str, entry: Entry) -> None:
        stream = self._streams[stream_id]
        stream.info.state = "ended"
        stream.keep_until = self._now() + self.ttl
        heapq.heappush(self._ended, (stream.keep_until, stream_id))
        self._add(stream, entry)

    def _add(self, stream: _Stream, entry: Entry) -> None:
        stream.entries.append(entry)
        size = held_bytes(entry)
        stream.bytes += size
        self.bytes += size
        stream.info.length = entry.last
        if stream.bytes > self.max_stream_bytes or self.bytes > self.max_bytes:
            self._bound(stream)
        stream.wake()

    def _bound(self, stream: _Stream) -> None:
        """Finished streams go first (oldest first), then this stream's oldest entries."""
        while self.bytes > self.max_bytes and self._ended:
            self._drop(heapq.heappop(self._ended)[1])
        entries = stream.entries
        while len(entries) > 1 and (
            stream.bytes > self.max_stream_bytes or self.bytes > self.max_bytes
        ):
            gone = entries.pop(0)
            stream.base += 1
            stream.trimmed = gone.last
            size = held_bytes(gone)
            stream.bytes -= size
            self.bytes -= size

    def _drop(self, stream_id: str) -> None:
        stream = self._streams.pop(stream_id, None)
        if stream is None:
            return
        self.bytes -= stream.bytes
        stream.info.state = "expired"
        self._forgotten[stream_id] = stream.info.owner
        while len(self._forgotten) > FORGET_AFTER:
            self._forgotten.popitem(last=False)

    def _expire(self) -> None:
        now = self._now()
        ended = self._ended
        while ended and ended[0][0] <= now:
            _, stream_id = heapq.heappop(ended)
            stream = self._streams.get(stream_id)
            if stream is not None and stream.keep_until > now:  # extended: a cached answer
                heapq.heappush(ended, (stream.keep_until, stream_id))
                continue
            self._drop(stream_id)
        cache = self._cache
        while cache and next(iter(cache.values()))[1] <= now:
            cache.popitem(last=False)

    async def info(self, stream_id: str) -> RunInfo | None:
        self._expire()
        stream = self._streams.get(stream_id)
        if stream is not None:
            return stream.info
        owner = self._forgotten.get(stream_id)
        if owner is None:
            return None
        return RunInfo(stream_id, owner, "", state="expired")

    async def read(self, stream_id: str, after: int) -> AsyncIterator[list[Entry]]:
        stream = self._streams.get(stream_id)
        if stream is None:
            raise ResumeExpired(stream_id)
        if after < stream.trimmed:
            raise ResumeExpired(stream_id)
        entries = stream.entries
        # the first entry holding an event after ``after`` (entries are in position order)
        index = stream.base
        for i, entry in enumerate(entries):
            if entry.last > after:
                index = stream.base + i
                break
        else:
            index = stream.base + len(entries)
        loop = asyncio.get_running_loop()
        while True:
            i = index - stream.base
            if i < 0:  # trimmed under a reader that fell too far behind
                raise ResumeExpired(stream_id)
            entries = stream.entries
            if i < len(entries):
                batch = entries[i:] if i else list(entries)
                index += len(batch)
                yield batch
                continue
            if stream.info.state != "live":
                if stream.info.state == "expired":
                    raise ResumeExpired(stream_id)
                return  # ended: the terminal entry was yielded
            future: asyncio.Future[None] = loop.create_future()
            stream.waiters.append(future)
            await future
            if stream.info.state == "live" and stream_id not in self._streams:
                raise ProducerLost(stream_id)

    async def discard(self, stream_id: str) -> None:
        self._streams.pop(stream_id, None)

    async def request_stop(self, stream_id: str) -> bool:
        stream = self._streams.get(stream_id)
        if stream is None or stream.info.state != "live":
            return False
        stream.stop = True
        return True

    async def claim(self, fingerprint: str, stream_id: str) -> str | None:
        current = self._claims.get(fingerprint)
        if current is not None:
            stream = self._streams.get(current)
            if stream is not None and stream.info.state == "live":
                return current
        self._claims[fingerprint] = stream_id
        return None

    async def settle(self, fingerprint: str, stream_id: str, cache_ttl: float) -> None:
        if self._claims.get(fingerprint) == stream_id:
            del self._claims[fingerprint]
        stream = self._streams.get(stream_id)
        if cache_ttl <= 0 or stream is None or stream.bytes > self.cache_max_bytes:
            return
        until = self._now() + cache_ttl
        stream.keep_until = max(stream.keep_until, until)
        self._cache.pop(fingerprint, None)
        self._cache[fingerprint] = (stream_id, until)
        self._bound_cache()

    def _bound_cache(self) -> None:
        cached = [self._streams.get(sid) for sid, _ in self._cache.values()]
        total = sum(s.bytes for s in cached if s is not None)
        while total > self.cache_max_bytes and self._cache:
            _, (sid, _) = self._cache.popitem(last=False)
            stream = self._streams.get(sid)
            if stream is not None:
                total -= stream.bytes
                stream.keep_until = min(stream.keep_until, self._now() + self.ttl)

    async def cached(self, fingerprint: str) -> str | None:
        self._expire()
        hit = self._cache.get(fingerprint)
        if hit is None:
            return None
        stream = self._streams.get(hit[0])
        if stream is None or stream.info.state != "ended":
            del self._cache[fingerprint]
            return None
        return hit[0]

    def lose_producer(self, stream_id: str) -> None:
        """The producer of a live run is gone without ending it (its task was killed): readers
        get ``ProducerLost``."""
        stream = self._streams.pop(stream_id, None)
        if stream is not None:
            self.bytes -= stream.bytes
            stream.wake()

    async def aclose(self) -> None:
        for stream in self._streams.values():
            stream.wake()


__all__ = ["MemoryJournal"]
