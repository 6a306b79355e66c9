"""The Redis journal: runs kept in Redis Streams, so any instance can serve any reader
(``backend.py``; same semantics as ``memory.py``).

A run is three keys sharing the hash tag ``{<stream_id>}`` (one Redis Cluster slot):
``aichatflow:{id}:s`` the stream of entries (id ``0-<first position>``, ``MAXLEN ~``
``max_stream_entries``), ``aichatflow:{id}:i`` a hash (``RunInfo``, length, bytes, state, stop
flag) and ``aichatflow:{id}:l`` the producer's lease (``PX`` two heartbeats). The index of
de-duplication and the cache is ``{aichatflow}:claim:<fingerprint>`` and
``{aichatflow}:cache:<fingerprint>``; a run's keys and the index's are never in one script.

Costs. An append is one round trip (one ``EVALSHA``: ``HGET`` stop, ``XADD``, ``HSET``, lease
``SET``); so is a beat. A live run's keys expire ``max_duration + ttl`` after it started, so an
instance that dies leaks nothing; the end makes the entries expire ``ttl`` later and the info
hash ``tombstone`` seconds after that, so a late resume is told "expired", not "unknown".

Connections. Commands that answer at once share ``max_connections`` connections, taken in turn
(first come, first served; redis-py's own pool refuses the 101st concurrent command outright, and
its waiting pool lets a waiter starve): a command that waits ``TIMEOUT`` for its turn fails.
Readers follow with ``XREAD BLOCK`` on a second client whose answer timeout is a heartbeat plus
``TIMEOUT``: a blocked read holds one connection for as long as it waits (a socket and its buffers
here, a client in Redis: about 20 KB each side), so an instance holds as many connections as it
has readers following live runs, at most ``max_readers`` (one past it waits for a connection, at
most ``TIMEOUT``, then fails as an unreachable Redis would). A reader blocks at most until the
producer's lease would lapse, so it learns of a dead producer (``ProducerLost``) within two
heartbeats of the producer's last renewal, plus one round trip.

Every Redis failure is raised as ``JournalUnavailable`` (a 503 ``over_capacity`` before a stream
starts, an error frame after), its message free of the URL's password; none holds a caller
longer than a connection's and an answer's timeout (``TIMEOUT`` each; a blocked read's answer
may take a heartbeat more).

``client`` replaces the client of the commands that answer at once (tests pass one that counts
its round trips); the readers' client is always this journal's own.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable
from typing import Any, TypeVar

import orjson

from ..errors import OverCapacity
from ..redaction import redact_url
from ..redis_client import TIMEOUT, describe_error, redis_client
from ..throttled_log import ThrottledWarning
from .backend import Entry, ProducerLost, ResumeExpired, RunInfo, State
from .redis_scripts import APPEND_MANY, BEAT, END, KEEP, LOCATE, STOP, SWAP

log = logging.getLogger("aichatflow.journal")

T = TypeVar("T")

PREFIX = "aichatflow"
INDEX = "{aichatflow}"
"""The start of the de-duplication and cache keys (one slot for all: they are few and small)."""
TOMBSTONE = 86_400.0
"""Seconds a finished run's info outlives its entries (answers "expired" rather than unknown)."""
READ_COUNT = 256
"""Entries fetched per read at most: a long replay comes in pages, not in one huge reply."""
LEASE_MARGIN = 0.02
"""Seconds a reader waits past the lease's end before it concludes the producer is gone."""


