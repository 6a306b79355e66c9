"""One database behind the store: the engine for a URL, and how writes take turns on SQLite.

SQLite (``sqlite+aiosqlite:///path``, the default) gets on every connection: WAL (readers never
wait for the writer), ``busy_timeout`` (a writer of another process waits instead of failing),
foreign keys (off by default in SQLite, and the cascade from a conversation to its messages
needs them) and ``synchronous=NORMAL`` (safe with WAL; a crash loses at most the last commits,
never the database).

Why every write begins ``IMMEDIATE``, and why one ``asyncio.Lock`` per store: SQLite has one
writer at a time per database. A transaction that began deferred and read before it wrote (a
turn that continues a conversation reads it first) cannot wait for the write lock: SQLite
answers ``database is locked`` at once, whatever ``busy_timeout`` says, since waiting could
deadlock. ``BEGIN IMMEDIATE`` takes the write lock at the start, where waiting is safe, so
writers of other processes (``serve --workers``) simply wait (``busy_timeout``). Within one
process the lock queues the writers in asyncio first: a waiting writer then holds no pooled
connection and no driver thread, and is woken when the previous write commits instead of by
SQLite's busy handler, which sleeps and polls. A write is a few rows, milliseconds; reads (WAL)
take neither lock.

PostgreSQL (``postgresql+asyncpg://``) writes concurrently, so its lock is a no-op; its pool is
bounded (``pool_size``, no overflow): past it a query waits for a connection rather than
opening more than the server allows.

The URL may hold a password. It is only ever shown through ``shown_url`` (redacted), and errors
raised here never quote the URL.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from ..errors import ConfigError
from ..redaction import redact, redact_url

BUSY_TIMEOUT_MS = 10_000
"""How long a SQLite writer waits for another process's write before failing."""
WRITE_OPTION = "aichatflow_write"
"""Execution option of a connection that writes: SQLite begins it ``IMMEDIATE``."""
SCHEMES = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
}
"""URL schemes accepted, and the async driver each one means."""


def normalized_url(url: str) -> str:
    """``url`` with its async driver (``sqlite://`` → ``sqlite+aiosqlite://``,
    ``postgres(ql)://`` → ``postgresql+asyncpg://``); a ``ConfigError`` for any other scheme,
    which never quotes the URL (it may hold a password)."""
    scheme, sep, rest = url.partition("://")
    driver = SCHEMES.get(scheme.lower()) if sep else None
    if driver is None:
        raise ConfigError(
            "store.url: 'off', a sqlite+aiosqlite:///path or a postgresql+asyncpg://... URL"
        )
    return f"{driver}://{rest}"


def shown_url(url: str) -> str:
    """``url`` as logs and errors may show it: its password redacted."""
    return redact_url(url)


def url_password(url: str) -> str | None:
    try:
        return make_url(url).password
    except Exception:
        return None


def describe(url: str, exc: BaseException) -> str:
    """``exc`` as one line for an error or a log, with the URL's password redacted."""
    password = url_password(url)
    return redact(f"{type(exc).__name__}: {exc}", [password] if password else [])


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def create_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    """The async engine for ``url`` (normalized), configured as the module docstring says."""
    url = normalized_url(url)
    try:
        if is_sqlite(url):
            engine = create_async_engine(url)
            _configure_sqlite(engine)
        else:
            engine = create_async_engine(
                url, pool_size=pool_size, max_overflow=0, pool_pre_ping=True
            )
    except ConfigError:
        raise
    except Exception as exc:
        raise ConfigError(f"store.url {shown_url(url)!r}: {describe(url, exc)}") from None
    return engine


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # The driver must not BEGIN by itself (it would BEGIN DEFERRED, and only before DML);
        # "begin" below starts every transaction explicitly.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in (
            "journal_mode=WAL",
            f"busy_timeout={BUSY_TIMEOUT_MS}",
            "foreign_keys=ON",
            "synchronous=NORMAL",
        ):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        writes = connection.get_execution_options().get(WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN")


class Database:
    """An engine, and the one way to run a write on it (``write``) or a read (``read``)."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = normalized_url(url)
        self.engine = create_engine(self.url, pool_size=pool_size)
        self.sqlite = is_sqlite(self.url)
        self._write_lock: asyncio.Lock | None = asyncio.Lock() if self.sqlite else None

    @property
    def shown_url(self) -> str:
        return shown_url(self.url)

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A connection in a write transaction, committed on exit (rolled back on an error);
        on SQLite, one at a time in this process (the module docstring says why)."""
        lock = self._write_lock
        turn = lock if lock is not None else contextlib.nullcontext()
        async with turn, self.engine.connect() as connection:
            await connection.execution_options(**{WRITE_OPTION: True})
            async with connection.begin():
                yield connection

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A connection in a read transaction (one consistent snapshot), never waiting for
        writes."""
        async with self.engine.connect() as connection, connection.begin():
            yield connection

    async def aclose(self) -> None:
        await self.engine.dispose()


__all__ = [
    "BUSY_TIMEOUT_MS",
    "Database",
    "create_engine",
    "describe",
    "is_sqlite",
    "normalized_url",
    "shown_url",
]
