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

The book lives in the server process: with ``serve --workers N`` a ticket is only known to the
worker that minted it (docs/production.md, Access keys, says what to do about it).
"""

from __future__ import annotations

import hashlib
import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import RateLimited

TICKETS_PER_KEY = 100
"""Outstanding (minted, unused, unexpired) tickets of one key; a page needs one per stream it
resumes, so 100 within a minute is far beyond any honest client."""

TICKET_BYTES = 32
"""Random bytes in a ticket (``secrets.token_urlsafe``: 43 characters)."""

MAX_TICKET_CHARS = 128
"""Longer ``?ticket=`` values are refused before they are hashed."""


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

    def mint(self, key_id: str) -> str:
        """A new ticket for ``key_id``; ``RateLimited`` when it has ``per_key`` outstanding."""
        now = self._clock()
        self._expire(now)
        if self._outstanding.get(key_id, 0) >= self.per_key:
            oldest = next(t.expires for t in self._tickets.values() if t.key_id == key_id)
            raise RateLimited(
                f"too many unused tickets for this key (at most {self.per_key})",
                retry_after=max(1, math.ceil(oldest - now)),
            )
        ticket = secrets.token_urlsafe(TICKET_BYTES)
        self._tickets[_digest(ticket)] = _Ticket(key_id, now + self.ttl)
        self._outstanding[key_id] = self._outstanding.get(key_id, 0) + 1
        return ticket

    def redeem(self, ticket: str) -> str | None:
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


__all__ = ["MAX_TICKET_CHARS", "TICKETS_PER_KEY", "TicketBook"]