class JournalUnavailable(OverCapacity):
    """Redis could not be reached or failed: a 503 (an error frame once a stream started)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retry_after=1)


class RedisJournal:
    """Runs and their entries in Redis, shared by every instance using it (module docstring)."""

    kind = "redis"
    stores_bytes = True
    shared = True

    def __init__(
        self,
        url: str,
        *,
        ttl: float = 600.0,
        max_stream_entries: int = 100_000,
        heartbeat: float = 15.0,
        cache_max_bytes: int = 64 << 20,
        max_duration: float = 900.0,
        max_readers: int = 1024,
        max_connections: int = 64,
        tombstone: float = TOMBSTONE,
        client: Any = None,
    ) -> None:
        self.ttl = ttl
        self.max_stream_entries = max_stream_entries
        self.heartbeat = heartbeat
        self.cache_max_bytes = cache_max_bytes
        self.max_duration = max_duration
        self._url = redact_url(url)
        self.tombstone = tombstone
        self._redis = client or redis_client(url, max_connections=max_connections)
        self.max_connections = max_connections
        self._turns = asyncio.Semaphore(max_connections)
        self._readers = redis_client(
            url, answer_timeout=heartbeat + TIMEOUT, max_connections=max_readers
        )
        self._lease_ms = _ms(2 * heartbeat)
        self._live_ms = _ms(max_duration + ttl)
        self._written: dict[str, int] = {}
        """Bytes appended so far by the runs this instance produces (their producer is here)."""
        where = self._url.replace("%", "%%")
        self._failing = ThrottledWarning(log, f"journal: Redis at {where} failed %d more times")
        script = self._redis.register_script
        self._append_many, self._beat, self._end = script(APPEND_MANY), script(BEAT), script(END)
        self._locate, self._stop = script(LOCATE), script(STOP)
        self._keep, self._swap = script(KEEP), script(SWAP)

    def __repr__(self) -> str:
        return f"<RedisJournal {self._url}>"

    # --- the producer's side

    async def create(self, info: RunInfo) -> None:
        keys = _keys(info.stream_id)
        fields = {
            "owner": info.owner,
            "model": info.model,
            "length": info.length,
            "bytes": 0,
            "state": "live",
            "stop": "0",
        }
        if info.deployment is not None:
            fields["deployment"] = info.deployment
        if info.conversation_id is not None:
            fields["conversation"] = info.conversation_id
        if info.extra:
            fields["extra"] = orjson.dumps(info.extra).decode()
        pipe = self._redis.pipeline(transaction=True)
        pipe.hset(keys[1], mapping=fields)
        pipe.pexpire(keys[1], self._live_ms)
        pipe.set(keys[2], "1", px=self._lease_ms)
        await self._call("creating a run", pipe.execute())
        self._written[info.stream_id] = 0

    async def append(self, stream_id: str, entry: Entry) -> bool:
        return await self.append_many(stream_id, [entry])

    async def append_many(self, stream_id: str, entries: list[Entry]) -> bool:
        """``append`` for one or several entries, in one round trip (``relay.py`` sends
        everything its producer wrote while the last round trip was in flight)."""
        written = self._written.get(stream_id)
        total = (written or 0) + sum(len(entry.data) for entry in entries)
        self._written[stream_id] = total
        args: list[Any] = [self.max_stream_entries, entries[-1].last, total, self._lease_ms]
        args.append(self._live_ms if not written else 0)
        for entry in entries:
            args += (entry.first, entry.count, entry.data)
        go_on = await self._call("appending", self._append_many(_keys(stream_id), args))
        return bool(go_on)

    async def beat(self, stream_id: str) -> bool:
        keys = _keys(stream_id)
        go_on = await self._call("renewing a lease", self._beat(keys[1:], [self._lease_ms]))
        return bool(go_on)

    async def end(self, stream_id: str, entry: Entry) -> None:
        total = self._written.pop(stream_id, 0) + len(entry.data)
        args = [
            *(entry.first, entry.count, entry.data, self.max_stream_entries, entry.last),
            *(total, _ms(self.ttl), _ms(self.ttl + self.tombstone)),
        ]
        await self._call("ending a run", self._end(_keys(stream_id), args))

    # --- everyone's side

    async def info(self, stream_id: str) -> RunInfo | None:
        keys = _keys(stream_id)
        pipe = self._redis.pipeline(transaction=False)
        pipe.hgetall(keys[1])
        pipe.exists(keys[0])
        fields, exists = await self._call("reading a run", pipe.execute())
        if not fields:
            return None
        get = {k.decode(): v.decode() for k, v in fields.items()}.get
        state: State = "live" if get("state") == "live" else "ended"
        if state == "ended" and not exists:
            state = "expired"
        extra = get("extra")
        return RunInfo(
            stream_id=stream_id,
            owner=get("owner", ""),
            model=get("model", ""),
            deployment=get("deployment"),
            conversation_id=get("conversation"),
            length=int(get("length", "0")),
            state=state,
            extra=orjson.loads(extra) if extra else {},
        )

    async def read(self, stream_id: str, after: int) -> AsyncIterator[list[Entry]]:
        keys = _keys(stream_id)
        code, cursor, pttl = await self._call("locating", self._locate(keys, [after]))
        if code == 3:
            return
        if code != 2:
            raise ResumeExpired(stream_id)
        seen = after
        """The last position the reader has (entries must follow it with no gap)."""
        block: float | None = self._wait_for(pttl)
        while True:
            block_ms = None if block is None else max(1, _ms(block))
            reply = await self._call(
                "reading",
                self._readers.xread({keys[0]: f"0-{cursor}"}, READ_COUNT, block_ms),
                blocking=True,
            )
            if reply:
                # RESP2 answers [[key, entries]], RESP3 (``?protocol=3``) {key: [entries]}
                batch = next(iter(reply.values()))[0] if isinstance(reply, dict) else reply[0][1]
                entries: list[Entry] = []
                ended = False
                for entry_id, fields in batch:
                    first = int(entry_id.rpartition(b"-")[2])
                    if first > seen + 1:  # trimmed under a reader that fell too far behind
                        raise ResumeExpired(stream_id)
                    entry = Entry(first, int(fields[b"n"]), fields[b"d"])
                    seen, cursor = max(seen, entry.last), first
                    entries.append(entry)
                    if b"t" in fields:
                        ended = True
                        break
                if entries:
                    yield entries
                if ended:
                    return
                continue
            if block is None:  # ended, and its terminal entry is not there: gone
                raise ResumeExpired(stream_id)
            block = await self._recheck(stream_id, keys)

    async def _recheck(self, stream_id: str, keys: tuple[str, str, str]) -> float | None:
        """Nothing came within a wait: how long the next wait may be (None: do not wait, the
        run ended), or why waiting is over."""
        pipe = self._redis.pipeline(transaction=False)
        pipe.hget(keys[1], "state")
        pipe.pttl(keys[2])
        state, pttl = await self._call("checking a producer", pipe.execute())
        if state is None:
            raise ResumeExpired(stream_id)
        if state != b"live":
            return None
        if pttl < 0:
            raise ProducerLost(stream_id)
        return self._wait_for(pttl)

    def _wait_for(self, pttl: int) -> float:
        """At most a heartbeat, and never past the producer's lease (``pttl`` ms left)."""
        return min(self.heartbeat, max(pttl, 0) / 1000 + LEASE_MARGIN)

    async def discard(self, stream_id: str) -> None:
        self._written.pop(stream_id, None)
        await self._call("discarding a run", self._redis.delete(*_keys(stream_id)))

    async def request_stop(self, stream_id: str) -> bool:
        stopped = await self._call("stopping", self._stop([_keys(stream_id)[1]]))
        return bool(stopped)

    # --- de-duplication and the cache

    async def claim(self, fingerprint: str, stream_id: str) -> str | None:
        key = f"{INDEX}:claim:{fingerprint}"
        claim_ms = _ms(self.max_duration)
        for _ in range(5):  # another claimer's swap between our read and ours: try again
            old = await self._call(
                "claiming", self._redis.set(key, stream_id, nx=True, px=claim_ms, get=True)
            )
            if old is None or old.decode() == stream_id:
                return None
            current: str = old.decode()
            if await self._is_live(current):
                return current
            swapped = await self._call(
                "claiming", self._swap([key], [current, stream_id, claim_ms])
            )
            if swapped:
                return None
        return None  # contended beyond reason: compute our own rather than wait

    async def _is_live(self, stream_id: str) -> bool:
        """The run is live and its producer holds its lease."""
        keys = _keys(stream_id)
        pipe = self._redis.pipeline(transaction=False)
        pipe.hget(keys[1], "state")
        pipe.exists(keys[2])
        state, leased = await self._call("claiming", pipe.execute())
        return state == b"live" and bool(leased)

    async def settle(self, fingerprint: str, stream_id: str, cache_ttl: float) -> None:
        claim = f"{INDEX}:claim:{fingerprint}"
        await self._call("settling", self._swap([claim], [stream_id, "", 0]))
        if cache_ttl <= 0:
            return
        keys = _keys(stream_id)
        keep = [_ms(cache_ttl), self.cache_max_bytes, _ms(cache_ttl + self.tombstone)]
        if await self._call("caching", self._keep(keys[:2], keep)):
            cache = f"{INDEX}:cache:{fingerprint}"
            await self._call("caching", self._redis.set(cache, stream_id, px=_ms(cache_ttl)))

    async def cached(self, fingerprint: str) -> str | None:
        key = f"{INDEX}:cache:{fingerprint}"
        found = await self._call("reading the cache", self._redis.get(key))
        if found is None:
            return None
        stream_id: str = found.decode()
        keys = _keys(stream_id)
        pipe = self._redis.pipeline(transaction=False)
        pipe.hget(keys[1], "state")
        pipe.exists(keys[0])
        state, exists = await self._call("reading the cache", pipe.execute())
        if state == b"ended" and exists:
            return stream_id
        await self._call("reading the cache", self._swap([key], [stream_id, "", 0]))
        return None

    async def aclose(self) -> None:
        await self._redis.aclose()
        await self._readers.aclose()

    async def _call(self, doing: str, pending: Awaitable[T], *, blocking: bool = False) -> T:
        """``pending``'s result; any failure of Redis as ``JournalUnavailable``. A command
        waits its turn for one of ``max_connections`` (first come, first served, which
        redis-py's pool is not: a waiter could starve past its timeout), a blocking read for
        one of ``max_readers`` (the readers' pool)."""
        if not blocking:
            try:
                async with asyncio.timeout(TIMEOUT):
                    await self._turns.acquire()
            except BaseException as exc:  # its turn never came: ``pending`` will never run
                if inspect.iscoroutine(pending):
                    pending.close()
                if not isinstance(exc, TimeoutError):
                    raise  # cancelled while waiting
                self._failing.warn(
                    "journal: a command waited %gs for one of %d Redis connections",
                    TIMEOUT,
                    self.max_connections,
                )
                raise JournalUnavailable(f"the journal's Redis is too busy for {doing}") from None
        try:
            return await pending
        except Exception as exc:  # redis errors, OSError, timeouts: never a hang, never a URL
            raise self._failed(doing, exc) from None
        finally:
            if not blocking:
                self._turns.release()

    def _failed(self, doing: str, exc: Exception) -> JournalUnavailable:
        message = describe_error(self._redis, exc)
        self._failing.warn("journal: Redis at %s failed while %s: %s", self._url, doing, message)
        return JournalUnavailable(f"the journal's Redis failed while {doing}")


def _keys(stream_id: str) -> tuple[str, str, str]:
    """The run's stream, info hash and lease keys (one hash tag: one Cluster slot)."""
    tag = f"{PREFIX}:{{{stream_id}}}"
    return f"{tag}:s", f"{tag}:i", f"{tag}:l"


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


__all__ = ["JournalUnavailable", "RedisJournal"]
