"""Fixtures for the upstream-fault suite: a fake upstream and a server wired to it."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.support.server import LogCapture, RunningServer
from tests.support.upstream import FakeUpstream

from ._client import NATIVE, OPENAI

ServeFn = Callable[..., RunningServer]


@pytest.fixture
def serve(start_server: Callable[..., RunningServer], fake: FakeUpstream) -> ServeFn:
    """``serve(stream={...}, **provider_options)``: a server whose model ``up/*`` is the fake.

    Defaults: no retries (each test that retries says so) and timers long enough never to fire
    unless the test is about them.
    """

    def run(*, stream: dict[str, Any] | None = None, **provider: Any) -> RunningServer:
        options: dict[str, Any] = {
            "kind": "openai-compatible",
            "base_url": f"{fake.url}/v1",
            "max_retries": 0,
            "read_timeout": 10,
        }
        options.update(provider)
        timers = {"first_token": 10.0, "progress": 10.0, "heartbeat": 15.0, **(stream or {})}
        return start_server(providers={"up": options}, stream=timers)

    return run


@pytest.fixture(autouse=True)
def no_loop_errors() -> Iterator[None]:
    """Fail on ERROR records of the ``asyncio`` logger (e.g. "Task exception was never
    retrieved" from the server's loop), which ``server_logs`` does not capture."""
    capture = LogCapture()
    logger = logging.getLogger("asyncio")
    logger.addHandler(capture)
    try:
        yield
    finally:
        logger.removeHandler(capture)
    errors = [r for r in capture.records if r.levelno >= logging.ERROR]
    assert not errors, capture.text()


@pytest.fixture(params=[NATIVE, OPENAI], ids=["native", "v1"])
def path(request: pytest.FixtureRequest) -> str:
    """Both streaming endpoints: ``/api/chat`` and ``/v1/chat/completions`` (stream: true)."""
    return str(request.param)
