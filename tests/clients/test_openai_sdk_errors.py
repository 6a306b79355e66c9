"""The official ``openai`` SDK raises the right exception class for every ``/v1`` error.

Routing's errors (unknown path, wrong method, a ``Host`` not allowed), the request's (413, 415,
422, 400, unknown model) and the upstream's (429 with ``Retry-After``, an upstream refusing the
key, a timeout) all come in OpenAI's shape under ``/v1``, so the SDK maps each status to its
class (``NotFoundError``, ``RateLimitError``...) and exposes our code as ``exc.code`` and our
message as ``exc.body["message"]``. The SDK keeps its default two retries here: the server's
``x-should-retry: false`` on every error must stop them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI
from openai.types.chat import ChatCompletionMessageParam

from aichatflow.error_codes import ERRORS
from tests.support.server import RunningServer
from tests.support.upstream import FakeUpstream, Script, respond, stall

MESSAGES: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hi"}]


@pytest.fixture
def server(start_server: Callable[..., RunningServer], fake: FakeUpstream) -> RunningServer:
    provider = fake.openai_provider()
    return start_server(
        providers={"up": provider}, max_body_bytes=4096, stream={"first_token": 0.5}
    )


def _client(server: RunningServer, **kw: Any) -> OpenAI:
    return OpenAI(base_url=server.url + "/v1", api_key="test", timeout=15, **kw)


@pytest.fixture
def client(server: RunningServer) -> Iterator[OpenAI]:
    with _client(server) as c:
        assert c.max_retries == 2  # the SDK's default: the server must switch it off
        yield c


def _chat(c: OpenAI, **kw: Any) -> Any:
    return c.chat.completions.create(**{"model": "up/m", "messages": MESSAGES, **kw})


CASES: dict[str, tuple[Callable[[OpenAI], Any], type[openai.APIStatusError], str]] = {
    # name: (the call, the SDK's class for the status, our code)
    "unknown path": (
        lambda c: c.get("/nope", cast_to=httpx.Response),
        openai.NotFoundError,
        "not_found",
    ),
    "unknown model": (lambda c: _chat(c, model="nowhere/x"), openai.NotFoundError, "unknown_model"),
    "unknown model, retrieved": (
        lambda c: c.models.retrieve("nowhere/x"),
        openai.NotFoundError,
        "unknown_model",
    ),
    "wrong method": (
        lambda c: c.get("/chat/completions", cast_to=httpx.Response),
        openai.APIStatusError,
        "method_not_allowed",
    ),
    "schema": (
        lambda c: _chat(c, messages=[]),
        openai.UnprocessableEntityError,
        "validation_failed",
    ),
    "unsupported option": (lambda c: _chat(c, n=2), openai.BadRequestError, "bad_request"),
    "body too large": (
        lambda c: _chat(c, messages=[{"role": "user", "content": "x" * 5000}]),
        openai.APIStatusError,
        "body_too_large",
    ),
    "not JSON content type": (
        lambda c: _chat(c, extra_headers={"Content-Type": "text/plain"}),
        openai.APIStatusError,
        "unsupported_media_type",
    ),
}

UPSTREAM: dict[str, tuple[list[Any], type[openai.APIStatusError], str]] = {
    "rate limited": (
        respond(429, {"error": {"message": "slow down"}}, retry_after="3"),
        openai.RateLimitError,
        "upstream_rate_limited",
    ),
    "key refused": (
        respond(401, {"error": {"message": "bad key"}}),
        openai.InternalServerError,
        "upstream_auth",
    ),
    "overloaded": (
        respond(503, {"error": {"message": "busy"}}),
        openai.InternalServerError,
        "upstream_overloaded",
    ),
    "no first token in time": ([stall(5)], openai.InternalServerError, "upstream_timeout"),
}


def _assert_raised(info: pytest.ExceptionInfo[Any], cls: type[Exception], code: str) -> Any:
    exc = info.value
    assert type(exc) is cls, type(exc)
    assert exc.status_code == ERRORS[code].status
    assert (exc.code, exc.type) == (code, code)
    assert exc.body["message"] and exc.message.endswith(exc.body["message"])
    assert exc.response.headers["x-should-retry"] == "false"
    assert exc.response.request.headers["x-stainless-retry-count"] == "0"  # not retried
    return exc


@pytest.mark.parametrize("name", list(CASES))
def test_request_and_routing_errors(client: OpenAI, fake: FakeUpstream, name: str) -> None:
    call, cls, code = CASES[name]
    with pytest.raises(cls) as info:
        call(client)
    _assert_raised(info, cls, code)
    assert fake.connections == 0


def test_a_host_not_allowed_is_a_bad_request(server: RunningServer) -> None:
    with (
        _client(server, default_headers={"Host": "evil.example"}) as c,
        pytest.raises(openai.BadRequestError) as info,
    ):
        _chat(c)
    exc = _assert_raised(info, openai.BadRequestError, "bad_request")
    assert "allowed_hosts" in exc.body["message"]


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
@pytest.mark.parametrize("name", list(UPSTREAM))
def test_upstream_errors_before_content(
    client: OpenAI, fake: FakeUpstream, name: str, stream: bool
) -> None:
    actions, cls, code = UPSTREAM[name]
    fake.queue(Script(actions))
    with pytest.raises(cls) as info:
        _chat(client, stream=stream)
    exc = _assert_raised(info, cls, code)
    assert fake.attempts == 1
    if code == "upstream_rate_limited":
        assert exc.response.headers["retry-after"] == "3"
