"""Gemini's decoder as a ``Decoder`` of its own: SSE events and bare JSON objects, in order.

``GeminiSSEDecoder`` is composed of the shared ``LineSplitter`` and an ``SSEDecoder``'s field layer
(it no longer subclasses the SSE decoder), so these tests drive it the way the read loop does
(``feed`` per read, then ``close``) and check that the result never depends on how the bytes
arrive: in one chunk and byte by byte (``test_gemini.py`` cuts the fixture at every position,
and drives the provider over real sockets).
"""

from __future__ import annotations

import orjson
import pytest

from aichatflow.providers.gemini._decode import BARE, GeminiSSEDecoder
from aichatflow.sse import Decoder, ServerSentEvent, SSEEventTooLarge

from .contract import fixture

BARE_503 = fixture("gemini", "bare_error.sse")


def decode(pieces: list[bytes], limit: int = 1 << 20) -> list[ServerSentEvent]:
    decoder = GeminiSSEDecoder(limit)
    return [e for piece in pieces for e in decoder.feed(piece)] + decoder.close()


def bytewise(raw: bytes) -> list[bytes]:
    return [raw[i : i + 1] for i in range(len(raw))]


def test_it_is_a_decoder() -> None:
    assert isinstance(GeminiSSEDecoder(1024), Decoder)


@pytest.mark.parametrize("eol", [b"\n", b"\r\n", b"\r"])
def test_bare_error_the_same_in_one_chunk_and_byte_by_byte(eol: bytes) -> None:
    body = BARE_503.replace(b"\n", eol)
    at_once = decode([body])
    assert [e.event for e in at_once] == ["message", "message", BARE]
    assert orjson.loads(at_once[2].data)["error"]["status"] == "UNAVAILABLE"
    assert decode(bytewise(body)) == at_once


def test_a_bare_object_is_emitted_when_its_last_brace_arrives_not_at_the_end() -> None:
    """An upstream that writes the error and then keeps the connection open cannot hold it
    back: the object leaves with the read that closes it, before any ``close``."""
    decoder = GeminiSSEDecoder(1 << 20)
    head, last = BARE_503[:-2], BARE_503[-2:]  # the last "}\n"
    assert [e.event for e in decoder.feed(head)] == ["message", "message"]
    assert [e.event for e in decoder.feed(last)] == [BARE]
    assert decoder.close() == []


def test_close_ends_a_last_line_without_its_newline() -> None:
    """A bare ``}`` often ends the body with no newline after it."""
    decoder = GeminiSSEDecoder(1 << 20)
    assert decoder.feed(b'{"error": {"code": 500,\n"status": "INTERNAL"}}') == []
    events = decoder.close()
    assert [e.event for e in events] == [BARE]
    assert orjson.loads(events[0].data)["error"]["status"] == "INTERNAL"


def test_an_object_still_open_is_emitted_as_it_is_when_an_sse_line_or_the_end_comes() -> None:
    for tail, expected in ((b"data: {}\n\n", [BARE, "message"]), (b"", [BARE])):
        events = decode([b'{\n  "error": {\n', tail])
        assert [e.event for e in events] == expected
        assert events[0].data == '{\n  "error": {'  # emitted whole, to fail in the parser


def test_a_bare_object_over_the_bound_is_refused_with_the_events_before_it() -> None:
    body = b"data: {}\n\n{\n" + b'  "x": 1,\n' * 100
    for pieces in ([body], bytewise(body)):
        decoder = GeminiSSEDecoder(256)
        events: list[ServerSentEvent] = []
        with pytest.raises(SSEEventTooLarge) as info:
            for piece in pieces:
                events += decoder.feed(piece)
        events += info.value.partial
        assert info.value.limit == 256
        assert [(e.event, e.data) for e in events] == [("message", "{}")]


def test_an_sse_event_over_the_bound_is_refused_like_plain_sse() -> None:
    with pytest.raises(SSEEventTooLarge) as info:
        GeminiSSEDecoder(64).feed(b"data: {}\n\ndata: " + b"x" * 100)
    assert [e.data for e in info.value.partial] == ["{}"]
