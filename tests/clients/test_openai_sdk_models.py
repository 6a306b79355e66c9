"""``GET /v1/models`` and ``GET /v1/models/{id}`` with the official SDK and real upstreams.

An HTTP provider without ``models`` in its config advertises what its upstream's own model list
reports; the fake upstream serves that list on a real socket (or fails, or hangs), and the SDK
reads aichatflow's answer on another. ``/v1/models`` must answer, and quickly, whatever the
upstream does, and never show the upstream's error text or the key.

Tests take ``fake`` before ``start_server``, so the server stops first: a list fetch still
running (the hanging upstream) is then cancelled by the server, not cut by the fake.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI

from aichatflow.providers._model_list import WAIT
from tests.support.server import LogCapture, RunningServer
from tests.support.upstream import FakeUpstream, Script, headers, respond, stall

StartServer = Callable[..., RunningServer]
KEY = "sk-test-SECRET-4242"
MOCK = {"kind": "mock", "tokens_per_second": 0, "first_token_ms": 0}
UPSTREAM_LIST = {
    "object": "list",
    "data": [
        {"id": "gpt-x", "object": "model", "created": 1, "owned_by": "someone"},
        {"id": "org/model-y", "object": "model", "created": 2, "owned_by": "org"},
    ],
}


def sdk(server: RunningServer) -> OpenAI:
    return OpenAI(base_url=server.url + "/v1", api_key="test", max_retries=0, timeout=15)


def up(fake: FakeUpstream, **options: Any) -> dict[str, Any]:
    return {
        "kind": "openai-compatible",
        "base_url": f"{fake.url}/v1",
        "api_key": KEY,
        "max_retries": 0,
        **options,
    }


@pytest.fixture
def client(start_server: StartServer) -> Iterator[OpenAI]:
    server = start_server(providers={"mock": MOCK}, models={"fast": "mock/chat"})
    with sdk(server) as c:
        yield c


# --- retrieve ----------------------------------------------------------------------------------


def test_retrieve_a_provider_model_and_an_alias(client: OpenAI) -> None:
    model = client.models.retrieve("mock/chat")
    assert (model.id, model.object, model.owned_by) == ("mock/chat", "model", "mock")
    alias = client.models.retrieve("fast")
    assert (alias.id, alias.owned_by) == ("fast", "mock")
    assert {m.id for m in client.models.list()} >= {"mock/chat", "fast"}


def test_retrieve_an_unknown_model_is_openai_404(client: OpenAI) -> None:
    """The same 404 ``unknown_model``, worded the same, as a chat request for an unknown model."""
    with pytest.raises(openai.NotFoundError) as info:
        client.models.retrieve("nope/model")
    exc = info.value
    assert exc.status_code == 404
    assert exc.code == "unknown_model"
    assert exc.type == "unknown_model"
    assert exc.response.headers["x-should-retry"] == "false"
    assert exc.body == {
        "message": "unknown model 'nope/model'",
        "type": "unknown_model",
        "param": None,
        "code": "unknown_model",
    }


# --- the upstream's own list -------------------------------------------------------------------


def test_upstream_models_are_listed_and_retrievable(
    fake: FakeUpstream, start_server: StartServer
) -> None:
    fake.queue(Script(respond(200, UPSTREAM_LIST)))
    server = start_server(providers={"mock": MOCK, "up": up(fake)})
    with sdk(server) as c:
        ids = [m.id for m in c.models.list()]
        model = c.models.retrieve("up/org/model-y")
        again = [m.id for m in c.models.list()]
    assert "up/gpt-x" in ids and "up/org/model-y" in ids
    assert "mock/chat" in ids
    assert (model.id, model.owned_by) == ("up/org/model-y", "up")
    assert again == ids
    [request] = fake.requests  # three calls, one upstream request: the list is cached
    assert (request.method, request.path) == ("GET", "/v1/models")
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.headers["accept"] == "application/json"


def test_configured_models_are_listed_without_asking_the_upstream(
    fake: FakeUpstream, start_server: StartServer
) -> None:
    server = start_server(providers={"up": up(fake, models=["mine"])})
    with sdk(server) as c:
        ids = [m.id for m in c.models.list()]
    assert "up/mine" in ids
    assert not any(i.startswith("up/") and i != "up/mine" for i in ids)
    assert fake.attempts == 0


def test_failing_upstream_list_leaves_the_rest_and_leaks_nothing(
    fake: FakeUpstream, start_server: StartServer, server_logs: LogCapture
) -> None:
    error = {"error": {"message": f"Incorrect API key provided: {KEY}", "code": "invalid_key"}}
    fake.queue(Script(respond(401, error)))
    server = start_server(providers={"mock": MOCK, "up": up(fake)})
    with httpx.Client(timeout=15) as http:
        t0 = time.monotonic()
        resp = http.get(server.url + "/v1/models")
        elapsed = time.monotonic() - t0
        missing = http.get(server.url + "/v1/models/up/gpt-x")
    assert resp.status_code == 200
    assert elapsed < 2.0
    ids = [m["id"] for m in resp.json()["data"]]
    assert "mock/chat" in ids
    assert not any(i.startswith("up/") for i in ids)
    assert missing.status_code == 404
    for text in (resp.text, missing.text, server_logs.text()):
        assert KEY not in text
        assert "Incorrect API key" not in text
    assert "could not list the upstream's models" in server_logs.text()


def test_hanging_upstream_list_answers_within_the_bound(
    fake: FakeUpstream, start_server: StartServer
) -> None:
    """Headers that never come: the first call waits at most ``WAIT`` seconds, the next ones
    not at all (the fetch goes on in the background, once)."""
    fake.queue(Script([stall()]))
    server = start_server(providers={"mock": MOCK, "up": up(fake)})
    with httpx.Client(timeout=15) as http:
        t0 = time.monotonic()
        first = http.get(server.url + "/v1/models")
        t1 = time.monotonic()
        second = http.get(server.url + "/v1/models")
        t2 = time.monotonic()
    assert first.status_code == second.status_code == 200
    assert WAIT - 0.2 <= t1 - t0 < WAIT + 1.5
    assert t2 - t1 < 1.0
    assert "mock/chat" in [m["id"] for m in second.json()["data"]]
    assert fake.attempts == 1


def test_unreachable_upstream_list_keeps_the_kind_defaults(start_server: StartServer) -> None:
    """A closed port: the ``openai`` kind still lists its default models."""
    server = start_server(
        providers={"oa": {"kind": "openai", "base_url": "http://127.0.0.1:9/v1", "api_key": KEY}}
    )
    with sdk(server) as c:
        t0 = time.monotonic()
        ids = [m.id for m in c.models.list()]
    assert time.monotonic() - t0 < WAIT + 1.0
    assert "oa/gpt-4o-mini" in ids


# --- other kinds' lists ------------------------------------------------------------------------

OTHER_KINDS = [
    pytest.param(
        "ollama",
        {"models": [{"name": "llama3.2:latest", "model": "llama3.2:latest"}, {"name": "qwen3"}]},
        "/api/tags",
        ["llama3.2:latest", "qwen3"],
        id="ollama",
    ),
    pytest.param(
        "anthropic",
        {"data": [{"type": "model", "id": "claude-x"}], "has_more": False},
        "/v1/models?limit=1000",
        ["claude-x"],
        id="anthropic",
    ),
    pytest.param(
        "gemini",
        {
            "models": [
                {"name": "models/gemini-x", "supportedGenerationMethods": ["generateContent"]},
                {"name": "models/embedding-y", "supportedGenerationMethods": ["embedContent"]},
            ]
        },
        "/v1beta/models?pageSize=1000",
        ["gemini-x"],
        id="gemini",
    ),
]


@pytest.mark.parametrize(("kind", "payload", "path", "expected"), OTHER_KINDS)
def test_other_kinds_list_their_upstream_models(
    fake: FakeUpstream,
    start_server: StartServer,
    kind: str,
    payload: dict[str, Any],
    path: str,
    expected: list[str],
) -> None:
    fake.queue(Script(respond(200, payload)))
    provider = {"kind": kind, "base_url": fake.url, "api_key": KEY, "max_retries": 0}
    server = start_server(providers={"up": provider})
    with sdk(server) as c:
        ids = [m.id for m in c.models.list()]
    assert [i for i in ids if i.startswith("up/")] == [f"up/{m}" for m in expected]
    [request] = fake.requests
    assert (request.method, request.path) == ("GET", path)


def test_a_body_that_is_not_a_model_list_is_tolerated(
    fake: FakeUpstream, start_server: StartServer
) -> None:
    fake.queue(Script([headers(200, content_type="text/html", chunked=False), stall(0.1)]))
    server = start_server(providers={"mock": MOCK, "up": up(fake)})
    with httpx.Client(timeout=15) as http:
        resp = http.get(server.url + "/v1/models")
    assert resp.status_code == 200
    assert not any(m["id"].startswith("up/") for m in resp.json()["data"])
