"""Fixtures of the journal's tests: journals of each backend, each call another instance.

``make_journal`` runs a test once per backend (memory, Redis on the session's real
``redis-server`` (``redis_url`` in tests/conftest.py), and Redis relayed through a memory copy
of the runs produced here, as a server uses it: ``journal/relay.py``). Redis journals built
by one test share that Redis, as instances of one deployment do; the memory backend has one
process only, so each call returns the same journal (two "instances" of it are one).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from aichatflow.journal import Journal, MemoryJournal, RunInfo

JournalFactory = Callable[..., Journal]

SMALL_MEMORY_STREAM = 2_000
"""Bytes per stream of the memory backend when a test asks for ``small`` bounds."""
SMALL_REDIS_STREAM = 10
"""Entries per stream of the Redis backend when a test asks for ``small`` bounds (``MAXLEN ~``
trims whole nodes of 100 entries: a test appends a few hundred)."""


@pytest.fixture(params=["memory", "redis", "relayed"])
async def make_journal(request: pytest.FixtureRequest) -> AsyncIterator[JournalFactory]:
    """``make_journal(ttl=, small=, heartbeat=)`` → a journal of this run's backend."""
    made: list[Journal] = []
    memory: dict[str, MemoryJournal] = {}
    url = request.getfixturevalue("redis_url") if request.param != "memory" else ""

    def build(*, ttl: float = 600.0, small: bool = False, **options: Any) -> Journal:
        journal: Journal
        if request.param == "memory":
            if "journal" in memory:
                return memory["journal"]
            bound = SMALL_MEMORY_STREAM if small else 4 << 20
            journal = memory["journal"] = MemoryJournal(ttl=ttl, max_stream_bytes=bound)
        else:
            from aichatflow.journal.redis_journal import RedisJournal
            from aichatflow.journal.relay import RelayedJournal

            entries = SMALL_REDIS_STREAM if small else 100_000
            journal = RedisJournal(url, ttl=ttl, max_stream_entries=entries, **options)
            if request.param == "relayed":  # what a server builds: a memory copy in front
                bound = SMALL_MEMORY_STREAM if small else 4 << 20
                local = MemoryJournal(ttl=ttl, max_stream_bytes=bound)
                journal = RelayedJournal(journal, local)
        made.append(journal)
        return journal

    build.kind = request.param  # type: ignore[attr-defined]
    yield build
    for journal in made:
        await journal.aclose()


def new_run(owner: str = "key-1", **fields: Any) -> RunInfo:
    """A fresh live run (its id random, as the server's are)."""
    return RunInfo(stream_id=uuid.uuid4().hex, owner=owner, model="m", **fields)
