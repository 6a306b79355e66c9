"""The one read loop of the HTTP providers (``providers/_batches.py``), on its own.

It is driven here with the real decoders and a small parser, over an in-memory body whose reads
are given one by one (the providers' tests drive it over real sockets): one batch per read,
never waiting for more; what came before a bad or oversized item is delivered; the parser's
``True`` stops the reading; the end of the body goes to the decoder's ``close`` and the parser's
``end``; a lost connection is the error of a cut answer, and no excuse for a complete one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from aichatflow.errors import EventTooLarge, UpstreamBadResponse, UpstreamDisconnected
from aichatflow.events import ChatEvent, Finish, TextDelta
from aichatflow.providers._batches import read_batches
from aichatflow.providers.gemini._decode import GeminiSSEDecoder
from aichatflow.sse import Decoder, NDJSONDecoder, ServerSentEvent, SSEDecoder, SSEEventTooLarge

STOP = Finish(reason="stop")


class Body:
    """An upstream body as its reads; ``lost`` is raised after them, as ``chunks()`` does."""

    def __init__(self, *reads: bytes, lost: UpstreamDisconnected | None = None) -> None:
        self.reads = reads
        self.lost = lost
        self.pulled = 0
        self.closed = False

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            for read in self.reads:
                self.pulled += 1
                yield read
            if self.lost is not None:
                raise self.lost
        finally:
            self.closed = True


class Parser:
    """``stop`` completes the answer; a ``{`` payload must be JSON; anything else is text.
    ``end`` completes the answer only when ``complete_at_end`` (Gemini's way)."""

    def __init__(self, complete_at_end: bool = False) -> None:
        self.complete_at_end = complete_at_end
        self.ends: list[bool] = []

    def feed(self, item: ServerSentEvent | bytes, out: list[ChatEvent]) -> bool:
        data = item.data if isinstance(item, ServerSentEvent) else item.decode()
        if data == "stop":
            out.append(STOP)
            return True
        if data.startswith("{"):
            try:
                orjson.loads(data)
            except orjson.JSONDecodeError:
                raise UpstreamBadResponse("p: not JSON", provider="p") from None
        out.append(TextDelta(data))
        return False

    def end(self, lost: bool) -> list[ChatEvent]:
        self.ends.append(lost)
        if not self.complete_at_end:
            raise UpstreamDisconnected("p: cut", provider="p")
        return [STOP]


async def run(
    body: Body, parser: Parser, decoder: Decoder[Any] | None = None
) -> tuple[list[list[ChatEvent]], Exception | None]:
    batches: list[list[ChatEvent]] = []
    try:
        async for batch in read_batches(body.chunks(), decoder or SSEDecoder(), parser, "p"):
            batches.append(batch)
    except Exception as exc:
        return batches, exc
    return batches, None


def texts(*words: str) -> list[ChatEvent]:
    return [TextDelta(w) for w in words]


async def test_one_batch_per_read_and_nothing_for_a_read_that_completes_nothing() -> None:
    body = Body(b"data: a\n\ndata: b\n\n", b"data: c\n", b"\n", b"data: stop\n\n")
    batches, error = await run(body, Parser())
    assert error is None
    assert batches == [texts("a", "b"), texts("c"), [STOP]]
    assert body.closed


async def test_reading_stops_when_the_parser_says_the_answer_is_complete() -> None:
    body = Body(b"data: stop\n\ndata: never\n\n", b"data: never\n\n")
    parser = Parser()
    batches, error = await run(body, parser)
    assert (batches, error) == ([[STOP]], None)
    assert body.pulled == 1 and body.closed and parser.ends == []


async def test_events_before_a_bad_item_in_the_same_read_are_delivered_first() -> None:
    batches, error = await run(Body(b"data: a\n\ndata: {nope\n\ndata: c\n\n"), Parser())
    assert batches == [texts("a")]
    assert isinstance(error, UpstreamBadResponse)


async def test_an_item_over_the_bound_is_event_too_large_after_the_items_before_it() -> None:
    body = Body(b"data: a\n\ndata: " + b"x" * 40 + b"\n\n")
    batches, error = await run(body, Parser(), SSEDecoder(32))
    assert batches == [texts("a")]
    assert isinstance(error, EventTooLarge) and error.limit == 32  # the application's error
    assert not isinstance(error, SSEEventTooLarge)


async def test_an_answer_complete_before_the_oversized_item_is_not_refused() -> None:
    body = Body(b"data: stop\n\ndata: " + b"x" * 40)
    assert await run(body, Parser(), SSEDecoder(32)) == ([[STOP]], None)


@pytest.mark.parametrize("complete_at_end", [False, True])
async def test_a_closed_body_asks_the_parser_to_end(complete_at_end: bool) -> None:
    parser = Parser(complete_at_end)
    batches, error = await run(Body(b"data: a\n\n"), parser)
    assert parser.ends == [False]
    if complete_at_end:
        assert (batches, error) == ([texts("a"), [STOP]], None)
    else:
        assert batches == [texts("a")]
        assert isinstance(error, UpstreamDisconnected) and error.message == "p: cut"


@pytest.mark.parametrize("complete_at_end", [False, True])
async def test_a_lost_connection_is_the_error_of_a_cut_answer_only(complete_at_end: bool) -> None:
    lost = UpstreamDisconnected("p: upstream connection lost", provider="p")
    parser = Parser(complete_at_end)
    batches, error = await run(Body(b"data: a\n\n", lost=lost), parser)
    assert parser.ends == [True]
    if complete_at_end:
        assert (batches, error) == ([texts("a"), [STOP]], None)
    else:
        assert batches == [texts("a")] and error is lost  # not the parser's "p: cut"


@pytest.mark.parametrize("lost", [False, True])
async def test_an_item_only_the_end_completes_is_cut_short_after_a_lost_connection(
    lost: bool,
) -> None:
    """Gemini's decoder emits an open bare object at ``close``: after a closed body it is a bad
    payload; after a lost connection, an object the loss cut short."""
    loss = UpstreamDisconnected("p: lost", provider="p") if lost else None
    body = Body(b'data: a\n\n{"error": {"code":', lost=loss)
    batches, error = await run(body, Parser(complete_at_end=True), GeminiSSEDecoder(1 << 20))
    if lost:
        assert (batches, error) == ([texts("a"), [STOP]], None)
    else:
        assert batches == [texts("a")] and isinstance(error, UpstreamBadResponse)


@pytest.mark.parametrize("lost", [False, True])
async def test_a_line_cut_in_the_middle_is_a_disconnect(lost: bool) -> None:
    loss = UpstreamDisconnected("p: lost", provider="p") if lost else None
    parser = Parser()
    batches, error = await run(Body(b"a\n", b"b\nhal", lost=loss), parser, NDJSONDecoder())
    assert batches == [texts("a"), texts("b")]
    assert isinstance(error, UpstreamDisconnected)
    if lost:
        assert error is loss
    else:
        assert error.message == "p: upstream closed the stream in the middle of a line"
    assert parser.ends == []  # the decoder's verdict comes first
