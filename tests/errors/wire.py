"""Reading an error off the wire in either shape, for the tests of this package."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from aichatflow.error_codes import ERRORS
from aichatflow.sse import ServerSentEvent, SSEDecoder

NATIVE_KEYS = ["code", "message", "retryable", "retry_after", "request_id"]
OPENAI_KEYS = ["message", "type", "code", "param"]


@dataclass
class Answer:
    """One response: its status and headers, and its error, wherever it was."""

    status: int
    headers: httpx.Headers
    body: bytes
    events: list[ServerSentEvent] = field(default_factory=list)

    @property
    def json_error(self) -> dict[str, Any]:
        """The error object of a JSON error body (``{"error": {...}}``)."""
        assert self.headers["content-type"] == "application/json", self.headers
        document = orjson.loads(self.body)
        assert list(document) == ["error"], document
        error: dict[str, Any] = document["error"]
        return error

    @property
    def frame_error(self) -> dict[str, Any]:
        """The error object of the terminal in-band frame (native or OpenAI)."""
        assert self.status == 200
        last = self.events[-1]
        data = orjson.loads(last.data)
        if last.event == "error":  # native
            error: dict[str, Any] = data
            return error
        assert last.event == "message" and list(data) == ["error"], last
        assert not any(e.data == "[DONE]" for e in self.events)
        error = data["error"]
        return error


def read(response: httpx.Response) -> Answer:
    body = response.read()
    events = []
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        events = SSEDecoder().feed(body)
    return Answer(response.status_code, response.headers, body, events)


def assert_native(error: dict[str, Any], code: str, *, request_id: str) -> None:
    assert list(error)[: len(NATIVE_KEYS)] == NATIVE_KEYS, error
    assert error["code"] == code
    assert error["retryable"] is ERRORS[code].retryable
    assert error["request_id"] == request_id


def assert_openai(error: dict[str, Any], code: str) -> None:
    assert list(error)[: len(OPENAI_KEYS)] == OPENAI_KEYS, error
    assert (error["type"], error["code"], error["param"]) == (code, code, None)


def assert_error_response(
    answer: Answer, code: str, *, openai: bool, retry_after: str | None = None
) -> dict[str, Any]:
    """A whole JSON error response for ``code``, in the OpenAI shape or the native one."""
    assert answer.status == ERRORS[code].status, (answer.status, answer.body)
    assert answer.headers.get("retry-after") == retry_after
    request_id = answer.headers["x-request-id"]
    error = answer.json_error
    if openai:
        assert answer.headers["x-should-retry"] == "false"
        assert_openai(error, code)
    else:
        assert "x-should-retry" not in answer.headers
        assert_native(error, code, request_id=request_id)
    return error


__all__ = [
    "Answer",
    "assert_error_response",
    "assert_native",
    "assert_openai",
    "read",
]
