from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from typing import Any

import pytest
from hypothesis import settings as hypothesis_settings

from aichatflow.config import Settings
from aichatflow.server import create_app
from tests.support import cpython_ast_guard
from tests.support.nginx import Nginx, nginx_for, require_nginx
from tests.support.postgres_server import postgres_process
from tests.support.redis_server import redis_process
from tests.support.server import LogCapture, RunningServer, serve
from tests.support.upstream import FakeUpstream, fake_upstream

# CPython 3.11.7 (our venv) has gh-106905: a garbage collection inside ``ast.parse`` whose
# finalizers warn (an asyncio transport some test left open) makes pytest's unraisable hook
# parse again, and the outer parse then fails an unrelated test with "SystemError: AST
# constructor recursion depth mismatch" (seen rewriting anyio's lazily imported
# ``_core._fileio`` in a server thread). The guard keeps collections out of ``ast.parse`` on
# affected versions, so no leak, present or future, can fail a test that way; a no-op on fixed
# versions.
cpython_ast_guard.install()

HYPOTHESIS_PROFILE = "ci" if os.environ.get("CI") else "dev"
"""The Hypothesis profile of this run: ``ci`` when the ``CI`` environment variable is set
(``.ci/run`` sets it), else ``dev``. ``dev`` runs 25 examples a property, so a local run stays
quick; ``ci`` runs the full count (100, or a test's own larger ``max_examples``, as in
``tests/sse/test_properties.py``), derandomized so that a red CI run replays the same examples,
with no example database and the failing example's blob printed. Neither has a deadline: times
vary too much on a shared 2-core machine. ``CI=1`` runs the full counts locally."""
hypothesis_settings.register_profile(
    "ci", derandomize=True, deadline=None, database=None, print_blob=True, max_examples=100
)
hypothesis_settings.register_profile("dev", deadline=None, max_examples=25)
hypothesis_settings.load_profile(HYPOTHESIS_PROFILE)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A ``redis-server`` on a free loopback port for the session (tests keep apart by key
    namespace); skipped, or failed under ``AICHATFLOW_REQUIRE_PEERS=1``, when not installed.
    Started only by the first test that asks for it."""
    with redis_process(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture
def server_logs() -> Iterator[LogCapture]:
    """Everything logged by aichatflow and uvicorn during the test, from every thread."""
    capture = LogCapture()
    loggers = [logging.getLogger(n) for n in ("aichatflow", "uvicorn", "uvicorn.error")]
    old = [(lg, lg.level) for lg in loggers]
    for lg in loggers:
        lg.addHandler(capture)
        lg.setLevel(logging.DEBUG)
    try:
        yield capture
    finally:
        for lg, level in old:
            lg.removeHandler(capture)
            lg.setLevel(level)


def make_settings(**data: Any) -> Settings:
    """Settings for tests: no config file, no environment, and no auto-detected providers
    (keys or a local model on this machine would change what a test server offers), the
    direct path (``[journal] backend = "off"``) unless a test asks for a journal, and no
    stored conversations unless a test passes its own ``store`` (the default SQLite file would
    be written in the working directory: the repository)."""
    data.setdefault("journal", {"backend": "off"})
    data.setdefault("store", {"url": "off"})
    return Settings.load(env={}, overrides={"auto_detect": False, **data})


@pytest.fixture
def start_server(server_logs: LogCapture) -> Iterator[Any]:
    """``start_server(settings_dict)`` → RunningServer; stopped at the end of the test."""
    started: list[Any] = []

    def start(**data: Any) -> RunningServer:
        app = create_app(make_settings(**data))
        cm = serve(app)
        running = cm.__enter__()
        started.append(cm)
        return running

    yield start
    for cm in reversed(started):
        cm.__exit__(None, None, None)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL on a free loopback port for the session, as the URL of its
    ``postgres`` database (tests make their own: ``postgres_server.create_database``);
    skipped, or failed under ``AICHATFLOW_REQUIRE_PEERS=1``, when not installed."""
    with postgres_process() as url:
        yield url


@pytest.fixture
def fake() -> Iterator[FakeUpstream]:
    """A fake OpenAI-compatible upstream (real sockets, real bytes), stopped after the test;
    a test fails if the fake itself hit an error (a script it could not play)."""
    with fake_upstream() as upstream:
        yield upstream
    assert not upstream.errors, upstream.errors


@pytest.fixture
def nginx() -> Iterator[Callable[..., Nginx]]:
    """``nginx([port, ...], read_timeout=60.0)`` → a real nginx on a free loopback port,
    round robin over those ``127.0.0.1`` ports, nginx's default buffering on
    (``tests/support/nginx.py``); stopped, no process left, at the end of the test. Skipped, or
    failed under ``AICHATFLOW_REQUIRE_PEERS=1``, when nginx is not installed."""
    require_nginx()
    with ExitStack() as running:

        def start(ports: Sequence[int], *, read_timeout: float = 60.0) -> Nginx:
            return running.enter_context(nginx_for(ports, read_timeout=read_timeout))

        yield start
