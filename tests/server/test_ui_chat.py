"""``POST /api/ui/chat`` and ``useChat``'s resume and stop, end to end over real sockets: text,
reasoning and tool calls as strict parts, errors before (a JSON status) and after the headers
(an ``error`` part, then ``[DONE]``), resume by chat id (204, or the live answer from its first
part), stop, another key's chat id, a client that leaves, and hostile model output."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from aichatflow.server import create_app
from tests.conftest import make_settings
from tests.support.hostile import HOSTILE
from tests.support.server import RunningServer, serve
from tests.support.ui_parts import parts
from tests.support.upstream import (
    Chunks,
    FakeUpstream,
    Script,
    done,
    end_chunked,
    event,
    fin,
    headers,
    openai_stream,
    respond,
    sleep,
    tool_call,
)

C = Chunks()
A = {"authorization": "Bearer key-a"}
B = {"authorization": "Bearer key-b"}
KEYS = [
    {"id": "a", "sha256": hashlib.sha256(b"key-a").hexdigest()},
    {"id": "b", "sha256": hashlib.sha256(b"key-b").hexdigest()},
]
UI_HEADERS = {
    "content-type": "text/event-stream",
    "cache-control": "no-cache",
    "connection": "keep-alive",
    "x-vercel-ai-ui-message-stream": "v1",
    "x-accel-buffering": "no",
}


def chat_body(chat_id: str = "chat-1", text: str = "Hi", model: str = "up/m") -> dict[str, Any]:
    message = {"id": "u1", "role": "user", "parts": [{"type": "text", "text": text}]}
    return {"id": chat_id, "messages": [message], "trigger": "submit-message", "model": model}


def slow(count: int = 40, pause: float = 0.05) -> Script:
    """``count`` deltas ``t0 ``..., one every ``pause`` seconds."""
    body = [a for i in range(count) for a in (sleep(pause), event(C.content(f"t{i} ")))]
    return Script([headers(200), event(C.role()), *body, event(C.finish()), done(), end_chunked()])


def deltas(got: list[dict[str, Any]], kind: str = "text") -> str:
    return "".join(p["delta"] for p in got if p["type"] == f"{kind}-delta")


@pytest.fixture
def stored(fake: FakeUpstream, tmp_path: Path) -> Iterator[RunningServer]:
    """Journal, SQLite store and two keys: what resume and stop need."""
    settings = make_settings(
        providers={"up": fake.openai_provider("m")},
        journal={"backend": "memory"},
        store={"url": f"sqlite+aiosqlite:///{tmp_path / 'ui.db'}"},
        auth={"keys": KEYS},
    )
    with serve(create_app(settings)) as running:
        yield running


@pytest.mark.parametrize("major", [5, 6])
def test_text_reasoning_and_tools_on_the_direct_path(
    start_server: Any, fake: FakeUpstream, major: int
) -> None:
    server = start_server(providers={"up": fake.openai_provider("m")}, ui={"sdk_major": major})
    calls = [
        C.tool_calls(tool_call(0, id="call_1", name="weather", arguments='{"city":'), role=True),
        C.tool_calls(tool_call(0, arguments='"Paris"}')),
    ]
    reasoning = [C.reasoning("Need "), C.reasoning("weather.")]
    events = [event(c) for c in [*reasoning, C.content("Checking."), *calls]]
    fake.queue(
        Script([headers(200), *events, event(C.finish("tool_calls")), done(), end_chunked()])
    )
    response = httpx.post(server.url + "/api/ui/chat", json=chat_body(), timeout=10)
    assert response.status_code == 200
    assert {k: response.headers[k] for k in UI_HEADERS} == UI_HEADERS
    got = parts(response.content, major)
    assert deltas(got, "reasoning") == "Need weather." and deltas(got) == "Checking."
    tool = next(p for p in got if p["type"] == "tool-input-available")
    assert tool["input"] == {"city": "Paris"} and tool["toolName"] == "weather"
    assert got[-1]["type"] == "finish"
    sent = fake.requests[-1].json
    assert sent["messages"] == [{"role": "user", "content": "Hi"}]
    assert "conversation_id" not in sent and "id" not in sent


def test_upstream_error_mid_stream_is_an_error_part_then_done(
    start_server: Any, fake: FakeUpstream
) -> None:
    server = start_server(providers={"up": fake.openai_provider("m")})
    fake.queue(Script([headers(200), event(C.role()), event(C.content("partial")), fin()]))
    response = httpx.post(server.url + "/api/ui/chat", json=chat_body(), timeout=10)
    got = parts(response.content, 6)
    assert deltas(got) == "partial"
    assert got[-1]["type"] == "error" and got[-1]["errorText"]
    assert not any(p["type"] == "finish" for p in got)


def test_upstream_refusal_before_the_stream_is_a_json_status(
    start_server: Any, fake: FakeUpstream
) -> None:
    server = start_server(providers={"up": fake.openai_provider("m")}, fallback={"cooldown": 0})
    fake.queue(Script(respond(400, {"error": {"message": "bad prompt", "type": "invalid"}})))
    response = httpx.post(server.url + "/api/ui/chat", json=chat_body(), timeout=10)
    assert 400 <= response.status_code < 600 and response.status_code != 200
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"]["code"]
    assert "x-vercel-ai-ui-message-stream" not in response.headers


async def test_resume_replays_from_the_first_part_and_stop_aborts(
    stored: RunningServer, fake: FakeUpstream
) -> None:
    fake.queue(slow())
    url = stored.url + "/api/ui/chat"
    async with httpx.AsyncClient(timeout=15) as client:
        assert (await client.get(url + "/chat-1/stream", headers=A)).status_code == 204
        async with client.stream("POST", url, json=chat_body(), headers=A) as first:
            assert first.status_code == 200
            head = b""
            async for chunk in first.aiter_raw():
                head += chunk
                if head.count(b"text-delta") >= 3:
                    break
        # the first reader left; the run goes on (on_disconnect = continue with a store)
        other = await client.get(url + "/chat-1/stream", headers=B)
        assert other.status_code == 204  # another key's chat of the same id: nothing
        assert (await client.post(url + "/chat-1/stop", headers=B)).json()["stopped"] is False
        async with client.stream("GET", url + "/chat-1/stream", headers=A) as again:
            assert again.status_code == 200
            assert again.headers["x-vercel-ai-ui-message-stream"] == "v1"
            replay = b""
            stop = None
            async for chunk in again.aiter_raw():
                replay += chunk
                if stop is None and replay.count(b"text-delta") >= 8:
                    stop = await client.post(url + "/chat-1/stop", headers=A)
            assert stop is not None and stop.json() == {"id": "chat-1", "stopped": True}
    first_parts = parts(head + b"data: [DONE]\n\n", 6)
    got = parts(replay, 6)
    assert got[0] == first_parts[0]  # the same start part, the same messageId
    assert got[1]["type"] == "start-step" and got[2]["type"] == "text-start"
    assert deltas(got).startswith("t0 t1 t2 ")  # from the first part, not a tail
    assert got[-1] == {"type": "abort", "reason": "cancelled"}
    assert fake.attempts == 1
    async with httpx.AsyncClient(timeout=15) as client:
        for _ in range(50):  # the stopped answer is stored a moment after its last part
            if (await client.get(url + "/chat-1/stream", headers=A)).status_code == 204:
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the chat still has a live answer after its stop")


def upstream_closed_soon(fake: FakeUpstream) -> bool:
    record = fake.requests[-1]
    return record.wait_peer_closed(3.0) is not None


@pytest.mark.parametrize("journal", ["off", "memory"])
async def test_client_leaving_cancels_the_upstream_without_a_store(
    start_server: Any, fake: FakeUpstream, journal: str
) -> None:
    """Without a store nobody can find the run again by its chat id, so the last reader
    leaving ends it (with a journal too: ``run_flow``'s ``cancel_when_alone``)."""
    server = start_server(providers={"up": fake.openai_provider("m")}, journal={"backend": journal})
    fake.queue(slow(count=400))
    async with (
        httpx.AsyncClient(timeout=15) as client,
        client.stream("POST", server.url + "/api/ui/chat", json=chat_body()) as response,
    ):
        seen = b""
        async for chunk in response.aiter_raw():
            seen += chunk
            if b"text-delta" in seen:
                break
    left = time.monotonic()
    assert await asyncio.to_thread(upstream_closed_soon, fake)
    assert fake.requests[-1].peer_closed_at is not None
    assert fake.requests[-1].peer_closed_at - left < 2.0


@pytest.mark.parametrize("journal", ["off", "memory"])
def test_hostile_model_output_arrives_intact(
    start_server: Any, fake: FakeUpstream, journal: str
) -> None:
    server = start_server(providers={"up": fake.openai_provider("m")}, journal={"backend": journal})
    fake.queue(Script(openai_stream([HOSTILE[:40], HOSTILE[40:]])))
    response = httpx.post(server.url + "/api/ui/chat", json=chat_body(), timeout=15)
    assert deltas(parts(response.content, 6)) == HOSTILE


def test_config_lists_the_feature(start_server: Any) -> None:
    server = start_server(providers={"mock": {"kind": "mock"}})
    assert httpx.get(server.url + "/api/config").json()["features"]["ui_chat"] is True
    nothing = httpx.get(server.url + "/api/ui/chat/any-id/stream")
    assert nothing.status_code == 204  # no journal, no store: nothing is ever live
    assert httpx.post(server.url + "/api/ui/chat/any-id/stop").json()["stopped"] is False
