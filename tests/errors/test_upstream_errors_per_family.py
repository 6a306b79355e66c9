"""An upstream's failure reaches each endpoint family in its own shape, with one message.

A fake upstream (real sockets, real bytes) fails in each way a provider maps to a code; the
same failure is asked of ``/api/chat`` (the native protocol: headers at once, so an ``error``
frame), ``/v1/chat/completions`` streaming and not (OpenAI's shape: a real status while the
upstream has not answered, an error chunk once the stream has started, which for
``stream: true`` is at the upstream's first event; ``stream: false`` writes nothing until the
end, so its error is always a status). ``Retry-After`` of a 429 is passed on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest

from aichatflow.error_codes import ERRORS
from tests.support.client import user
from tests.support.server import RunningServer
from tests.support.upstream import (
    Action,
    Chunks,
    FakeUpstream,
    Script,
    data,
    event,
    fin,
    headers,
    respond,
    stall,
)

from .wire import Answer, assert_error_response, assert_native, assert_openai, read

NATIVE, OPENAI = "/api/chat", "/v1/chat/completions"
C = Chunks()


def _refusal(status: int, **kw: str) -> list[Action]:
    return respond(status, {"error": {"message": f"refused with {status}"}}, **kw)


BEFORE_CONTENT: dict[str, tuple[list[Action], str, str | None]] = {
    # name: (what the upstream does, the code, Retry-After passed on)
    "401": (_refusal(401), "upstream_auth", None),
    "402": (_refusal(402), "upstream_auth", None),
    "400": (_refusal(400), "bad_request", None),
    "404": (_refusal(404), "bad_request", None),
    "408": (_refusal(408), "upstream_timeout", None),
    "409": (_refusal(409), "upstream_error", None),
    "429": (_refusal(429, retry_after="3"), "upstream_rate_limited", "3"),
    "500": (_refusal(500), "upstream_error", None),
    "503": (_refusal(503), "upstream_overloaded", None),
    "504": (_refusal(504), "upstream_timeout", None),
    "529": (_refusal(529), "upstream_overloaded", None),
}

ANSWERED: dict[str, tuple[list[Action], str]] = {
    # The upstream answered 200 (a stream started), then failed before any content.
    "not JSON": ([headers(200), data("{not json"), stall(5)], "upstream_bad_response"),
    "in-band": (
        [headers(200), event({"error": {"message": "slow down", "type": "rate_limit_error"}})],
        "upstream_rate_limited",
    ),
    "dropped": ([headers(200), event(C.role()), fin()], "upstream_disconnected"),
}

AFTER_CONTENT: dict[str, tuple[list[Action], str]] = {
    "in-band overloaded": (
        [event({"error": {"message": "Overloaded", "type": "overloaded_error"}}), stall(5)],
        "upstream_overloaded",
    ),
    "in-band with a status": (
        [event({"object": "error", "message": "too long", "code": 400}), stall(5)],
        "bad_request",
    ),
    "not JSON": ([data("{not json"), stall(5)], "upstream_bad_response"),
    "dropped": ([fin()], "upstream_disconnected"),
}


@pytest.fixture
def server(start_server: Callable[..., RunningServer], fake: FakeUpstream) -> RunningServer:
    provider = {"kind": "openai-compatible", "base_url": f"{fake.url}/v1", "max_retries": 0}
    return start_server(providers={"up": provider})


def _post(server: RunningServer, path: str, **extra: Any) -> Answer:
    body = orjson.dumps({"model": "up/m", "messages": user(), **extra})
    headers = {"content-type": "application/json"}
    with (
        httpx.Client(timeout=15) as client,
        client.stream("POST", server.url + path, content=body, headers=headers) as response,
    ):
        return read(response)


@pytest.mark.parametrize("name", list(BEFORE_CONTENT))
def test_before_content(server: RunningServer, fake: FakeUpstream, name: str) -> None:
    actions, code, retry_after = BEFORE_CONTENT[name]
    fake.queue(*(Script(actions) for _ in range(3)))
    streamed = _post(server, OPENAI, stream=True)
    whole = _post(server, OPENAI)
    native = _post(server, NATIVE)
    v1_errors = [
        assert_error_response(got, code, openai=True, retry_after=retry_after)
        for got in (streamed, whole)
    ]
    assert native.status == 200 and [e.event for e in native.events] == ["start", "error"]
    native_error = native.frame_error
    assert_native(native_error, code, request_id=native.headers["x-request-id"])
    assert native_error["retry_after"] == (None if retry_after is None else float(retry_after))
    assert {e["message"] for e in v1_errors} == {native_error["message"]}
    assert native_error["message"].startswith("up: ")
    assert fake.attempts == 3  # aichatflow did not retry (max_retries 0), nor did anyone else


@pytest.mark.parametrize("name", list(ANSWERED))
def test_after_the_upstream_answered(server: RunningServer, fake: FakeUpstream, name: str) -> None:
    actions, code = ANSWERED[name]
    fake.queue(*(Script(actions) for _ in range(3)))
    streamed = _post(server, OPENAI, stream=True)
    whole = _post(server, OPENAI)
    native = _post(server, NATIVE)
    v1_error = streamed.frame_error
    assert_openai(v1_error, code)
    whole_error = assert_error_response(whole, code, openai=True)
    native_error = native.frame_error
    assert_native(native_error, code, request_id=native.headers["x-request-id"])
    assert native_error["message"] == v1_error["message"] == whole_error["message"]


@pytest.mark.parametrize("name", list(AFTER_CONTENT))
def test_after_content(server: RunningServer, fake: FakeUpstream, name: str) -> None:
    actions, code = AFTER_CONTENT[name]
    start = [headers(200), event(C.role()), event(C.content("partial"))]
    fake.queue(*(Script([*start, *actions]) for _ in range(3)))
    streamed = _post(server, OPENAI, stream=True)
    whole = _post(server, OPENAI)
    native = _post(server, NATIVE)
    assert [e.event for e in native.events] == ["start", "text", "error"]
    native_error = native.frame_error
    assert_native(native_error, code, request_id=native.headers["x-request-id"])
    v1_error = streamed.frame_error
    assert_openai(v1_error, code)
    assert '"content":"partial"' in streamed.events[-2].data
    # Not streaming, nothing was written yet: the same error is a whole response.
    whole_error = assert_error_response(whole, code, openai=True)
    assert native_error["message"] == v1_error["message"] == whole_error["message"]
    assert ERRORS[code].retryable is native_error["retryable"]
