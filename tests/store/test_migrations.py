"""The schema is made by migrations: fresh → head, idempotent, race-free, and equal to the
tables the store queries (``schema.py``)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import inspect

from aichatflow.cli import main
from aichatflow.errors import ConfigError
from aichatflow.store import migrate
from aichatflow.store.conversations import ConversationStore
from aichatflow.store.database import Database
from aichatflow.store.schema import metadata


async def test_a_fresh_database_is_brought_to_head_and_a_second_upgrade_changes_nothing(
    store_url: str,
) -> None:
    database = Database(store_url)
    try:
        assert await migrate.current(database) is None
        assert await migrate.upgrade(database) == migrate.head()
        tables = await _tables(database)
        assert {"aichatflow_conversations", "aichatflow_messages"} <= tables
        assert await migrate.upgrade(database) == migrate.head()
        assert await _tables(database) == tables
    finally:
        await database.aclose()


async def _tables(database: Database) -> set[str]:
    async with database.read() as connection:
        names = await connection.run_sync(lambda c: inspect(c).get_table_names())
    return set(names)


async def test_the_migrations_make_exactly_the_tables_the_store_uses(store_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    database = Database(store_url)
    try:
        await migrate.upgrade(database)

        def differences(connection: Any) -> list[Any]:
            context = MigrationContext.configure(
                connection, opts={"version_table": migrate.VERSION_TABLE}
            )
            return list(compare_metadata(context, metadata))

        async with database.read() as connection:
            found = await connection.run_sync(differences)
        assert found == []
    finally:
        await database.aclose()


async def test_without_upgrade_a_schema_behind_stops_the_start(store_url: str) -> None:
    with pytest.raises(ConfigError, match="run `aichatflow db upgrade`"):
        await ConversationStore.open(store_url, upgrade=False)
    store = await ConversationStore.open(store_url)
    await store.aclose()
    store = await ConversationStore.open(store_url, upgrade=False)
    await store.aclose()


async def test_concurrent_upgrades_on_postgresql_take_turns(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Eight instances starting at once against one new database: the advisory lock lets one
    migrate; the others find it done (without it: "relation already exists")."""
    from tests.store.conftest import fresh_url

    url = await fresh_url(request, "postgres", tmp_path)
    databases = [Database(url) for _ in range(8)]
    try:
        revisions = await asyncio.gather(*(migrate.upgrade(d) for d in databases))
        assert revisions == [migrate.head()] * 8
    finally:
        await asyncio.gather(*(d.aclose() for d in databases))


def test_concurrent_upgrades_of_one_sqlite_file_from_several_processes(tmp_path: Path) -> None:
    """``serve --workers`` on a new SQLite file: every worker upgrades at once."""
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src")}
    command = [sys.executable, "-m", "aichatflow", "db", "upgrade", "--url", url]
    runs = [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(4)
    ]
    results = [(run.wait(60), *run.communicate()) for run in runs]
    for status, out, err in results:
        assert (status, err) == (0, b""), err.decode()
        assert out.decode().strip().endswith(f"schema at revision {migrate.head()}")


def test_db_current_and_upgrade_commands(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    runner = CliRunner()
    before = runner.invoke(main, ["db", "current", "--url", url])
    assert before.exit_code == 0, before.output
    assert before.output == f"none (behind {migrate.head()}: run aichatflow db upgrade)\n"
    upgraded = runner.invoke(main, ["db", "upgrade", "--url", url])
    assert upgraded.exit_code == 0, upgraded.output
    assert upgraded.output == (
        f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}: schema at revision {migrate.head()}\n"
    )
    after = runner.invoke(main, ["db", "current", "--url", url])
    assert after.output == f"{migrate.head()} (current)\n"
    config = tmp_path / "aichatflow.toml"
    config.write_text(f'[store]\nurl = "{url}"\n')
    assert runner.invoke(main, ["db", "current", "--config", str(config)]).output == after.output
    config.write_text('[store]\nurl = "off"\n')
    off = runner.invoke(main, ["db", "upgrade", "--config", str(config)])
    assert off.exit_code == 1
    assert "store.url is 'off'" in off.output
