"""Stored conversations through ``POST /api/chat`` with the journal, end to end over real
sockets, on SQLite and on PostgreSQL: every turn stored with its status, history sent back
upstream, scoping by key, and T34 (50 concurrent streams, 10 stopped mid-way)."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from aichatflow.server import create_app
from aichatflow.sse import SSEDecoder
from tests.conftest import make_settings
from tests.support.openai_chunks import openai_stream
from tests.support.postgres_server import create_database
from tests.support.server import LogCapture, RunningServer, serve
from tests.support.upstream import FakeUpstream, Script


def sha(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


A = {"authorization": "Bearer key-a"}
B = {"authorization": "Bearer key-b"}
KEYS = [{"id": "a", "sha256": sha("key-a")}, {"id": "b", "sha256": sha("key-b")}]
SLOW = {"kind": "mock", "tokens_per_second": 25, "first_token_ms": 0}


@pytest.fixture(params=["sqlite", "postgresql"])
async def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'chat.db'}"
    server: str = request.getfixturevalue("postgres_url")
    return await create_database(server, f"conv_{uuid.uuid4().hex[:12]}")


@pytest.fixture
def server(store_url: str, fake: FakeUpstream) -> Iterator[RunningServer]:
    settings = make_settings(
        providers={"up": fake.openai_provider("m"), "slow": SLOW},
        journal={"backend": "memory"},
        store={"url": store_url},
        auth={"keys": KEYS},
    )
    with serve(create_app(settings)) as running:
        yield running


async def post(
    client: httpx.AsyncClient, url: str, body: dict[str, Any], headers: dict[str, str]
) -> tuple[int, list[Any]]:
    response = await client.post(url + "/api/chat", json=body, headers=headers)
    return response.status_code, SSEDecoder().feed(response.content)


def texts(frames: list[Any]) -> str:
    return "".join(orjson.loads(f.data)["text"] for f in frames if f.event == "text")


async def settled(client: httpx.AsyncClient, url: str, conversation: str) -> dict[str, Any]:
    """The conversation once no message of it is in progress (the run's end is stored a
    moment after its last frame)."""
    for _ in range(200):
        got = (await client.get(f"{url}/api/conversations/{conversation}", headers=A)).json()
        if all(m["status"] != "in_progress" for m in got["messages"]):
            return dict(got)
        await asyncio.sleep(0.05)
    raise AssertionError(f"still in progress: {got}")


async def test_a_turn_is_stored_and_the_next_one_sends_the_history(
    server: RunningServer, fake: FakeUpstream
) -> None:
    fake.queue(Script(openai_stream(["Hello", " there"])), Script(openai_stream(["Fine"])))
    async with httpx.AsyncClient(timeout=20) as client:
        first = {"model": "up/m", "messages": [{"role": "user", "content": "hi"}]}
        status, frames = await post(client, server.url, first, A)
        assert status == 200 and texts(frames) == "Hello there"
        conversation = orjson.loads(frames[0].data)["conversation_id"]
        stored = await settled(client, server.url, conversation)
        assert [(m["role"], m["content"], m["status"]) for m in stored["messages"]] == [
            ("user", "hi", "complete"),
            ("assistant", "Hello there", "complete"),
        ]
        follow = {
            "model": "up/m",
            "conversation_id": conversation,
            "messages": [{"role": "user", "content": "and you?"}],
        }
        status, frames = await post(client, server.url, follow, A)
        assert status == 200 and orjson.loads(frames[0].data)["conversation_id"] == conversation
        sent = orjson.loads(fake.requests[-1].body)
        assert "conversation_id" not in sent
        assert [(m["role"], m["content"]) for m in sent["messages"]] == [
            ("user", "hi"),
            ("assistant", "Hello there"),
            ("user", "and you?"),
        ]
        stored = await settled(client, server.url, conversation)
        assert [m["content"] for m in stored["messages"]][-1] == "Fine"
        listed = (await client.get(server.url + "/api/conversations", headers=A)).json()
        assert [c["id"] for c in listed["data"]] == [conversation]


async def test_another_keys_conversation_is_unknown_and_costs_nothing(
    server: RunningServer, fake: FakeUpstream
) -> None:
    fake.queue(Script(openai_stream(["x"])))
    async with httpx.AsyncClient(timeout=20) as client:
        body = {"model": "up/m", "messages": [{"role": "user", "content": "mine"}]}
        _, frames = await post(client, server.url, body, A)
        conversation = orjson.loads(frames[0].data)["conversation_id"]
        attempts = fake.attempts
        foreign = await client.post(
            server.url + "/api/chat", json={**body, "conversation_id": conversation}, headers=B
        )
        unknown = await client.post(
            server.url + "/api/chat", json={**body, "conversation_id": "nope"}, headers=A
        )
        assert foreign.status_code == unknown.status_code == 404
        assert foreign.json()["error"]["message"] == unknown.json()["error"]["message"]
        for bad in (7, "", "x" * 65, ["a"]):
            got = await client.post(
                server.url + "/api/chat", json={**body, "conversation_id": bad}, headers=A
            )
            assert got.status_code == 422, bad
        assert fake.attempts == attempts  # none of them reached the upstream
        listed = (await client.get(server.url + "/api/conversations", headers=B)).json()
        assert listed["data"] == []


async def test_t34_fifty_streams_ten_stopped(
    server: RunningServer, server_logs: LogCapture
) -> None:
    """50 concurrent streams, 10 stopped mid-way: 40 complete and 10 stopped with their
    partial text, nothing left in progress, no ``database is locked``."""
    body = {"model": "slow/chat", "messages": [{"role": "user", "content": "go"}], "max_tokens": 20}

    async def one(client: httpx.AsyncClient, stop: bool) -> tuple[str, str, bool]:
        decoder = SSEDecoder()
        frames: list[Any] = []
        async with client.stream("POST", server.url + "/api/chat", json=body, headers=A) as r:
            async for chunk in r.aiter_raw():
                frames += decoder.feed(chunk)
                if stop and sum(f.event == "text" for f in frames) == 3:
                    sid = orjson.loads(frames[0].data)["stream_id"]
                    await client.post(f"{server.url}/api/chat/{sid}/stop", headers=A)
                    stop = False
        return orjson.loads(frames[0].data)["conversation_id"], texts(frames), stop

    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=200)) as client:
        results = await asyncio.gather(*(one(client, i % 5 == 0) for i in range(50)))
        answers = [await settled(client, server.url, c) for c, _, _ in results]
    statuses = [a["messages"][-1]["status"] for a in answers]
    assert statuses.count("complete") == 40 and statuses.count("stopped") == 10
    for (_, text, _), answer in zip(results, answers, strict=True):
        assert answer["messages"][-1]["content"] == text  # what the client saw is what is kept
    stopped = [
        a["messages"][-1]["content"] for a in answers if a["messages"][-1]["status"] == "stopped"
    ]
    complete = [
        a["messages"][-1]["content"] for a in answers if a["messages"][-1]["status"] == "complete"
    ]
    assert all(s and len(s) < len(complete[0]) for s in stopped)
    assert "database is locked" not in server_logs.text()


SLOW_TURN = {
    "model": "slow/chat",
    "messages": [{"role": "user", "content": "go"}],
    "max_tokens": 15,
}


async def until_first_token(client: httpx.AsyncClient, url: str) -> list[Any]:
    """The frames of a slow stored turn up to its first token; then the tab closes."""
    decoder = SSEDecoder()
    frames: list[Any] = []
    async with client.stream("POST", url + "/api/chat", json=SLOW_TURN, headers=A) as r:
        async for chunk in r.aiter_raw():
            frames += decoder.feed(chunk)
            if any(f.event == "text" for f in frames):
                break
    return frames


async def test_a_resume_from_the_start_names_the_same_conversation_and_message(
    server: RunningServer,
) -> None:
    """A reload replays the answer from its ``start`` frame, which names the stored turn as the
    first response's did (the page matches the answer to its stored message by that id)."""
    async with httpx.AsyncClient(timeout=20) as client:
        first = orjson.loads((await until_first_token(client, server.url))[0].data)
        url = f"{server.url}/api/chat/{first['stream_id']}/stream"
        async with client.stream("GET", url, headers=A) as r:
            replayed = SSEDecoder().feed(await anext(r.aiter_raw()))
    start = orjson.loads(replayed[0].data)
    assert start["conversation_id"] == first["conversation_id"]
    assert start["message_id"] == first["message_id"] and first["message_id"]


