"""Stream tickets in Redis: minted on one worker or instance, honoured once by any other that
shares the Redis of ``[limits] storage`` (a browser's ``EventSource`` reconnects to whichever
worker the balancer picks).

What is stored is the memory book's (``tickets.py``), in Redis's terms:

* ``<namespace>:ticket:<sha256 of the ticket>`` → the key's id, set with ``NX`` and a ``PX``
  expiry of the ticket's ttl: never the ticket itself, so whoever can read the Redis cannot
  redeem what it finds there;
* ``<namespace>:tickets-of:<key id>``, a sorted set of the key's unused tickets (member the
  digest, score its expiry by Redis's clock): the bound on unused tickets per key, so a flood of
  mints cannot grow the Redis. It expires with its newest ticket.

A mint is one Lua script (drop the key's expired entries, check the bound, set the ticket, add
it), so two instances minting for one key at once cannot both pass a full bound. A redemption
is one ``GETDEL`` (Redis 6.2 or later): the read and the delete are one command, so of two
redemptions of one ticket, on any instances and at the same instant, exactly one gets the key.
It then frees the ticket's place in its key's set (a second command, which may fail harmlessly:
the place frees itself when the ticket would have expired).

Redis unreachable: minting and redeeming both answer 503 ``over_capacity`` (fail closed: a
ticket is never let through unchecked), with one warning logged (then one line per 10 s with
how many more), the URL's password redacted.
"""

from __future__ import annotations

import hashlib
import logging
import math
from typing import Any

from ..errors import OverCapacity, RateLimited
from ..redaction import redact_url
from ..redis_client import NAMESPACE, describe_error, redis_client
from ..throttled_log import ThrottledWarning
from .tickets import MAX_TICKET_CHARS, TICKETS_PER_KEY, new_ticket

log = logging.getLogger("aichatflow.tickets")

RETRY_AFTER = 1
"""Seconds a client is told to wait when the Redis could not be reached."""

MINT = """
-- KEYS[1]: the ticket; KEYS[2]: the key's unused tickets (member digest, score expiry)
-- ARGV: the key's id, the ticket's digest, ttl (seconds), the bound per key
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local ttl, per_key = tonumber(ARGV[3]), tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
if redis.call('ZCARD', KEYS[2]) >= per_key then
  local oldest = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
  return {0, string.format('%.6f', tonumber(oldest[2]) - now)}
end
local ttl_ms = math.ceil(ttl * 1000)
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ttl_ms) then
  return {-1, '0'}
end
redis.call('ZADD', KEYS[2], now + ttl, ARGV[2])
redis.call('PEXPIRE', KEYS[2], ttl_ms)
return {1, '0'}
"""


class RedisTicketBook:
    """The ``Tickets`` of every instance sharing one Redis."""

    def __init__(
        self,
        url: str,
        ttl: float,
        *,
        per_key: int = TICKETS_PER_KEY,
        namespace: str = NAMESPACE,
        client: Any = None,
    ) -> None:
        if not 0 < ttl <= 60:
            raise ValueError("a ticket's ttl is more than 0 and at most 60 seconds")
        self.ttl = ttl
        self.per_key = per_key
        self._namespace = namespace
        self._url = redact_url(url)
        self._redis = client if client is not None else redis_client(url)
        self._mint = self._redis.register_script(MINT)
        # the summary is formatted with the count alone: the URL goes in now (%% is a %)
        summary = f"tickets: Redis at {self._url.replace('%', '%%')} unreachable at %d more"
        self._unreachable = ThrottledWarning(log, summary + " ticket requests")

    def __repr__(self) -> str:
        return f"<RedisTicketBook {self._url}>"

    async def mint(self, key_id: str) -> str:
        """A new ticket for ``key_id``; ``RateLimited`` (429) when it has ``per_key`` unused,
        ``OverCapacity`` (503) when the Redis cannot be reached."""
        for _ in range(3):  # a 256-bit ticket that exists already: never, but not assumed
            ticket = new_ticket()
            digest = _digest(ticket)
            keys = [self._ticket_key(digest), self._outstanding_key(key_id)]
            try:
                minted, wait = await self._mint(keys, [key_id, digest, self.ttl, self.per_key])
            except Exception as exc:  # redis errors, OSError, timeouts: fail closed
                raise self._down("minting", exc) from None
            if int(minted) == 1:
                return ticket
            if int(minted) == 0:
                raise RateLimited(
                    f"too many unused tickets for this key (at most {self.per_key})",
                    retry_after=max(1, math.ceil(float(wait))),
                )
        raise OverCapacity("could not mint a ticket", retry_after=RETRY_AFTER)

    async def redeem(self, ticket: str) -> str | None:
        """The id of the key ``ticket`` was minted for, once across every instance; ``None``
        when it is unknown, used or expired; ``OverCapacity`` (503) when the Redis cannot be
        reached."""
        if not ticket or len(ticket) > MAX_TICKET_CHARS:
            return None
        digest = _digest(ticket)
        try:
            found = await self._redis.getdel(self._ticket_key(digest))
        except Exception as exc:
            raise self._down("redeeming", exc) from None
        if found is None:
            return None
        key_id = bytes(found).decode("utf-8", "replace")  # a value not ours: no key's id
        try:
            await self._redis.zrem(self._outstanding_key(key_id), digest)
        except Exception as exc:  # the ticket is spent already; its place frees at expiry
            log.warning(
                "tickets: could not free a used ticket's place in Redis at %s (it frees "
                "itself within %gs): %s",
                self._url,
                self.ttl,
                describe_error(self._redis, exc),
            )
        return key_id

    async def aclose(self) -> None:
        await self._redis.aclose()

    def _ticket_key(self, digest: str) -> str:
        return f"{self._namespace}:ticket:{digest}"

    def _outstanding_key(self, key_id: str) -> str:
        return f"{self._namespace}:tickets-of:{key_id}"

    def _down(self, doing: str, exc: BaseException) -> OverCapacity:
        self._unreachable.warn(
            "tickets: Redis at %s unreachable while %s a ticket, refusing with 503: %s",
            self._url,
            doing,
            describe_error(self._redis, exc),
        )
        return OverCapacity("the ticket storage is unreachable", retry_after=RETRY_AFTER)


def _digest(ticket: str) -> str:
    return hashlib.sha256(ticket.encode("utf-8", "surrogatepass")).hexdigest()


__all__ = ["MINT", "RedisTicketBook"]
