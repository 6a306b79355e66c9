"""A chat request without ``"model"`` uses the server's ``default_model`` (it was a 422).

The official openai SDK cannot leave ``model`` out, so these POST raw JSON with httpx, on real
sockets. The answer must name the model that was used: the native ``start`` frame and every
OpenAI chunk's ``model``.
"""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from tests.support.client import user
from tests.support.upstream import FakeUpstream, Script, openai_stream

NATIVE, OPENAI = "/api/chat", "/v1/chat/completions"


def _post(url: str, body: dict[str, Any]) -> httpx.Response:
    headers = {"content-type": "application/json"}
    return httpx.post(url, content=orjson.dumps(body), headers=headers, timeout=10)


def _frames(text: str) -> list[tuple[str, str]]:
    """(event, data) of each SSE frame, for the native stream."""
    out = []
    for block in text.strip().split("\n\n"):
        fields = dict(
            line.split(": ", 1) for line in block.splitlines() if ": " in line and line[0] != ":"
        )
        out.append((fields.get("event", "message"), fields.get("data", "")))
    return out


@pytest.mark.parametrize("model", ["absent", None])
def test_native_without_model_uses_the_default(start_server: Any, model: str | None) -> None:
    server = start_server(default_model="mock/echo")
    body: dict[str, Any] = {"messages": user("ping")}
    if model is None:
        body["model"] = None
    r = _post(server.url + NATIVE, body)
    assert r.status_code == 200, r.text
    frames = _frames(r.text)
    assert frames[0][0] == "start"
    start = orjson.loads(frames[0][1])
    assert start["model"] == "mock/echo"
    assert start["deployment"] == "mock/echo"
    text = "".join(orjson.loads(d)["text"] for e, d in frames if e == "text")
    assert "ping" in text  # mock/echo answered, not mock/chat
    assert frames[-1][0] == "done"


def test_v1_stream_without_model_names_the_default_in_every_chunk(start_server: Any) -> None:
    server = start_server(default_model="mock/echo")
    r = _post(server.url + OPENAI, {"messages": user("ping"), "stream": True})
    assert r.status_code == 200, r.text
    chunks = [
        orjson.loads(line[len("data: ") :])
        for line in r.text.splitlines()
        if line.startswith("data: {")
    ]
    assert chunks
    assert {c["model"] for c in chunks} == {"mock/echo"}
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert "ping" in text
    assert r.text.rstrip().endswith("data: [DONE]")


def test_v1_body_without_model_names_the_default(start_server: Any) -> None:
    server = start_server(default_model="mock/echo")
    r = _post(server.url + OPENAI, {"messages": user("ping")})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model"] == "mock/echo"
    assert "ping" in body["choices"][0]["message"]["content"]


def test_an_explicit_model_still_wins(start_server: Any) -> None:
    server = start_server(default_model="mock/echo")
    r = _post(server.url + OPENAI, {"model": "mock/chat", "messages": user("ping")})
    assert r.status_code == 200, r.text
    assert r.json()["model"] == "mock/chat"


@pytest.mark.parametrize("path", [NATIVE, OPENAI])
def test_the_default_reaches_the_upstream(start_server: Any, fake: FakeUpstream, path: str) -> None:
    """Through a real OpenAI-compatible provider: the upstream is asked for the default's
    model name, and the client is told the default's name."""
    fake.queue(Script(openai_stream(["Hi"])))
    provider = {"kind": "openai-compatible", "base_url": f"{fake.url}/v1", "max_retries": 0}
    server = start_server(default_model="up/the-default", providers={"up": provider})
    body: dict[str, Any] = {"messages": user()}
    if path == OPENAI:
        body["stream"] = True
    r = _post(server.url + path, body)
    assert r.status_code == 200, r.text
    assert fake.requests[0].json["model"] == "the-default"
    assert '"model":"up/the-default"' in r.text


@pytest.mark.parametrize("path", [NATIVE, OPENAI])
def test_an_empty_model_is_still_a_422(start_server: Any, path: str) -> None:
    """Only an absent (or null) model means "the default"; ``""`` is a mistake, said so."""
    server = start_server()
    r = _post(server.url + path, {"model": "", "messages": user()})
    assert r.status_code == 422
    assert "model" in str(r.json()["error"]["message"])