async def test_closing_the_tab_still_stores_the_whole_answer(server: RunningServer) -> None:
    async with httpx.AsyncClient(timeout=20) as client:
        frames = await until_first_token(client, server.url)
        conversation = orjson.loads(frames[0].data)["conversation_id"]
        stored = await settled(client, server.url, conversation)
    answer = stored["messages"][-1]
    assert answer["status"] == "complete"
    assert len(answer["content"].split()) >= 10 and answer["content"].startswith(texts(frames))


async def test_regenerate_and_edit_replace_the_last_turn(
    server: RunningServer, fake: FakeUpstream
) -> None:
    """``replace_from`` the last question: its answer (regenerate) or the question itself
    (edit) is replaced, and upstream gets the history before it only."""
    fake.queue(*(Script(openai_stream([word])) for word in ("A1", "A2", "B1", "B2")))
    async with httpx.AsyncClient(timeout=20) as client:
        body = {"model": "up/m", "messages": [{"role": "user", "content": "q1"}]}
        _, frames = await post(client, server.url, body, A)
        start = orjson.loads(frames[0].data)
        conversation = start["conversation_id"]
        stored = await settled(client, server.url, conversation)
        assert stored["messages"][-1]["id"] == start["message_id"]
        follow = {**body, "conversation_id": conversation}
        await post(
            client, server.url, {**follow, "messages": [{"role": "user", "content": "q2"}]}, A
        )
        q2 = (await settled(client, server.url, conversation))["messages"][2]
        regenerate = {
            **follow,
            "replace_from": q2["id"],
            "messages": [{"role": "user", "content": "q2"}],
        }
        _, frames = await post(client, server.url, regenerate, A)
        assert texts(frames) == "B1"
        sent = orjson.loads(fake.requests[-1].body)
        assert [m["content"] for m in sent["messages"]] == ["q1", "A1", "q2"]
        assert "replace_from" not in sent
        stored = await settled(client, server.url, conversation)
        assert [m["content"] for m in stored["messages"]] == ["q1", "A1", "q2", "B1"]
        q2 = stored["messages"][2]
        edit = {
            **follow,
            "replace_from": q2["id"],
            "messages": [{"role": "user", "content": "q2!"}],
        }
        await post(client, server.url, edit, A)
        stored = await settled(client, server.url, conversation)
        assert [m["content"] for m in stored["messages"]] == ["q1", "A1", "q2!", "B2"]


