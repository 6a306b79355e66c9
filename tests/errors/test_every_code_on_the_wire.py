"""Every error code, in every dialect, before the stream and after it, on a real server.

One server (``create_app`` on uvicorn) with a few routes added for the test: a plain route that
raises the code's error (answered by the app's exception handler, in the shape of its path),
and streams, one per dialect, whose source raises it before or after its first content (the
stream engine answers it with the dialect's ``error_response`` or its terminal frame). For
each: the code's status from the one table, the dialect's JSON shape, ``retryable``, and
``Retry-After`` when the error says how long to wait.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from aichatflow.dialects import (
    NativeDialect,
    OpenAICompletionDialect,
    OpenAIStreamDialect,
    RawSSEDialect,
)
from aichatflow.dialects.base import Dialect
from aichatflow.error_codes import ERRORS
from aichatflow.errors import ProviderError
from aichatflow.events import ChatEvent, TextDelta
from aichatflow.server import create_app
from aichatflow.stream import EventStreamResponse, StreamLimits
from tests.conftest import make_settings
from tests.support.server import RunningServer, serve

from .wire import assert_error_response, assert_native, assert_openai, read

CODES = list(ERRORS)
WAIT = 2.2
"""``retry_after`` of a retryable error here: ``Retry-After: 3`` (whole seconds, rounded up)."""

RAISED: dict[str, type[ProviderError]] = {
    code: type(f"Raised_{code}", (ProviderError,), {"code": code}) for code in CODES
}
"""An exception per code (a ``ProviderError``, the one kind that carries ``retry_after``)."""


def _raise(code: str) -> ProviderError:
    wait = WAIT if ERRORS[code].retryable else None
    return RAISED[code](f"injected {code}", provider="t", retry_after=wait)


def _retry_after(code: str) -> str | None:
    return "3" if ERRORS[code].retryable else None


async def _raising_route(request: Request) -> Response:
    raise _raise(request.path_params["code"])


def _source(code: str, after_content: bool, raw: bool) -> AsyncIterator[ChatEvent | bytes]:
    async def events() -> AsyncIterator[ChatEvent | bytes]:
        if after_content:
            yield b"event: text\ndata: partial\n\n" if raw else TextDelta("partial ")
        raise _raise(code)

    return events()


async def _stream_route(request: Request) -> EventStreamResponse:
    code, phase = request.path_params["code"], request.path_params["phase"]
    dialect: Dialect[Any]
    if request.url.path.startswith("/api/"):
        dialect = NativeDialect("native-sid", "m")
    elif request.url.path.startswith("/raw/"):  # SSEWriter's: the native error shape
        dialect = RawSSEDialect("native-sid")
    elif request.query_params.get("stream"):
        dialect = OpenAIStreamDialect("openai-sid", "m")
    else:
        dialect = OpenAICompletionDialect("openai-sid", "m")
    source = _source(code, phase == "after", isinstance(dialect, RawSSEDialect))
    return EventStreamResponse(source, dialect=dialect, limits=StreamLimits(heartbeat=30))


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    app = create_app(make_settings())
    app.router.routes += [
        Route("/api/raise/{code}", _raising_route),
        Route("/v1/raise/{code}", _raising_route),
        Route("/api/fail/{code}/{phase}", _stream_route),
        Route("/raw/fail/{code}/{phase}", _stream_route),
        Route("/v1/fail/{code}/{phase}", _stream_route),
    ]
    with serve(app) as running:
        yield running


def _get(server: RunningServer, path: str) -> Any:
    with httpx.Client(timeout=10) as client, client.stream("GET", server.url + path) as r:
        return read(r)


@pytest.mark.parametrize("code", CODES)
def test_a_route_error_in_the_shape_of_its_path(server: RunningServer, code: str) -> None:
    native = _get(server, f"/api/raise/{code}")
    error = assert_error_response(native, code, openai=False, retry_after=_retry_after(code))
    assert error["message"] == f"injected {code}"
    assert error["retry_after"] == (WAIT if ERRORS[code].retryable else None)
    v1 = _get(server, f"/v1/raise/{code}")
    assert assert_error_response(v1, code, openai=True, retry_after=_retry_after(code)) == {
        "message": f"injected {code}",
        "type": code,
        "code": code,
        "param": None,
    }


@pytest.mark.parametrize("prefix", ["/api", "/raw"])
@pytest.mark.parametrize("code", CODES)
def test_native_stream_errors_are_terminal_frames(
    server: RunningServer, code: str, prefix: str
) -> None:
    """The native protocol (and the raw ``SSEWriter`` stream) sends its headers at once: an
    error before the first content is a frame too."""
    start = ["start"] if prefix == "/api" else []
    for phase, names in (("before", [*start, "error"]), ("after", [*start, "text", "error"])):
        got = _get(server, f"{prefix}/fail/{code}/{phase}")
        assert [e.event for e in got.events] == names
        error = got.frame_error
        assert_native(error, code, request_id="native-sid")
        assert error["message"] == f"injected {code}"
        assert error["retry_after"] == (WAIT if ERRORS[code].retryable else None)


@pytest.mark.parametrize("code", CODES)
def test_openai_stream_before_content_is_an_http_status(server: RunningServer, code: str) -> None:
    got = _get(server, f"/v1/fail/{code}/before?stream=1")
    error = assert_error_response(got, code, openai=True, retry_after=_retry_after(code))
    assert error["message"] == f"injected {code}"
    assert got.headers["x-request-id"] == "openai-sid"


@pytest.mark.parametrize("code", CODES)
def test_openai_stream_after_content_is_an_error_chunk(server: RunningServer, code: str) -> None:
    got = _get(server, f"/v1/fail/{code}/after?stream=1")
    assert got.status == 200 and '"content":"partial "' in got.events[-2].data
    error = got.frame_error
    assert_openai(error, code)
    assert error["message"] == f"injected {code}"


@pytest.mark.parametrize("phase", ["before", "after"])
@pytest.mark.parametrize("code", CODES)
def test_openai_body_is_an_http_status_either_way(
    server: RunningServer, code: str, phase: str
) -> None:
    """``stream: false`` writes nothing until the end: an error after content is still a
    status."""
    got = _get(server, f"/v1/fail/{code}/{phase}")
    error = assert_error_response(got, code, openai=True, retry_after=_retry_after(code))
    assert error["message"] == f"injected {code}"
