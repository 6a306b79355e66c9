"""Fixtures of the tickets' tests: the session's real Redis (``redis_url``, in
tests/conftest.py), a fresh key namespace per test, and Redis-backed ticket books
that stand for separate instances."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from aichatflow.server.redis_tickets import RedisTicketBook

__all__ = ["BookFactory"]

BookFactory = Callable[..., RedisTicketBook]


@pytest.fixture
def namespace() -> str:
    """Key namespace of one test: tests share the session's Redis, never its keys."""
    return "{t" + uuid.uuid4().hex[:12] + "}"


@pytest.fixture
async def make_book(redis_url: str, namespace: str) -> AsyncIterator[BookFactory]:
    """Builds ``RedisTicketBook``s on the session's Redis, all in this test's namespace; each
    call is another instance (its own client and connections, as another server process)."""
    made: list[RedisTicketBook] = []

    def build(ttl: float = 30.0, **options: Any) -> RedisTicketBook:
        book = RedisTicketBook(redis_url, ttl, namespace=namespace, **options)
        made.append(book)
        return book

    yield build
    for book in made:
        await book.aclose()
