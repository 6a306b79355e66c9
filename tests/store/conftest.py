"""The store's tests run on both databases: a SQLite file in the test's temporary directory,
and a fresh database on the session's PostgreSQL (``postgres_url``)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from aichatflow.store.conversations import ConversationStore
from tests.support.postgres_server import create_database


async def fresh_url(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> str:
    """An empty database of ``backend`` (``sqlite`` or ``postgres``), as a store URL."""
    if backend == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / f'store-{secrets.token_hex(4)}.db'}"
    server = request.getfixturevalue("postgres_url")
    return await create_database(server, f"t_{secrets.token_hex(6)}")


@pytest.fixture(params=["sqlite", "postgres"])
async def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database, once per backend."""
    return await fresh_url(request, request.param, tmp_path)


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[ConversationStore]:
    """A store on ``store_url``, migrated to the newest schema."""
    opened = await ConversationStore.open(store_url)
    try:
        yield opened
    finally:
        await opened.aclose()
