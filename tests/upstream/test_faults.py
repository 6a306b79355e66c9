"""Upstream faults T07-T13 (docs/reliability.md), on ``/api/chat`` and ``/v1/chat/completions``.

Every fault must end with exactly one terminal frame carrying the right code, after exactly the
content the upstream produced (never a retry once content was sent: duplicated text), and the
server must close the upstream connection itself: a stream that ends but leaves the upstream
open keeps a model generating tokens nobody reads.
"""

from __future__ import annotations

import pytest

from tests.support.server import LogCapture
from tests.support.upstream import (
    Action,
    Chunks,
    FakeUpstream,
    RecordedRequest,
    Script,
    comment,
    data,
    done,
    event,
    fin,
    headers,
    mark,
    raw,
    repeat,
    rst,
    sleep,
    stall,
)

from ._client import AT_ONCE, NATIVE, OPENAI, TIMER_SLACK, Result, assert_clean, chat, raw_chat
from .conftest import ServeFn

C = Chunks()
DELTAS = ["one ", "two ", "three ", "four ", "five"]


def prefix(texts: list[str]) -> list[Action]:
    """Headers, the role chunk and one content chunk per text."""
    return [headers(200), event(C.role()), *(event(C.content(t)) for t in texts)]


def assert_error(result: Result, code: str, *, retryable: bool | None = None) -> None:
    """One terminal error frame with ``code``; ``/v1`` never follows it with ``[DONE]``."""
    assert result.status == 200
    assert result.error_code == code, result.frames[-3:]
    if result.native:
        assert result.terminals[0].event == "error"
        if retryable is not None:
            assert result.error is not None and result.error["retryable"] is retryable
    else:
        assert not [f for f in result.frames if f.data == "[DONE]"]
        assert result.error is not None and result.error["type"] == code


def closed_after(rec: RecordedRequest, t: float) -> float:
    """Seconds from ``t`` until the server closed the upstream connection (may be < 0)."""
    closed_at = rec.wait_peer_closed(2.0)
    assert closed_at is not None, "the server did not close the upstream connection"
    return closed_at - t


# --- T07 -------------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["fin", "rst"])
async def test_upstream_drop_mid_stream_ends_with_disconnected_and_no_retry(
    fake: FakeUpstream, serve: ServeFn, server_logs: LogCapture, path: str, how: str
) -> None:
    """FIN without the chunked terminator, or RST, after 5 deltas: the 5 deltas once, then
    ``upstream_disconnected`` (retryable), and no retry although max_retries allows 2."""
    end = [fin(), stall(5)] if how == "fin" else [sleep(0.1), rst()]
    fake.queue(Script([*prefix(DELTAS), *end]))
    fake.default = Script([*prefix(["RETRIED"]), stall(5)])
    result = await chat(serve(max_retries=2).url, path)
    assert result.text == "".join(DELTAS)
    assert_error(result, "upstream_disconnected", retryable=True)
    assert fake.attempts == 1
    assert fake.requests[0].closed_how == how
    assert_clean(result, fake, server_logs)


async def test_upstream_reset_still_ends_the_response_for_a_raw_client(
    fake: FakeUpstream, serve: ServeFn, server_logs: LogCapture
) -> None:
    """The same drop seen by a raw-socket client: the response still ends properly (chunked
    terminator after the error frame), so no client has to rely on a timeout."""
    fake.queue(Script([*prefix(DELTAS), sleep(0.1), rst()]))
    result = await raw_chat(serve().url, NATIVE)
    # Not left to a timeout: the provider's 10 s read timeout, the client's own 15 s.
    assert result.ended_at is not None and result.ended_at - result.sent_at < 5.0
    assert result.text == "".join(DELTAS)
    assert_error(result, "upstream_disconnected", retryable=True)
    assert_clean(result, fake, server_logs)


# --- T08 -------------------------------------------------------------------------------------


