"""Fixtures of the journal's tests: journals of each backend, each call another instance.

``make_journal`` runs a test once per backend (memory and Redis, on the session's real
``redis-server``, ``redis_url`` in tests/conftest.py). Redis journals built by one test share
that Redis, as instances of one deployment do; the memory backend has one process only, so
each call returns the same journal (two "instances" of it are one).
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


@pytest.fixture(params=["memory", "redis"])
async def make_journal(request: pytest.FixtureRequest) -> AsyncIterator[JournalFactory]:
    """``make_journal(ttl=, small=, heartbeat=)`` → a journal of this run's backend."""
    made: list[Journal] = []
    memory: dict[str, MemoryJournal] = {}
    url = request.getfixturevalue("redis_url") if request.param == "redis" else ""

    def build(*, ttl: float = 600.0, small: bool = False, **options: Any) -> Journal:
        journal: Journal
        if request.param == "memory":
            if "journal" in memory:
                return memory["journal"]
            bound = SMALL_MEMORY_STREAM if small else 4 << 20
            journal = memory["journal"] = MemoryJournal(ttl=ttl, max_stream_bytes=bound)
        else:
            from aichatflow.journal.redis_journal import RedisJournal

            entries = SMALL_REDIS_STREAM if small else 100_000
            journal = RedisJournal(url, ttl=ttl, max_stream_entries=entries, **options)
        made.append(journal)
        return journal

    build.kind = request.param  # type: ignore[attr-defined]
    yield build
    for journal in made:
        await journal.aclose()


def new_run(owner: str = "key-1", **fields: Any) -> RunInfo:
    """A fresh live run (its id random, as the server's are)."""
    return RunInfo(stream_id=uuid.uuid4().hex, owner=owner, model="m", **fields)
