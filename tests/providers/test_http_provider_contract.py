"""What the provider template refuses when a subclass is defined, and the error-shape contract."""

from __future__ import annotations

from typing import Any

import pytest

from aichatflow.dialects.error_shape import ErrorShape
from aichatflow.providers._http_provider import HttpProvider
from aichatflow.providers.openai_compat.provider import OpenAICompatProvider


def test_reading_whole_answers_without_saying_how_is_refused_at_definition() -> None:
    with pytest.raises(TypeError, match="unstreamed_events"):

        class Whole(HttpProvider[bytes]):
            unstreamed = "a completion"


def test_a_provider_that_reads_whole_answers_defines_how() -> None:
    assert OpenAICompatProvider.unstreamed is not None
    assert "unstreamed_events" in vars(OpenAICompatProvider)


def test_an_error_shape_without_fields_cannot_be_made() -> None:
    class Shapeless(ErrorShape):
        pass

    with pytest.raises(TypeError):
        Shapeless()  # type: ignore[abstract]

    class Plain(ErrorShape):
        def fields(self, error: Any, request_id: str) -> dict[str, Any]:
            return {"code": error.code}

    assert Plain() is not None
