"""The ``ai`` major a Vercel AI SDK test runs as: each test that asks for ``sdk_major`` runs
once per major aichatflow speaks (``[ui] sdk_major``), its server set to that major and read
by that major's own SDK (``tests/support/node_ai.py``). A test about one major only overrides
it with ``@pytest.mark.parametrize("sdk_major", [5])``.
"""

from __future__ import annotations

import pytest

from aichatflow.dialects.vercel_ui import SdkMajor
from tests.support.node_ai import SDK_MAJORS


@pytest.fixture(params=SDK_MAJORS, ids=lambda major: f"ai{major}")
def sdk_major(request: pytest.FixtureRequest) -> SdkMajor:
    major: SdkMajor = request.param
    return major
