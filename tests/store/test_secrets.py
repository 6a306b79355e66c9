"""The password of a PostgreSQL URL never shows: not in the settings' repr, not in errors, not
in the server's logs or output."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from aichatflow.config import Settings
from aichatflow.errors import ConfigError
from aichatflow.store.conversations import ConversationStore
from tests.support.processes import free_port
from tests.support.server import LogCapture, RunningServer

PASSWORD = "CANARY-pw-7f3a9c2e1b"
UNREACHABLE = f"postgresql+asyncpg://app:{PASSWORD}@127.0.0.1:{{port}}/app"


def test_the_settings_show_the_url_without_its_password() -> None:
    url = UNREACHABLE.format(port=5432)
    for settings in (
        Settings.load(env={"AICHATFLOW_STORE_URL": url}),
        Settings.load(env={}, overrides={"store": {"url": url}}),
    ):
        assert settings.store.url == url  # the value itself is kept, only never shown
        for shown in (repr(settings), str(settings), repr(settings.store)):
            assert PASSWORD not in shown
            assert "postgresql+asyncpg://app:[REDACTED]@127.0.0.1:5432/app" in shown


@pytest.mark.parametrize(
    "url",
    [f"mysql://app:{PASSWORD}@db/app", f"postgresql+psycopg2://app:{PASSWORD}@db/app", PASSWORD],
)
def test_a_wrong_url_is_refused_without_quoting_it(url: str) -> None:
    with pytest.raises(ConfigError) as refused:
        Settings.load(env={"AICHATFLOW_STORE_URL": url})
    assert "store.url" in str(refused.value)
    assert PASSWORD not in str(refused.value)


def test_the_url_forms_accepted() -> None:
    for url in ("off", "sqlite:///x.db", "sqlite+aiosqlite:////abs/x.db", "postgres://h/d"):
        assert Settings.load(env={"AICHATFLOW_STORE_URL": url}).store.url == url
    assert Settings.load(env={}).store.url == "sqlite+aiosqlite:///aichatflow.db"
    assert Settings.load(env={"AICHATFLOW_STORE_POOL_SIZE": "3"}).store.pool_size == 3


async def test_a_database_that_cannot_be_reached_is_named_without_its_password() -> None:
    with pytest.raises(ConfigError) as refused:
        await ConversationStore.open(UNREACHABLE.format(port=free_port()))
    message = str(refused.value)
    assert PASSWORD not in message
    assert "app:[REDACTED]@127.0.0.1" in message
    assert "cannot open" in message


async def test_a_database_error_is_named_without_its_password(postgres_url: str) -> None:
    url = postgres_url.replace("postgres@", f"postgres:{PASSWORD}@").rsplit("/", 1)[0] + "/nope"
    with pytest.raises(ConfigError) as refused:
        await ConversationStore.open(url)
    assert PASSWORD not in str(refused.value)
    assert 'database "nope" does not exist' in str(refused.value)


def test_serve_with_an_unreachable_database_says_so_in_one_line(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": str(Path(__file__).parents[2] / "src"),
        "AICHATFLOW_STORE_URL": UNREACHABLE.format(port=free_port()),
        "AICHATFLOW_AUTO_DETECT": "false",
    }
    run = subprocess.run(
        [sys.executable, "-m", "aichatflow", "serve", "--port", str(free_port())],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 1
    output = run.stdout + run.stderr
    assert PASSWORD not in output
    assert "Traceback" not in output
    assert run.stderr.startswith("error: store postgresql+asyncpg://app:[REDACTED]@127.0.0.1:")
    assert "cannot open" in run.stderr


async def test_a_server_on_postgresql_never_logs_the_password(
    start_server: Callable[..., RunningServer], server_logs: LogCapture, postgres_url: str
) -> None:
    from tests.support.postgres_server import create_database

    url = await create_database(postgres_url, "secrets_logged")
    with_password = url.replace("postgres@", f"postgres:{PASSWORD}@")
    loggers = [logging.getLogger(name) for name in ("sqlalchemy", "alembic")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:  # SQLAlchemy's own logging on: every statement and pool event
        logger.addHandler(server_logs)
        logger.setLevel(logging.DEBUG)
    try:
        server = start_server(store={"url": with_password})
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
            assert (await http.get("/api/conversations")).status_code == 200
            assert (await http.get("/api/conversations/doesNotExist1234")).status_code == 404
            assert (await http.get("/api/conversations?before=nope")).status_code == 400
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.removeHandler(server_logs)
            logger.setLevel(level)
    logged = server_logs.text()
    assert "aichatflow_conversations" in logged  # SQLAlchemy's statements were captured
    assert "Running upgrade" in logged  # and alembic's
    assert PASSWORD not in logged
