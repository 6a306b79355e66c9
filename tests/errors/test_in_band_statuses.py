"""An HTTP status written inside an in-band error means what the same HTTP status means.

Before, the OpenAI-compatible chunk parser and Gemini's each kept a partial copy of the
upstream-status table: an in-band ``"code": 402`` (no credit) was a retryable
``upstream_error`` where an HTTP 402 is ``upstream_auth``, never retried; 408, 409 and 529
were missing too. Both now read ``errors.upstream_status_code``, the one table.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from aichatflow.errors import ProviderError, error_from_status, upstream_status_code
from aichatflow.providers.gemini._events import gemini_error
from aichatflow.providers.openai_compat._chunks import in_band_error

STATUSES = [s for s in range(400, 600) if upstream_status_code(s) is not None]
PARSERS: dict[str, Callable[[dict[str, Any]], Exception]] = {
    "openai-compatible": lambda payload: in_band_error(payload, "p", ()),
    "gemini": lambda payload: gemini_error(payload, "p", ()),
}


@pytest.mark.parametrize("written", [int, str], ids=["number", "string"])
@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("parser", sorted(PARSERS))
def test_a_known_status_in_band_maps_like_the_http_status(
    parser: str, status: int, written: type
) -> None:
    error = PARSERS[parser]({"error": {"message": "m", "code": written(status)}})
    assert isinstance(error, ProviderError)
    http = error_from_status(status, b"", {}, provider="p")
    assert (error.code, error.retryable) == (http.code, http.retryable)


def test_the_table_covers_the_statuses_that_matter() -> None:
    assert {s: upstream_status_code(s) for s in (402, 408, 529)} == {
        402: "upstream_auth",
        408: "upstream_timeout",
        529: "upstream_overloaded",
    }
