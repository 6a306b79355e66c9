"""JSON nested deeper than ``MAX_JSON_DEPTH`` is a 400 at parse time, on both endpoints.

Between orjson's own limit (1024 levels, a "not valid JSON" 400) and ours, a deep value used to
pass the parse and blow up later: pydantic's serialiser in the mock ("Maximum serialization
depth exceeded") and orjson's encoder in OpenAI-compatible providers ("Recursion limit
reached"), as a 500 with a traceback on ``/v1`` and an ``internal_error`` frame on ``/api/chat``.
The bodies here are written as bytes, so the test itself never depends on an encoder's limit.
"""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from aichatflow.server.chat_endpoint import MAX_JSON_DEPTH
from tests.support.server import LogCapture
from tests.support.upstream import FakeUpstream, Script, openai_stream

NATIVE, OPENAI = "/api/chat", "/v1/chat/completions"
DEPTHS = [63, 64, 65, 256, 512, 1000, 1023]
HEAD = b'{"model":"%s","max_tokens":2,'
USER = b'{"role":"user","content":"hi"}'

# Where the deep value goes, and how many levels of the body lie above it.
LOCATIONS: dict[str, tuple[bytes, int]] = {
    "content_part": (
        b'"messages":[{"role":"user","content":[{"type":"text","text":"hi","x":%s}]}]}',
        5,
    ),
    "tool_parameters": (
        b'"messages":[' + USER + b'],"tools":[{"type":"function","function":'
        b'{"name":"f","parameters":{"type":"object","x":%s}}}]}',
        5,
    ),
    "extra_field": (b'"messages":[' + USER + b'],"x":%s}', 1),
}


def body(model: str, location: str, depth: int) -> bytes:
    """A request whose deepest point is exactly ``depth`` levels (the body is level 1)."""
    template, above = LOCATIONS[location]
    levels = depth - above
    deep = b"[" * levels + b"1" + b"]" * levels
    return HEAD % model.encode() + template % deep


def depth_of(value: Any) -> int:
    """Levels of arrays and objects in ``value`` (iterative: a recursive walk overflows)."""
    deepest, todo = 0, [(value, 1)]
    while todo:
        node, level = todo.pop()
        if isinstance(node, dict | list):
            deepest = max(deepest, level)
            children = node.values() if isinstance(node, dict) else node
            todo.extend((child, level + 1) for child in children)
    return deepest


def test_the_bodies_have_the_depth_they_claim() -> None:
    for location in LOCATIONS:
        for depth in (10, 63, 64, 65, 256, 1000):
            assert depth_of(orjson.loads(body("m/x", location, depth))) == depth


def _post(url: str, path: str, content: bytes) -> httpx.Response:
    headers = {"content-type": "application/json"}
    return httpx.post(url + path, content=content, headers=headers, timeout=10)


def _assert_refused(r: httpx.Response, path: str, depth: int) -> None:
    assert r.status_code == 400, (path, depth, r.status_code, r.text[:300])
    error = r.json()["error"]
    assert error["code"] == "bad_request"
    assert error["message"] == f"JSON nested deeper than {MAX_JSON_DEPTH} levels"


def _assert_answered(r: httpx.Response, path: str, depth: int) -> None:
    assert r.status_code == 200, (path, depth, r.status_code, r.text[:300])
    if path == NATIVE:
        assert "event: done" in r.text and "event: error" not in r.text
    else:
        assert r.json()["choices"][0]["finish_reason"] in ("stop", "length")


def _assert_quiet(logs: LogCapture) -> None:
    text = logs.text()
    assert "Traceback" not in text
    assert "unexpected error" not in text


@pytest.mark.parametrize("location", list(LOCATIONS))
def test_depth_is_bounded_with_the_mock(
    start_server: Any, server_logs: LogCapture, location: str
) -> None:
    server = start_server()
    for depth in DEPTHS:
        for path in (NATIVE, OPENAI):
            r = _post(server.url, path, body("mock/chat", location, depth))
            if depth <= MAX_JSON_DEPTH:
                _assert_answered(r, path, depth)
            else:
                _assert_refused(r, path, depth)
    _assert_quiet(server_logs)


@pytest.mark.parametrize("location", list(LOCATIONS))
def test_depth_is_bounded_with_an_openai_compatible_upstream(
    start_server: Any, fake: FakeUpstream, server_logs: LogCapture, location: str
) -> None:
    provider = {"kind": "openai-compatible", "base_url": f"{fake.url}/v1", "max_retries": 0}
    server = start_server(providers={"up": provider})
    answered = 0
    for depth in DEPTHS:
        for path in (NATIVE, OPENAI):
            if depth <= MAX_JSON_DEPTH:
                fake.queue(Script(openai_stream(["Hi"])))
            r = _post(server.url, path, body("up/m", location, depth))
            if depth <= MAX_JSON_DEPTH:
                _assert_answered(r, path, depth)
                answered += 1
                assert fake.attempts == answered
                sent = fake.requests[-1].json
                assert depth_of(sent) >= depth - 2  # the deep value reached the upstream
            else:
                _assert_refused(r, path, depth)
                assert fake.attempts == answered  # refused before any upstream call
    assert answered == 4
    _assert_quiet(server_logs)


def test_a_wide_but_shallow_body_is_accepted(start_server: Any) -> None:
    """Many brackets (past the fast path's count) but little depth: walked, and accepted."""
    server = start_server()
    schema = {"type": "object", "properties": {"a": {"type": "array", "items": {"type": "string"}}}}
    tools = [
        {"type": "function", "function": {"name": f"f{i}", "parameters": schema}}
        for i in range(100)
    ]
    content = [{"type": "text", "text": "hi"}] * 100
    request = {
        "model": "mock/chat",
        "max_tokens": 2,
        "messages": [{"role": "user", "content": content}] * 50,
        "tools": tools,
    }
    raw = orjson.dumps(request)
    assert raw.count(b"[") + raw.count(b"{") > MAX_JSON_DEPTH
    for path in (NATIVE, OPENAI):
        _assert_answered(_post(server.url, path, raw), path, depth_of(request))
