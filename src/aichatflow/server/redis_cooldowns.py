"""Fallback cooldowns shared by every instance on one Redis (``[limits] storage = "redis://..."``).

Without it each process learns of a dead deployment on its own, and an outage costs one failed
upstream attempt per instance and worker instead of one in all. With it, a failure anywhere
counts towards ``allowed_fails`` everywhere, a cooldown set anywhere is skipped everywhere, and
a success anywhere lifts it everywhere.

A request never waits on Redis: it reads and updates only the local ``Cooldowns``
(``providers/fallback.py``); this module carries the news both ways in the background, with two
tasks per instance:

* the *writer* runs one script per failure or recovery the local ``Cooldowns`` reports (a
  healthy chain reports nothing, so costs nothing); the failure script counts failures within
  the window, and on a trip records the cooldown and ``PUBLISH``-es it;
* the *follower* ``SUBSCRIBE``-s, then reads the cooldowns in force (so an instance that starts,
  or reconnects, during an outage skips the dead deployment too) and applies every message.

Clocks: Redis's ``TIME`` stamps failures and cooldown ends, and what leaves Redis is a
*remaining* duration, which the receiver adds to its own clock: no two hosts' clocks are ever
compared. Redis unreachable: requests go on with the local state (this process's own failures
still cool deployments, as without Redis), one warning is logged (then a count every ten
seconds, ``ThrottledWarning``), the follower retries every ``retry`` seconds, and the URL's
password is never printed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from typing import Any

from ..config import Settings
from ..providers.fallback import Cooldowns
from ..providers.registry import Registry
from ..redaction import redact_url
from ..redis_client import NAMESPACE, describe_error, redis_client, require_redis_client
from ..throttled_log import ThrottledWarning

log = logging.getLogger("aichatflow.cooldowns")

PREFIX = NAMESPACE + ":cooldown:"
"""Keys: ``<PREFIX>until`` (sorted set: deployment → end of its cooldown, Redis ms),
``<PREFIX>fails:<deployment>`` (sorted set of recent failure times); and the channel
``<PREFIX>news``."""
RETRY = 2.0
"""Seconds between attempts to reach Redis again."""
PING_EVERY = 5.0
"""Seconds of silence after which the follower pings: a connection silent for three of these
(a Redis frozen or cut off, no FIN ever coming) is dropped and made again."""
QUEUE = 256
"""Reports waiting for the writer; past it (Redis very slow, a storm of failures), a report is
dropped: the local state has it, only other instances learn of it later."""

_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

FAIL = (
    _NOW
    + """
-- KEYS: fails, until. ARGV: deployment, failure id, allowed_fails, window ms, cooldown ms,
-- channel, message. Returns the cooldown set (ms), or 0.
local window = tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
redis.call('ZADD', KEYS[1], now, ARGV[2])
redis.call('PEXPIRE', KEYS[1], window)
if redis.call('ZCARD', KEYS[1]) <= tonumber(ARGV[3]) then
  return 0
end
redis.call('DEL', KEYS[1])
local ms = tonumber(ARGV[5])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
redis.call('ZADD', KEYS[2], now + ms, ARGV[1])
local last = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[2], math.floor(tonumber(last[2])) + 1)
redis.call('PUBLISH', ARGV[6], ARGV[7])
return ms
"""
)

RECOVER = (
    _NOW
    + """
