"""Resume on the native protocol with the memory journal (T24-T26), over real sockets.

A fake upstream streams ten deltas slowly; the client leaves after its k-th frame and comes
back with the last id it saw, by header (what a browser's EventSource sends) and by query. It
must get exactly the rest, once, in order, from the same upstream attempt.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from aichatflow.server import create_app
from aichatflow.sse import SSEDecoder
from tests.conftest import make_settings
from tests.support.openai_chunks import openai_stream
from tests.support.server import RunningServer, serve
from tests.support.upstream import FakeUpstream, Script, sleep

TOKENS = [f"t{i} " for i in range(10)]
FULL = "".join(TOKENS)


def slow_stream(pause: float = 0.08) -> list[Any]:
    """The OpenAI stream of TOKENS with a pause before each delta."""
    actions = openai_stream(TOKENS)
    out: list[Any] = []
    for action in actions:
        if getattr(action, "data", b"").find(b'"content"') >= 0:
            out.append(sleep(pause))
        out.append(action)
    return out


@pytest.fixture
def server(fake: FakeUpstream) -> Iterator[RunningServer]:
    settings = make_settings(
        providers={"up": fake.openai_provider("m")},
        journal={"backend": "memory", "ttl": 2},
        stream={"heartbeat": 1},
    )
    with serve(create_app(settings)) as running:
        yield running


async def first_frames(
    url: str, k: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> list[Any]:
    """POST, read the ``start`` frame and ``k`` more frames, then leave."""
    decoder = SSEDecoder()
    frames: list[Any] = []
    async with (
        httpx.AsyncClient(timeout=10) as client,
        client.stream("POST", url + "/api/chat", json=body, headers=headers) as response,
    ):
        assert response.status_code == 200
        async for chunk in response.aiter_raw():
            frames += decoder.feed(chunk)
            if len(frames) >= k + 1:
                return frames[: k + 1]
    return frames


async def resume(
    url: str, stream_id: str, last_id: str | None, *, by: str = "header"
) -> tuple[int, bytes, list[Any]]:
    headers: dict[str, str] = {}
    params: dict[str, str] = {}
    if last_id is not None:
        if by == "header":
            headers["last-event-id"] = last_id
        else:
            params["last_event_id"] = last_id
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.get(
            f"{url}/api/chat/{stream_id}/stream", headers=headers, params=params
        )
    return response.status_code, response.content, SSEDecoder().feed(response.content)


def position(frame_id: str) -> int:
    return int(frame_id.rsplit(".", 1)[1])


BODY = {"model": "up/m", "messages": [{"role": "user", "content": "hi"}]}


@pytest.mark.parametrize("by", ["header", "query"])
@pytest.mark.parametrize("k", [0, 1, 7, 10])
async def test_resume_after_frame_k_gets_the_rest_exactly_once(
    server: RunningServer, fake: FakeUpstream, k: int, by: str
) -> None:
    fake.queue(Script(slow_stream()))
    seen = await first_frames(server.url, k, BODY)
    assert seen[0].event == "start" and seen[0].retry == 2000
    stream_id = orjson.loads(seen[0].data)["stream_id"]
    last_id = seen[-1].id
    status, raw, rest = await resume(server.url, stream_id, last_id, by=by)
    assert status == 200
    assert raw.startswith(b"retry: 2000\nid: %s\n" % last_id.encode())  # id + retry first
    rest = [f for f in rest if f.event]  # the bare retry/id frame dispatches nothing
    text = "".join(orjson.loads(f.data)["text"] for f in [*seen, *rest] if f.event == "text")
    assert text == FULL
    assert [f.event for f in rest if f.event in ("done", "error")] == ["done"]
    assert rest[-1].event == "done"
    ids = [position(f.id) for f in [*seen, *rest] if f.id]
    assert ids == sorted(set(ids)), ids  # strictly increasing: nothing twice
    assert fake.attempts == 1  # the same upstream attempt served both responses


async def test_finished_stream_mid_id_replays_the_rest_and_final_id_is_204(
    server: RunningServer, fake: FakeUpstream
) -> None:
    fake.queue(Script(openai_stream(TOKENS)))
    seen = await first_frames(server.url, 100, BODY)
    stream_id = orjson.loads(seen[0].data)["stream_id"]
    assert seen[-1].event == "done"
    # position 1 is the upstream's start, 2.. the deltas: after 5, the client saw t0..t3 (the
    # frames it got may have merged them: positions do not depend on how frames were cut)
    status, _, rest = await resume(server.url, stream_id, f"{stream_id}.5")
    assert status == 200
    after = "".join(orjson.loads(f.data)["text"] for f in rest if f.event == "text")
    assert after == "".join(TOKENS[4:])
    assert rest[-1].event == "done"
    status, raw, _ = await resume(server.url, stream_id, seen[-1].id)
    assert (status, raw) == (204, b"")
    # no id at all: the whole stream again, from its start frame
    status, _, again = await resume(server.url, stream_id, None)
    assert again[0].event == "start" and again[-1].event == "done"
    assert "".join(orjson.loads(f.data)["text"] for f in again if f.event == "text") == FULL
    assert fake.attempts == 1


async def test_unknown_foreign_malformed_and_expired(
    fake: FakeUpstream,
) -> None:
    keys = [{"id": "a", "sha256": _sha("key-a")}, {"id": "b", "sha256": _sha("key-b")}]
    settings = make_settings(
        providers={"up": fake.openai_provider("m")},
        journal={"backend": "memory", "ttl": 1},
        auth={"keys": keys},
    )
    fake.queue(Script(openai_stream(TOKENS)))
    with serve(create_app(settings)) as running:
        url = running.url
        async with httpx.AsyncClient(timeout=10) as client:
            a = {"authorization": "Bearer key-a"}
            b = {"authorization": "Bearer key-b"}
            posted = await client.post(url + "/api/chat", json=BODY, headers=a)
            frames = SSEDecoder().feed(posted.content)
            stream_id = orjson.loads(frames[0].data)["stream_id"]
            path = f"/api/chat/{stream_id}/stream"
            foreign = await client.get(url + path, headers=b)
            unknown = await client.get(url + "/api/chat/AAAAAAAAAAAAAAAA/stream", headers=a)
            assert foreign.status_code == unknown.status_code == 404
            assert foreign.json()["error"]["message"] == unknown.json()["error"]["message"]
            assert foreign.json()["error"]["code"] == "unknown_stream"
            stop_foreign = await client.post(url + f"/api/chat/{stream_id}/stop", headers=b)
            assert stop_foreign.status_code == 404
            for bad in ("../../etc/passwd", "short", "A" * 17, "AAAAAAAAAAAAAAA%00"):
                got = await client.get(url + f"/api/chat/{bad}/stream", headers=a)
                assert got.status_code in (400, 404), (bad, got.status_code)
                assert got.headers["content-type"].startswith("application/json")
            for last in ("other.3", f"{stream_id}.x", f"{stream_id}.-1", "x" * 5000):
                got = await client.get(url + path, headers={**a, "last-event-id": last})
                assert got.status_code == 400, last
            past = await client.get(url + path, headers={**a, "last-event-id": f"{stream_id}.999"})
            assert past.status_code == 400
            await asyncio.sleep(1.3)
            await client.post(url + "/api/chat", json=BODY, headers=a)  # expiry is swept lazily
            expired = await client.get(url + path, headers={**a, "last-event-id": f"{stream_id}.1"})
            assert expired.status_code == 200
            frames = SSEDecoder().feed(expired.content)
            errors = [orjson.loads(f.data) for f in frames if f.event == "error"]
            assert [e["code"] for e in errors] == ["resume_expired"]
            no_key = await client.get(url + path)
            assert no_key.status_code == 401


def _sha(key: str) -> str:
    import hashlib

    return hashlib.sha256(key.encode()).hexdigest()