async def test_replace_from_hostile_values_cost_nothing(
    server: RunningServer, fake: FakeUpstream
) -> None:
    fake.queue(Script(openai_stream(["x"])))
    async with httpx.AsyncClient(timeout=20) as client:
        body = {"model": "up/m", "messages": [{"role": "user", "content": "mine"}]}
        _, frames = await post(client, server.url, body, A)
        conversation = orjson.loads(frames[0].data)["conversation_id"]
        first = (await settled(client, server.url, conversation))["messages"][0]["id"]
        attempts = fake.attempts
        cases = [
            ({**body, "replace_from": first}, 422),  # no conversation named
            ({**body, "conversation_id": conversation, "replace_from": 5}, 422),
            ({**body, "conversation_id": conversation, "replace_from": "x" * 65}, 422),
            ({**body, "conversation_id": conversation, "replace_from": "nope"}, 404),
        ]
        for case, status in cases:
            got = await client.post(server.url + "/api/chat", json=case, headers=A)
            assert got.status_code == status, (case, got.text)
        foreign = {**body, "conversation_id": conversation, "replace_from": first}
        got = await client.post(server.url + "/api/chat", json=foreign, headers=B)
        assert got.status_code == 404
        assert fake.attempts == attempts
        stored = await settled(client, server.url, conversation)
        assert [m["content"] for m in stored["messages"]] == ["mine", "x"]  # nothing deleted


async def test_the_page_config_names_the_features(server: RunningServer) -> None:
    async with httpx.AsyncClient(timeout=20) as client:
        config = (await client.get(server.url + "/api/config", headers=A)).json()
    assert config["features"] == {"conversations": True, "resume": True, "ui_chat": True}
