from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.upstream import FakeUpstream, fake_upstream


@pytest.fixture
def fake_upstream_server() -> Iterator[FakeUpstream]:
    """The fake upstream under another name, for tests that also use ``start_server``."""
    with fake_upstream() as upstream:
        yield upstream
