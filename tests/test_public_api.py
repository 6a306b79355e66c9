"""Everything ``aichatflow.__all__`` names is importable from the package."""

from __future__ import annotations

import aichatflow


def test_public_api_exports() -> None:
    for name in aichatflow.__all__:
        assert hasattr(aichatflow, name), name
