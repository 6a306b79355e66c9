"""Schema migrations, run from Python: ``upgrade`` to the newest revision, ``current``.

The migration scripts ship inside the package (``migrations/``) and run on a connection the
store opened (``Connection.run_sync``), so users need no ``alembic.ini`` and alembic never sees
the URL. ``[store] upgrade = true`` (the default) upgrades at start-up; ``aichatflow db
upgrade`` does it by hand (``upgrade = false`` in a deployment that migrates as its own step).

Several instances starting at once must not race to create the same tables:

* PostgreSQL: the upgrade runs in one transaction that first takes a transaction-level advisory
  lock (``pg_advisory_xact_lock``); the second instance waits for it, then reads the version the
  first one committed and has nothing to do. PostgreSQL's DDL is transactional, so a failed
  upgrade leaves nothing half-made.
* SQLite: the upgrade is one ``BEGIN IMMEDIATE`` transaction (``database.py``), which holds the
  database's write lock from the start: the other processes (``serve --workers``) wait for it
  (``busy_timeout``) and then find the schema current.

The version lives in its own table, ``aichatflow_schema_version``, so an application that keeps
its own alembic history in the same database is not disturbed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from .database import Database

VERSION_TABLE = "aichatflow_schema_version"
SCRIPTS = Path(__file__).parent / "migrations"
ADVISORY_LOCK_KEY = 0x61696366_6C6F7731 & 0x7FFF_FFFF_FFFF_FFFF
"""The PostgreSQL advisory lock held while migrating ("aicflow1" as a bigint)."""


def _config(connection: Connection) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(SCRIPTS))
    config.attributes["connection"] = connection
    return config


def _upgrade(connection: Connection, target: str) -> None:
    from alembic import command

    command.upgrade(_config(connection), target)


def _current(connection: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()


def head() -> str:
    """The newest revision the package ships."""
    from alembic.script import ScriptDirectory

    revision = ScriptDirectory(str(SCRIPTS)).get_current_head()
    assert revision is not None
    return revision


async def upgrade(database: Database, target: str = "head") -> str | None:
    """Bring the schema to ``target`` (the newest by default), serialized against other
    instances as the module docstring says; returns the revision afterwards."""
    async with database.write() as connection:
        if connection.dialect.name == "postgresql":
            await connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY}
            )
        await connection.run_sync(_upgrade, target)
        return await connection.run_sync(_current)


async def current(database: Database) -> str | None:
    """The database's revision; ``None`` before the first upgrade."""
    async with database.read() as connection:
        return await connection.run_sync(_current)


__all__ = ["ADVISORY_LOCK_KEY", "VERSION_TABLE", "current", "head", "upgrade"]