async def test_no_first_token_sends_start_at_once_then_upstream_timeout(
    fake: FakeUpstream, serve: ServeFn, server_logs: LogCapture
) -> None:
    """Headers never come: ``start`` at once (proxies see life), ``upstream_timeout`` at 1 s."""
    fake.queue(Script([stall(10)]))
    result = await chat(serve(stream={"first_token": 1.0}).url, NATIVE)
    start, last = result.frames[0], result.frames[-1]
    # At once: in the first half of the wait. Held back for the upstream's headers, ``start``
    # would come with the error, 1 s in.
    assert start.event == "start" and start.at - result.sent_at < 0.5
    assert [f.event for f in result.frames] == ["start", "error"]
    assert_error(result, "upstream_timeout", retryable=True)
    assert 0.9 <= last.at - result.sent_at <= 1.0 + TIMER_SLACK
    rec = fake.requests[0]
    assert 0 < closed_after(rec, rec.received_at) <= 1.0 + TIMER_SLACK
    assert_clean(result, fake, server_logs)


async def test_no_first_token_on_v1_is_an_http_504(
    fake: FakeUpstream, serve: ServeFn, server_logs: LogCapture
) -> None:
    """``/v1`` holds its headers until the upstream answers, so the timeout is a real 504
    with ``x-should-retry: false`` (aichatflow is the one retry layer)."""
    fake.queue(Script([stall(10)]))
    result = await chat(serve(stream={"first_token": 1.0}).url, OPENAI)
    assert result.status == 504
    assert result.headers["x-should-retry"] == "false"
    assert result.headers["content-type"].startswith("application/json")
    assert result.body_json()["error"]["code"] == "upstream_timeout"
    assert result.ended_at is not None
    assert 0.9 <= result.ended_at - result.sent_at <= 1.0 + TIMER_SLACK
    rec = fake.requests[0]
    assert 0 < closed_after(rec, rec.received_at) <= 1.0 + TIMER_SLACK
    assert_clean(result, fake, server_logs)


# --- T09 -------------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", ["silence", "keepalives"])
async def test_stalled_upstream_times_out_even_with_keepalives(
    fake: FakeUpstream, serve: ServeFn, server_logs: LogCapture, path: str, variant: str
) -> None:
    """(a) silence: the provider's bytes-idle timer (read_timeout=1) fires; (b) keep-alives
    every 0.2 s reset bytes-idle forever (earendil-works/pi#5558), so the engine's
    content-progress timer (1.5 s) must fire anyway."""
    if variant == "silence":
        tail, server = [stall(10)], serve(read_timeout=1.0)
        expected = (0.9, 1.0 + TIMER_SLACK)
    else:  # 10 s of keep-alives: a progress timer they reset would fire 10 s late
        tail = repeat(50, comment("keep-alive"), sleep(0.2))
        server = serve(read_timeout=10.0, stream={"progress": 1.5})
        expected = (1.4, 1.5 + TIMER_SLACK)
    fake.queue(Script([*prefix(["a", "b", "c"]), mark("stalled"), *tail]))
    result = await chat(server.url, path)
    assert result.text == "abc"
    assert_error(result, "upstream_timeout", retryable=True)
    rec = fake.requests[0]
    error_at = result.terminals[0].at
    low, high = expected
    assert low <= error_at - rec.marks["stalled"] <= high
    assert closed_after(rec, error_at) <= AT_ONCE
    if variant == "keepalives":
        assert rec.writes_after(rec.marks["stalled"]) >= 6  # keep-alives really flowed
    assert_clean(result, fake, server_logs)


# --- T10 -------------------------------------------------------------------------------------


