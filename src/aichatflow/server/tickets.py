"""Stream tickets: short-lived, single-use stand-ins for a key, for clients that cannot set
headers (a browser's ``EventSource``), sent as ``?ticket=`` in the URL.

A ticket is minted by ``POST /api/tickets`` for the key that authenticated that request and
is bound to it: redeeming it yields that key's id and nothing else. A ticket is as good as the
key for ``ttl`` seconds (at most 60), once, so it is a secret too: it never reaches a log line
(the access log logs the route, not the query; ``redaction.py`` redacts ``ticket=`` in any URL
an error quotes).

Memory is bounded by construction: at most ``per_key`` tickets of one key are outstanding at
once (a mint past it is refused with 429 until the oldest expires), so the book never holds
more than ``per_key`` times the number of configured keys, however fast tickets are minted.
Used tickets are removed at once; expired ones when the next ticket is minted or redeemed.

This book lives in the server process: with ``serve --workers N`` a ticket is only known to the
worker that minted it. With ``[limits] storage = "redis://..."`` the tickets live in that Redis
instead (``redis_tickets.py``), so any worker or instance sharing it honours them, once.
``build_tickets`` picks the book; both have the ``Tickets`` shape.
"""

from __future__ import annotations

import hashlib
import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from ..config import Settings
from ..errors import RateLimited

TICKETS_PER_KEY = 100
"""Outstanding (minted, unused, unexpired) tickets of one key; a page needs one per stream it
resumes, so 100 within a minute is far beyond any honest client."""

TICKET_BYTES = 32
"""Random bytes in a ticket (``secrets.token_urlsafe``: 43 characters)."""

MAX_TICKET_CHARS = 128
"""Longer ``?ticket=`` values are refused before they are hashed."""


class Tickets(Protocol):
    """Where tickets live: this process (``TicketBook``) or a Redis (``RedisTicketBook``)."""

    ttl: float

    async def mint(self, key_id: str) -> str:
        """A new ticket for ``key_id``; ``RateLimited`` (429) when it has too many unused,
        ``OverCapacity`` (503) when the book cannot be reached."""
        ...

    async def redeem(self, ticket: str) -> str | None:
        """The id of the key ``ticket`` was minted for, once; ``None`` when it is unknown, used
        or expired; ``OverCapacity`` (503) when the book cannot be reached (never a ticket let
        through unchecked)."""
        ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True, slots=True)
class _Ticket:
    key_id: str
    expires: float


class TicketBook:
    """The outstanding tickets, by the SHA-256 of the ticket (never the ticket itself, so the
    dict lookup on redemption reveals nothing about the secret through its timing)."""

    def __init__(
        self,
        ttl: float,
        *,
        per_key: int = TICKETS_PER_KEY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 < ttl <= 60:
            raise ValueError("a ticket's ttl is more than 0 and at most 60 seconds")
        self.ttl = ttl
        self.per_key = per_key
        self._clock = clock
        self._tickets: dict[bytes, _Ticket] = {}  # insertion order is expiry order (one ttl)
        self._outstanding: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._tickets)

    async def mint(self, key_id: str) -> str:
        """A new ticket for ``key_id``; ``RateLimited`` when it has ``per_key`` outstanding."""
        now = self._clock()
        self._expire(now)
        if self._outstanding.get(key_id, 0) >= self.per_key:
            oldest = next(t.expires for t in self._tickets.values() if t.key_id == key_id)
            raise RateLimited(
                f"too many unused tickets for this key (at most {self.per_key})",
                retry_after=max(1, math.ceil(oldest - now)),
            )
        ticket = new_ticket()
        self._tickets[_digest(ticket)] = _Ticket(key_id, now + self.ttl)
        self._outstanding[key_id] = self._outstanding.get(key_id, 0) + 1
        return ticket

    async def redeem(self, ticket: str) -> str | None:
        """The id of the key ``ticket`` was minted for, once; ``None`` when it is unknown, used
        or expired."""
        now = self._clock()
        self._expire(now)
        if not ticket or len(ticket) > MAX_TICKET_CHARS:
            return None
        found = self._tickets.pop(_digest(ticket), None)
        if found is None:
            return None
        self._forget(found.key_id)
        return found.key_id if found.expires > now else None

    async def aclose(self) -> None:
        """Nothing to close: the book is a dict."""

    def _expire(self, now: float) -> None:
        """Drop expired tickets from the front: one ttl for all, so the oldest expire first."""
        while self._tickets:
            digest, ticket = next(iter(self._tickets.items()))
            if ticket.expires > now:
                return
            del self._tickets[digest]
            self._forget(ticket.key_id)

    def _forget(self, key_id: str) -> None:
        left = self._outstanding[key_id] - 1
        if left:
            self._outstanding[key_id] = left
        else:
            del self._outstanding[key_id]


def _digest(ticket: str) -> bytes:
    return hashlib.sha256(ticket.encode("utf-8", "surrogatepass")).digest()


def new_ticket() -> str:
    return secrets.token_urlsafe(TICKET_BYTES)


def build_tickets(settings: Settings) -> Tickets:
    """The book of ``[limits] storage``: this process's memory, or the Redis it names."""
    ttl, storage = settings.auth.ticket_ttl, settings.limits.storage
    if storage == "memory://":
        return TicketBook(ttl)
    from ..redis_client import require_redis_client

    require_redis_client(storage)
    from .redis_tickets import RedisTicketBook

    return RedisTicketBook(storage, ttl)


__all__ = [
    "MAX_TICKET_CHARS",
    "TICKETS_PER_KEY",
    "TicketBook",
    "Tickets",
    "build_tickets",
    "new_ticket",
]
