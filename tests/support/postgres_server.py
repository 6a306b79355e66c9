"""A real PostgreSQL for the tests: a throwaway cluster on a free port of 127.0.0.1.

Started once per session by the ``postgres_url`` fixture (``tests/conftest.py``): ``initdb``
into a fresh temporary directory (trust authentication, no fsync: nothing here must survive a
crash), then ``postgres`` in the foreground with its socket in that directory, stopped at
teardown (fast shutdown, then the directory removed). ``initdb`` refuses to run as root, and CI
runs as root: then both run as the ``postgres`` user (``runuser``), which must be able to
enter the directory, so it is made with ``tempfile.mkdtemp`` (not under pytest's 0700 base)
and handed to that user.

Without the server binaries (``scripts/peers/postgres.sh`` installs them) or the driver
(``pip install 'aichatflow[postgres]'``) the tests that need it skip, unless
``AICHATFLOW_REQUIRE_PEERS=1`` (CI), where a silent skip would hide that they never ran.
Each test makes its own database (``create_database``), so tests never see each other's rows.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support.processes import free_port, spawn, stop

INSTALLER = "scripts/peers/postgres.sh"
STARTUP_TIMEOUT = 30.0


def _bindir() -> Path | None:
    candidates = []
    if shutil.which("pg_config"):
        found = subprocess.run(
            ["pg_config", "--bindir"], capture_output=True, text=True, check=False
        ).stdout.strip()
        candidates.append(found)
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for candidate in candidates:
        if candidate and (Path(candidate) / "initdb").is_file():
            return Path(candidate)
    return None


def require_postgres() -> Path:
    """The directory of PostgreSQL's server binaries, once the driver is importable too; else
    skip (or fail under ``AICHATFLOW_REQUIRE_PEERS=1``)."""
    bindir = _bindir()
    why = None
    if bindir is None:
        why = f"the PostgreSQL server is not installed: run {INSTALLER}"
    else:
        try:
            import asyncpg  # noqa: F401
        except ImportError:
            why = "the PostgreSQL driver is not installed: pip install 'aichatflow[postgres]'"
    if why is None and bindir is not None:
        return bindir
    if os.environ.get("AICHATFLOW_REQUIRE_PEERS") == "1":
        pytest.fail(f"{why} (AICHATFLOW_REQUIRE_PEERS=1 forbids skipping)")
    pytest.skip(str(why))


def _ready(bindir: Path, port: int) -> bool:
    ready = subprocess.run(
        [str(bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(port), "-t", "1", "-q"],
        check=False,
    )
    return ready.returncode == 0


@contextmanager
def postgres_process() -> Iterator[str]:
    """A PostgreSQL cluster on 127.0.0.1, yielding the URL of its ``postgres`` database (user
    ``postgres``, no password); stopped and removed on exit."""
    bindir = require_postgres()
    run = Path(tempfile.mkdtemp(prefix="aichatflow-pg-"))
    as_user: list[str] = []
    if os.getuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(run, user.pw_uid, user.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    data = run / "data"
    proc = None
    try:
        init = subprocess.run(
            [
                *(*as_user, str(bindir / "initdb"), "-D", str(data)),
                *("-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if init.returncode != 0:
            pytest.fail(f"initdb failed ({init.returncode}):\n{init.stdout}\n{init.stderr}")
        port = free_port()
        settings = [
            *("-c", "listen_addresses=127.0.0.1", "-p", str(port), "-k", str(run)),
            *("-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"),
            *("-c", "max_connections=200"),
        ]
        log_path = run / "postgres.log"
        proc = spawn(
            [*as_user, str(bindir / "postgres"), "-D", str(data), *settings],
            cwd=run,
            env=None,
            log_path=log_path,
        )
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not _ready(bindir, port):
            if proc.poll() is not None or time.monotonic() > deadline:
                text = log_path.read_text(errors="replace")[-2000:]
                pytest.fail(f"postgres did not start (exit {proc.poll()}):\n{text}")
            time.sleep(0.05)
        yield f"postgresql+asyncpg://postgres@127.0.0.1:{port}/postgres"
    finally:
        if proc is not None:
            # SIGINT is PostgreSQL's fast shutdown (SIGTERM would wait for every client)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(10)
            stop(proc, 5.0)
        shutil.rmtree(run, ignore_errors=True)


async def create_database(server_url: str, name: str) -> str:
    """A new, empty database ``name`` on the server of ``server_url``; its URL."""
    import asyncpg

    base = server_url.replace("postgresql+asyncpg://", "postgresql://")
    connection = await asyncpg.connect(base)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return server_url.rsplit("/", 1)[0] + "/" + name


__all__ = ["create_database", "postgres_process", "require_postgres"]
