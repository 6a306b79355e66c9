"""Fixtures shared by the production layer's tests: one real Redis for the whole session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.redis_server import redis_process


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A ``redis-server`` on a free loopback port for the session (tests keep apart by key
    namespace); skipped, or failed under ``AICHATFLOW_REQUIRE_PEERS=1``, when not installed."""
    with redis_process(tmp_path_factory.mktemp("redis")) as url:
        yield url
