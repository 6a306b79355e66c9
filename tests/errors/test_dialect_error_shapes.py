"""Each dialect renders every error code, before the headers and after, in its one shape.

Bytes only (no server): the same ``StreamError`` through ``error_response`` (status, headers,
JSON body) and through the dialect's terminal frame. The wire, on a real server, is
``test_errors_on_the_wire.py``.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from aichatflow.dialects import (
    NATIVE_ERRORS,
    OPENAI_ERRORS,
    NativeDialect,
    OpenAICompletionDialect,
    OpenAIStreamDialect,
    RawSSEDialect,
)
from aichatflow.dialects.base import Dialect
from aichatflow.error_codes import ERRORS
from aichatflow.events import StreamError
from aichatflow.sse import SSEDecoder

CODES = list(ERRORS)
SID = "sid-0123456789ab"


def _error(code: str, retry_after: float | None = None) -> StreamError:
    return StreamError(
        code=code,
        message=f"what went wrong: {code}",
        retryable=ERRORS[code].retryable,
        retry_after=retry_after,
    )


def native_fields(error: StreamError) -> dict[str, Any]:
    return {
        "code": error.code,
        "message": error.message,
        "retryable": error.retryable,
        "retry_after": error.retry_after,
        "request_id": SID,
    }


def openai_fields(error: StreamError) -> dict[str, Any]:
    return {"message": error.message, "type": error.code, "code": error.code, "param": None}


DIALECTS: dict[str, tuple[Any, Any]] = {
    # name: (make a dialect, the error object it must write)
    "native": (lambda: NativeDialect(SID, "m"), native_fields),
    "raw": (lambda: RawSSEDialect(SID), native_fields),
    "openai-stream": (lambda: OpenAIStreamDialect(SID, "m"), openai_fields),
    "openai-body": (lambda: OpenAICompletionDialect(SID, "m"), openai_fields),
}


@pytest.mark.parametrize("retry_after", [None, 2.2], ids=["no-wait", "wait"])
@pytest.mark.parametrize("code", CODES)
@pytest.mark.parametrize("name", sorted(DIALECTS))
def test_before_the_headers_status_headers_and_body(
    name: str, code: str, retry_after: float | None
) -> None:
    make, fields = DIALECTS[name]
    dialect: Dialect[Any] = make()
    error = _error(code, retry_after)
    status, headers, body = dialect.error_response(error)
    assert status == ERRORS[code].status
    got = dict(headers)
    assert len(got) == len(headers), headers  # no header twice
    assert got[b"content-type"] == b"application/json"
    assert got[b"x-request-id"] == SID.encode()
    assert got[b"content-length"] == b"%d" % len(body)
    assert got.get(b"retry-after") == (None if retry_after is None else b"3")
    assert got.get(b"x-should-retry") == (b"false" if name.startswith("openai") else None)
    assert orjson.loads(body) == {"error": fields(error)}
    # The engine passes the status it looked up; an explicit one wins (a foreign HTTPException).
    assert dialect.error_response(error, 418)[0] == 418


@pytest.mark.parametrize("code", CODES)
@pytest.mark.parametrize("name", sorted(DIALECTS))
def test_after_the_headers_the_terminal_frame_holds_the_same_object(name: str, code: str) -> None:
    make, fields = DIALECTS[name]
    dialect: Dialect[Any] = make()
    error = _error(code, 1.5)
    wire = dialect.open() + dialect.error(error)
    assert dialect.terminal
    if name == "openai-body":  # buffered: the whole response is the error response
        assert dialect.status == ERRORS[code].status
        assert dict(dialect.headers())[b"x-should-retry"] == b"false"
        assert orjson.loads(wire) == {"error": fields(error)}
        return
    events = SSEDecoder().feed(wire)
    last = events[-1]
    if name.startswith("openai"):
        assert orjson.loads(last.data) == {"error": fields(error)}
        assert b"[DONE]" not in wire
    else:
        assert last.event == "error"
        assert orjson.loads(last.data) == fields(error)
    assert dialect.render([]) == b""  # nothing after a terminal frame


def test_one_message_whichever_side_of_the_headers_and_whichever_shape() -> None:
    """The OpenAI shape used to prefix its message with the code ("upstream_timeout: ...")
    after the headers and in engine errors, but not in routing's errors."""
    error = _error("upstream_timeout")
    messages = set()
    for make, _ in DIALECTS.values():
        messages.add(orjson.loads(make().error_response(error)[2])["error"]["message"])
    for shape in (NATIVE_ERRORS, OPENAI_ERRORS):
        messages.add(orjson.loads(shape.body(error, SID))["error"]["message"])
    assert messages == {error.message}


def test_details_go_inside_the_error_object() -> None:
    details = [{"loc": ["messages"], "msg": "too short"}]
    for shape in (NATIVE_ERRORS, OPENAI_ERRORS):
        _, _, body = shape.response(_error("validation_failed"), SID, details=details)
        assert orjson.loads(body)["error"]["details"] == details