-- KEYS: fails, until. ARGV: deployment, channel, message. Returns 1 if a cooldown was lifted.
redis.call('DEL', KEYS[1])
local ends = redis.call('ZSCORE', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if ends and tonumber(ends) > now then
  redis.call('PUBLISH', ARGV[2], ARGV[3])
  return 1
end
return 0
"""
)

READ = (
    _NOW
    + """
-- KEYS: until. Returns deployment, remaining ms, deployment, remaining ms, ...
local found = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf', 'WITHSCORES')
local out = {}
for i = 1, #found, 2 do
  out[#out + 1] = found[i]
  out[#out + 1] = math.floor(tonumber(found[i + 1]) - now)
end
return out
"""
)


def news(deployment: str, ms: int) -> str:
    """The message of a cooldown of ``ms`` milliseconds from now (0: lifted)."""
    return json.dumps({"deployment": deployment, "ms": ms}, separators=(",", ":"))


class RedisCooldowns:
    """Shares one ``Cooldowns`` with every instance on one Redis (module docstring); the
    ``CooldownSharing`` attached to it between ``start`` and ``aclose``."""

    def __init__(
        self,
        cooldowns: Cooldowns,
        url: str,
        *,
        prefix: str = PREFIX,
        retry: float = RETRY,
        ping_every: float = PING_EVERY,
        client: Any = None,
    ) -> None:
        self.cooldowns = cooldowns
        self._url = redact_url(url)
        self._prefix = prefix
        self._channel = prefix + "news"
        self._until_key = prefix + "until"
        self._retry = retry
        self._ping_every = ping_every
        self._redis = client if client is not None else redis_client(url)
        self._fail = self._redis.register_script(FAIL)
        self._recover = self._redis.register_script(RECOVER)
        self._read = self._redis.register_script(READ)
        self._queue: asyncio.Queue[tuple[bool, str]] = asyncio.Queue(QUEUE)
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = False
        self._lost = False
        self._unreachable = ThrottledWarning(log, "cooldowns: %d more Redis errors")

    def __repr__(self) -> str:
        return f"<RedisCooldowns {self._url}>"

    @property
    def tasks(self) -> tuple[asyncio.Task[None], ...]:
        """The writer and the follower while started (tests check none outlives ``aclose``)."""
        return tuple(self._tasks)

    def start(self) -> None:
        """Attach to the cooldowns and start both tasks (in the app's lifespan: needs a loop)."""
        if self._tasks or self._closed:
            return
        loop = asyncio.get_running_loop()
        self.cooldowns.sharing = self
        self._tasks = [
            loop.create_task(self._write_forever(), name="aichatflow-cooldowns-writer"),
            loop.create_task(self._follow_forever(), name="aichatflow-cooldowns-follower"),
        ]

    # CooldownSharing: called on a request's path, so they only queue.

    def failed(self, name: str) -> None:
        self._report(False, name)

    def recovered(self, name: str) -> None:
        self._report(True, name)

    def _report(self, recovered: bool, name: str) -> None:
        if not self._tasks:
            return
        try:
            self._queue.put_nowait((recovered, name))
        except asyncio.QueueFull:
            self._unreachable.warn(
                "cooldowns: %d reports wait for Redis at %s; dropping one (this instance "
                "still acts on it)",
                QUEUE,
                self._url,
            )

    async def _write_forever(self) -> None:
        while True:
            recovered, name = await self._queue.get()
            keys = [f"{self._prefix}fails:{name}", self._until_key]
            try:
                if recovered:
                    await self._recover(keys, [name, self._channel, news(name, 0)])
                else:
                    await self._fail(keys, self._fail_args(name))
            except Exception as exc:  # redis errors, OSError, timeouts: the local state stands
                self._warn(exc)

    def _fail_args(self, name: str) -> list[Any]:
        c = self.cooldowns
        ms = max(int(c.cooldown * 1000), 1)
        window = max(int(c.window * 1000), 1)
        message = news(name, ms)
        return [name, uuid.uuid4().hex, c.allowed_fails, window, ms, self._channel, message]

    async def _follow_forever(self) -> None:
        while True:
            try:
                await self._follow()
            except Exception as exc:
                self._lost = True
                self._warn(exc)
            await asyncio.sleep(self._retry)

    async def _follow(self) -> None:
        pubsub = self._redis.pubsub()
        try:
            await pubsub.subscribe(self._channel)
            # Subscribed first: a cooldown set while reading is in the reply or in a message.
            self._apply_current(await self._read([self._until_key], []))
            if self._lost:
                self._lost = False
                log.info("cooldowns: Redis at %s reachable again", self._url)
            loop = asyncio.get_running_loop()
            heard = loop.time()
            while True:
                message = await pubsub.get_message(
                    ignore_subscribe_messages=True, timeout=self._ping_every
                )
                now = loop.time()
                if message is not None:
                    heard = now
                    self._apply(message)
                elif now - heard >= 3 * self._ping_every:
                    raise ConnectionError(f"no answer from Redis in {now - heard:.0f}s")
                elif now - heard >= self._ping_every:
                    await pubsub.ping()
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()

    def _apply_current(self, reply: list[Any]) -> None:
        for i in range(0, len(reply) - 1, 2):
            self.cooldowns.cool(_text(reply[i]), int(reply[i + 1]) / 1000)

    def _apply(self, message: dict[str, Any]) -> None:
        if message.get("type") != "message":
            return  # a pong
        try:
            body = json.loads(message["data"])
            name, ms = str(body["deployment"]), int(body["ms"])
        except (ValueError, TypeError, KeyError):
            log.debug("cooldowns: ignoring a message that is not ours on %s", self._channel)
            return
        if ms > 0:
            self.cooldowns.cool(name, ms / 1000)
        else:
            self.cooldowns.clear(name)

    def _warn(self, exc: BaseException) -> None:
        self._unreachable.warn(
            "cooldowns: Redis at %s unreachable, each instance keeps its own until it is back: %s",
            self._url,
            describe_error(self._redis, exc),
        )

    async def aclose(self) -> None:
        """Detach, stop both tasks and close the connections; idempotent."""
        if self._closed:
            return
        self._closed = True
        if self.cooldowns.sharing is self:
            self.cooldowns.sharing = None
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
        await self._redis.aclose()


def share_cooldowns(settings: Settings, registry: Registry) -> RedisCooldowns | None:
    """The sharing of ``registry``'s cooldowns when ``[limits] storage`` is Redis; ``None`` when
    there is nothing to share (memory storage, no fallback chain, or ``cooldown = 0``)."""
    storage = settings.limits.storage
    if storage == "memory://" or not registry.has_fallbacks or registry.cooldowns.cooldown <= 0:
        return None
    require_redis_client(storage)
    return RedisCooldowns(registry.cooldowns, storage)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


__all__ = ["PREFIX", "RedisCooldowns", "news", "share_cooldowns"]
