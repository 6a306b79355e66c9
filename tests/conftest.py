from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import settings as hypothesis_settings

from aichatflow.config import Settings
from aichatflow.server import create_app
from tests.support.server import LogCapture, RunningServer, serve
from tests.support.upstream import FakeUpstream, fake_upstream

hypothesis_settings.register_profile("ci", derandomize=True, deadline=None)
hypothesis_settings.register_profile("dev", deadline=None)
hypothesis_settings.load_profile("ci" if os.environ.get("CI") else "dev")


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
    (keys or a local model on this machine would change what a test server offers)."""
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


@pytest.fixture
def fake() -> Iterator[FakeUpstream]:
    """A fake OpenAI-compatible upstream (real sockets, real bytes), stopped after the test;
    a test fails if the fake itself hit an error (a script it could not play)."""
    with fake_upstream() as upstream:
        yield upstream
    assert not upstream.errors, upstream.errors
