"""What a journal backend is: where runs append their entries and readers tail them.

A *run* is one generation (``run.py``): its producer appends coalesced batches of events as
entries (``codec.py``), each entry knowing the position of its first event; positions count
events from 1 and are what the native protocol's ids carry (``<stream_id>.<position>``), so a
reader asking for everything after position ``k`` gets exactly the events it did not see, however
the entries were cut. The last entry is the terminal one (a ``done`` or an ``error``).

Two backends implement this protocol: ``memory.py`` (one process; bounded bytes per stream and
in all) and ``redis_journal.py`` (Redis Streams, for several instances). Everything a server
needs to find a run again (its owner, model, conversation) is in its ``RunInfo``; the backend
keeps that a while after the entries expire, so an expired stream can be told from one that
never existed.

The same backend also keeps the index that makes de-duplication and the cache work: a request's
fingerprint (``fingerprint.py``) names the live run computing it (``claim``) and, once it
finished, the run whose replay answers it (``settle``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Literal, Protocol

from ..events import ChatEvent

State = Literal["live", "ended", "expired"]


@dataclass(slots=True)
class RunInfo:
    """A run, as any instance can see it."""

    stream_id: str
    owner: str
    """The id of the caller's key ("" without auth): only that key may read or stop the run."""
    model: str
    deployment: str | None = None
    """The ``provider/model`` expected to answer (announced in the native ``start`` frame)."""
    conversation_id: str | None = None
    length: int = 0
    """Position of the last event appended so far."""
    state: State = "live"
    extra: dict[str, str] = field(default_factory=dict)
    """Small facts a backend carries for the server (kept as strings)."""


class Entry:
    """One appended batch: the position of its first event, how many events, and the events
    themselves (``events``, what the memory journal keeps and hands back without a decode) or
    their bytes (``data``, ``codec.py``: what Redis keeps), or both."""

    __slots__ = ("count", "data", "events", "first", "text_size")

    def __init__(
        self,
        first: int,
        count: int,
        data: bytes = b"",
        events: list[ChatEvent] | None = None,
        text_size: int = -1,
    ) -> None:
        self.first = first
        self.count = count
        self.data = data
        self.events = events
        self.text_size = text_size
        """Characters of text its events hold, when the producer counted them (-1: not)."""

    @property
    def last(self) -> int:
        return self.first + self.count - 1


class ResumeExpired(Exception):
    """The entries asked for are gone (expired, or trimmed from a stream past its bound)."""


class ProducerLost(Exception):
    """The run's producer stopped renewing its lease without ending the run (its instance
    died): nothing more will be appended."""


class Journal(Protocol):
    """A journal backend (module docstring). All methods may raise on a backend failure (Redis
    down); callers turn that into a 503 before a stream starts, an error frame after."""

    kind: str
    """``memory`` or ``redis``."""
    stores_bytes: bool
    shared: bool
    """Whether other instances read this journal (Redis): at shutdown its producers then
    finish their answers within the grace, for readers who resume elsewhere."""
    """Whether entries must carry their bytes (``Entry.data``); the memory journal keeps the
    events themselves and needs none, so its producers never encode."""

    async def create(self, info: RunInfo) -> None:
        """Register a new live run (its ``stream_id`` is fresh and unguessable)."""
        ...

    async def append(self, stream_id: str, entry: Entry) -> bool:
        """Append a non-terminal entry and renew the producer's lease, in one round trip.

        Returns False when a stop was requested (``request_stop``): the producer must stop."""
        ...

    async def beat(self, stream_id: str) -> bool:
        """Renew the producer's lease when nothing was appended for a heartbeat; False as for
        ``append``."""
        ...

    async def end(self, stream_id: str, entry: Entry) -> None:
        """Append the terminal entry, mark the run ended and let it expire after the TTL."""
        ...

    async def info(self, stream_id: str) -> RunInfo | None:
        """The run, ``state`` ``expired`` once its entries are gone (for a while after), or
        None if it never existed (or is long forgotten)."""
        ...

    def read(self, stream_id: str, after: int) -> AsyncIterator[list[Entry]]:
        """Entries holding the events after position ``after``, replayed, then followed live,
        until the terminal entry (which is yielded), as lists: each list is everything there
        was to read at that moment, so a reader that fell behind catches up in one write. The
        first entry may start before ``after + 1``; the reader skips what it saw. Raises
        ``ResumeExpired`` when those events are gone and ``ProducerLost`` when the producer
        died."""
        ...

    async def discard(self, stream_id: str) -> None:
        """Forget a run that was created but never started (its request joined another)."""
        ...

    async def request_stop(self, stream_id: str) -> bool:
        """Ask the run's producer, wherever it runs, to stop; False when it already ended."""
        ...

    async def claim(self, fingerprint: str, stream_id: str) -> str | None:
        """Make ``stream_id`` the live run for ``fingerprint``, unless one is: then return its
        id (the caller joins it instead of starting its own)."""
        ...

    async def settle(self, fingerprint: str, stream_id: str, cache_ttl: float) -> None:
        """``stream_id`` ended: drop its live claim, and (``cache_ttl`` > 0, the run finished
        with ``done``) keep it as the cached answer for ``fingerprint`` that long."""
        ...

    async def cached(self, fingerprint: str) -> str | None:
        """The finished run that answers ``fingerprint``, if one is cached."""
        ...

    async def aclose(self) -> None: ...


__all__ = ["Entry", "Journal", "ProducerLost", "ResumeExpired", "RunInfo", "State"]