async def test_upstream_done_ends_the_stream_though_its_socket_stays_open(
    fake: FakeUpstream, serve: ServeFn, server_logs: LogCapture, path: str
) -> None:
    """``[DONE]`` without the chunked terminator, socket kept open: ``done`` right away, and the
    server closes the upstream itself (it must not wait for the end of the body)."""
    steps = [*prefix(["w", "x", "y", "z"]), event(C.finish()), mark("done"), done(), stall(10)]
    fake.queue(Script(steps))
    result = await chat(serve().url, path)
    assert result.text == "wxyz"
    terminal = result.terminals[0]
    assert terminal.event == "done" if result.native else terminal.data == "[DONE]"
    rec = fake.requests[0]
    assert terminal.at - rec.marks["done"] <= AT_ONCE  # not when the upstream's 10 s stall ends
    assert closed_after(rec, terminal.at) <= AT_ONCE
    assert_clean(result, fake, server_logs)


# --- T11 -------------------------------------------------------------------------------------


async def test_invalid_json_mid_stream_is_a_bad_response_not_retried(
    fake: FakeUpstream, serve: ServeFn, server_logs: LogCapture, path: str
) -> None:
    broken = '{"id":"chatcmpl-7x","object":"chat.completion.chunk","choices":[{"index":0,"del'
    fake.queue(Script([*prefix(["ok ", "so far"]), data(broken), *prefix(["NEVER"])[1:], stall(5)]))
    fake.default = Script([*prefix(["RETRIED"]), stall(5)])
    result = await chat(serve(max_retries=2).url, path)
    assert result.text == "ok so far"
    assert_error(result, "upstream_bad_response", retryable=False)
    assert fake.attempts == 1
    assert_clean(result, fake, server_logs)


# --- T12 -------------------------------------------------------------------------------------

IN_BAND = {
    "openai": (
        {"error": {"message": "overloaded", "type": "server_error"}},
        "overloaded",
        "upstream_overloaded",
        True,
    ),
    "openai_then_done": (
        {"error": {"message": "The server had an error", "type": "server_error", "code": None}},
        "server had an error",
        "upstream_error",
        True,
    ),
    # vLLM reports a request it rejects (here: prompt too long) in-band with its HTTP code:
    # that is the caller's fault, so not retryable.
    "vllm": (
        {"object": "error", "message": "too long", "type": "BadRequestError", "code": 400},
        "too long",
        "bad_request",
        False,
    ),
}


@pytest.mark.parametrize("shape", sorted(IN_BAND))
async def test_in_band_error_object_ends_the_stream_with_its_code(
    fake: FakeUpstream, serve: ServeFn, server_logs: LogCapture, path: str, shape: str
) -> None:
    """An error object inside a 200 stream ends it with the mapped code and the upstream's
    (sanitised) message; some gateways add ``[DONE]`` after it: still an error."""
    payload, message, code, retryable = IN_BAND[shape]
    after = [done()] if shape == "openai_then_done" else []
    fake.queue(Script([*prefix(["x", "y"]), event(payload), *after, stall(5)]))
    fake.default = Script([*prefix(["RETRIED"]), stall(5)])
    result = await chat(serve(max_retries=2).url, path)
    assert result.text == "xy"
    assert_error(result, code, retryable=retryable)
    assert result.error is not None and message in result.error["message"]
    assert fake.attempts == 1
    assert_clean(result, fake, server_logs)


# --- T13 -------------------------------------------------------------------------------------


async def test_oversized_upstream_event_is_refused_and_upstream_closed(
    fake: FakeUpstream, serve: ServeFn, server_logs: LogCapture, path: str
) -> None:
    """An event growing past ``max_event_bytes`` (here 64 KiB, with no newline in sight) is
    refused as soon as the limit is passed, not buffered until it ends."""
    endless = b'data: {"choices":[{"index":0,"delta":{"content":"' + b"z" * 150_000
    fake.queue(Script([*prefix(["fine"]), sleep(0.05), mark("big"), raw(endless), stall(10)]))
    result = await chat(serve(max_event_bytes=65536).url, path)
    assert result.text == "fine"
    assert_error(result, "event_too_large", retryable=False)
    rec = fake.requests[0]
    error_at = result.terminals[0].at
    assert error_at - rec.marks["big"] < AT_ONCE  # not at the end of the event (never comes)
    assert closed_after(rec, error_at) <= AT_ONCE
    assert_clean(result, fake, server_logs)
