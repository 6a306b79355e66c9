"""Leaving, stopping and coming back with the Vercel AI SDK (``ai@6`` and ``ai@5`` in Node, each
against a server of its ``[ui] sdk_major``) on ``/api/ui/chat``.

Why these apart: they are about the life of an answer, not the shape of its parts. A reader
that leaves (``useChat``'s Stop aborts the fetch) must not leave the upstream generating for
no one when nothing can resume the answer; and where something can (a journal for the run, a
store to find it by chat id), ``reconnectToStream`` after a reload must get the whole answer
from one upstream call, or ``null`` when nothing is being written.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from aichatflow.dialects.vercel_ui import SdkMajor
from tests.support.node_ai import (
    UIServer,
    chunk_types,
    run_ui_client,
    send_ui,
    start_ui,
    text_of,
    ui_scenario,
    with_steps,
)
from tests.support.server import RunningServer
from tests.support.upstream import (
    Chunks,
    FakeUpstream,
    Script,
    end_chunked,
    event,
    headers,
    openai_stream,
    sleep,
    stall,
)

StartServer = Callable[..., RunningServer]


def test_abort_mid_stream_cancels_the_upstream(
    start_server: StartServer, fake: FakeUpstream, sdk_major: SdkMajor
) -> None:
    """Without a journal an answer lives only as long as its connection: once the reader
    aborts, the upstream call goes too."""
    server = start_ui(start_server, sdk_major, providers={"up": fake.openai_provider("m")})
    c = Chunks()
    slow = [[sleep(0.1), event(c.content(f"w{i} "))] for i in range(3)]
    fake.queue(Script([headers(200), event(c.role()), *slow, stall()]))
    reading = send_ui(server, abortAfterDeltas=2)
    assert reading["aborted"] is True
    assert all(e["name"] == "AbortError" for e in reading["errors"]), reading["errors"]
    assert text_of(reading).startswith("w0 w1 ")
    [request] = fake.wait_requests(1)
    assert request.peer_closed.wait(10), "the server never hung up on the upstream"
    assert request.closed_how == "", request.closed_how  # the server left, not the fake


TOKENS = [f"t{i} " for i in range(10)]


@pytest.fixture
def resumable(
    start_server: StartServer, fake: FakeUpstream, tmp_path: Path, sdk_major: SdkMajor
) -> UIServer:
    """A server whose answers outlive their connection and can be found by chat id: a journal
    (the run) and a conversation store (the chat id's answer in progress)."""
    return start_ui(
        start_server,
        sdk_major,
        providers={"up": fake.openai_provider("m")},
        journal={"backend": "memory"},
        store={"url": f"sqlite+aiosqlite:///{tmp_path / 'chat.db'}"},
    )


def test_reconnect_is_null_when_nothing_is_live(
    start_server: StartServer, resumable: UIServer, fake: FakeUpstream
) -> None:
    server = start_ui(start_server, resumable.major, providers={"up": fake.openai_provider("m")})
    assert run_ui_client(ui_scenario(server, "reconnect")) == {"reconnect": None}  # no journal
    assert run_ui_client(ui_scenario(resumable, "reconnect")) == {"reconnect": None}  # unknown
    fake.queue(Script(openai_stream(TOKENS)))
    assert text_of(send_ui(resumable)) == "".join(TOKENS)
    assert run_ui_client(ui_scenario(resumable, "reconnect")) == {"reconnect": None}  # finished


def test_reconnect_mid_answer_replays_the_whole_answer(
    resumable: UIServer, fake: FakeUpstream
) -> None:
    """What ``useChat({resume: true})`` does after a reload: the first reader leaves after three
    deltas, the answer goes on, and ``reconnectToStream`` gets it from its first part."""
    c = Chunks()
    deltas = [[sleep(0.1), event(c.content(t))] for t in TOKENS]
    fake.queue(Script([headers(200), event(c.role()), *deltas, event(c.finish()), end_chunked()]))
    result = run_ui_client(ui_scenario(resumable, "send-then-reconnect", abortAfterDeltas=3))
    first, again = result["send"], result["reconnect"]
    assert first["aborted"] is True and "".join(TOKENS).startswith(text_of(first))
    assert again is not None, "reconnectToStream found nothing while the answer was running"
    assert again["errors"] == [] and again["unknownFields"] == []
    assert text_of(again) == "".join(TOKENS)
    assert again["message"]["id"] == first["message"]["id"]  # the same answer, replayed
    text = ["text-start", "text-delta", "text-end"]
    assert chunk_types(again) == with_steps(["start", *text, "finish"])
    assert fake.attempts == 1  # one upstream call served both readers


def test_a_stop_ends_the_stream_with_an_abort_part_the_sdk_accepts(
    resumable: UIServer, fake: FakeUpstream
) -> None:
    """``POST /api/ui/chat/{id}/stop`` while the SDK reads: the stream it reads ends with
    ``abort`` (ai@6 with ``reason``, ai@5 bare), which it takes as the end, not an error."""
    c = Chunks()
    deltas = [[sleep(0.1), event(c.content(t))] for t in TOKENS]
    fake.queue(Script([headers(200), event(c.role()), *deltas, stall()]))
    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(run_ui_client, ui_scenario(resumable, "send"))
        fake.wait_requests(1)
        time.sleep(0.35)  # a few deltas on their way
        stop = httpx.post(resumable.url + "/api/ui/chat/chat-1/stop", timeout=10)
        reading = running.result(timeout=70)["send"]
    assert stop.json() == {"id": "chat-1", "stopped": True}
    assert reading["errors"] == [] and reading["unknownFields"] == []
    reason = {"reason": "cancelled"} if resumable.major >= 6 else {}
    assert reading["chunks"][-1] == {"type": "abort", **reason}
    assert "finish" not in chunk_types(reading)
    assert "".join(TOKENS).startswith(text_of(reading)) and text_of(reading)
