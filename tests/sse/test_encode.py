"""T02: the encoder's exact bytes, and that no argument can inject a field or forge an event.

Exact bytes matter because clients (browsers, the OpenAI SDK, httpx-sse) parse them; the
injection cases matter because ``event``, ``id`` and ``data`` may carry upstream or user text.
"""

from __future__ import annotations

from typing import Any

import pytest

from aichatflow.sse import ServerSentEvent, SSEDecoder, encode_comment, encode_event


def decode_all(raw: bytes) -> tuple[list[ServerSentEvent], SSEDecoder]:
    decoder = SSEDecoder()
    return decoder.feed(raw), decoder


# --------------------------------------------------------------------------- rejected arguments

REJECTED: dict[str, dict[str, Any]] = {
    "event_with_lf_injects_event": {"data": "x", "event": "x\nevent: admin"},
    "event_with_cr": {"data": "x", "event": "x\revent: admin"},
    "event_with_nul": {"data": "x", "event": "a\0b"},
    "id_with_crlf_injects_data": {"data": "x", "id": "1\r\ndata: pwn"},
    "id_with_lf": {"data": "x", "id": "1\n\ndata: pwn"},
    "id_with_cr": {"data": "x", "id": "1\rretry: 1"},
    "id_with_nul_breaks_resume": {"data": "x", "id": "a\0b"},
    "retry_negative": {"data": "x", "retry": -1},
    "retry_bool": {"data": "x", "retry": True},
    "retry_float": {"data": "x", "retry": 1.5},
    "retry_str": {"data": "x", "retry": "5"},
    "no_field_at_all": {},
}


@pytest.mark.parametrize("kwargs", REJECTED.values(), ids=REJECTED.keys())
def test_rejects(kwargs: dict[str, Any]) -> None:
    """Values that would add a line (or a wrong retry) are refused, never silently cleaned."""
    with pytest.raises(ValueError):
        encode_event(**kwargs)


# --------------------------------------------------------------------------- exact bytes

EXACT: dict[str, tuple[bytes, dict[str, Any]]] = {
    "data_only": (b"data: hello\n\n", {"data": "hello"}),
    "typical_full_event": (
        b'retry: 2000\nid: s1.0\nevent: start\ndata: {"model":"m"}\n\n',
        {"data": '{"model":"m"}', "event": "start", "id": "s1.0", "retry": 2000},
    ),
    "retry_zero": (b"retry: 0\ndata: x\n\n", {"data": "x", "retry": 0}),
    "data_cr_lf_crlf_split": (
        b"data: a\ndata: b\ndata: c\ndata: d\n\n",
        {"data": "a\rb\nc\r\nd"},
    ),
    "data_leading_space": (b"data:  x\n\n", {"data": " x"}),
    "data_empty": (b"data: \n\n", {"data": ""}),
    "data_trailing_lf": (b"data: a\ndata: \n\n", {"data": "a\n"}),
    "data_unicode_separators_kept": (
        "data: a\u2028b\u0085c\n\n".encode(),
        {"data": "a\u2028b\u0085c"},
    ),
    "data_nul_kept": (b"data: a\x00b\n\n", {"data": "a\0b"}),
    "event_without_data": (b"event: ping\n\n", {"event": "ping"}),
    "empty_id_clears": (b"id: \ndata: x\n\n", {"data": "x", "id": ""}),
}


@pytest.mark.parametrize(("expected", "kwargs"), EXACT.values(), ids=EXACT.keys())
def test_exact_bytes(expected: bytes, kwargs: dict[str, Any]) -> None:
    """Field order is retry, id, event, data; one space after each colon; LF line ends."""
    assert encode_event(**kwargs) == expected


COMMENTS: dict[str, tuple[bytes, str]] = {
    "heartbeat": (b": hb\n\n", "hb"),
    "empty": (b": \n\n", ""),
    "forged_event": (b": ok\n: \n: data: forged\n\n", "ok\n\ndata: forged"),
    "cr_and_crlf": (b": a\n: b\n: c\n\n", "a\rb\r\nc"),
}


@pytest.mark.parametrize(("expected", "text"), COMMENTS.values(), ids=COMMENTS.keys())
def test_comment_exact_bytes(expected: bytes, text: str) -> None:
    """Each piece of a comment gets its own ``:`` line."""
    assert encode_comment(text) == expected


# --------------------------------------------------------------------------- through the decoder


def test_data_with_every_line_break_is_one_event() -> None:
    """CR, LF and CRLF in data become four data lines that a client joins back with LF."""
    raw = encode_event("a\rb\nc\r\nd")
    assert raw.count(b"data: ") == 4
    events, _ = decode_all(raw)
    assert events == [ServerSentEvent(data="a\nb\nc\nd")]


def test_comment_cannot_forge_an_event() -> None:
    """A blank line or a ``data:`` inside a comment stays inside the comment."""
    raw = encode_comment("ok\n\ndata: forged")
    assert all(line.startswith(b":") for line in raw.split(b"\n")[:-2])
    events, decoder = decode_all(raw)
    assert events == []
    assert decoder.comments == 3


def test_comment_between_events_changes_nothing() -> None:
    """Heartbeats interleaved with events leave the events (and their fields) intact."""
    raw = (
        encode_event("1", event="delta", id="s.1")
        + encode_comment("hb\r\ndata: x")
        + encode_event("2")
    )
    events, decoder = decode_all(raw)
    assert events == [
        ServerSentEvent(data="1", event="delta", id="s.1"),
        ServerSentEvent(data="2", event="message", id="s.1"),
    ]
    assert decoder.last_event_id == "s.1"


def test_typical_event_round_trip() -> None:
    """Every field survives: the decoder sees what the encoder was given."""
    events, decoder = decode_all(encode_event('{"a": 1}', event="delta", id="s1.7", retry=2000))
    assert events == [ServerSentEvent(data='{"a": 1}', event="delta", id="s1.7", retry=2000)]
    assert decoder.retry == 2000


@pytest.mark.parametrize("data", [" x", "  x", " ", "\tx", " a\n b"], ids=repr)
def test_leading_space_in_data_is_preserved(data: str) -> None:
    """The decoder removes exactly one space after the colon: the one the encoder added."""
    events, _ = decode_all(encode_event(data))
    assert [e.data for e in events] == [data]


def test_empty_data_is_one_event_with_empty_data() -> None:
    """``data=""`` still writes a data line, so the client dispatches one empty event."""
    events, _ = decode_all(encode_event(""))
    assert events == [ServerSentEvent(data="")]


def test_event_without_data_dispatches_nothing() -> None:
    """``data=None`` only sets fields: a client dispatches no event but applies the id."""
    events, decoder = decode_all(encode_event(id="s.9", retry=5))
    assert events == []
    assert decoder.last_event_id == "s.9"
    assert decoder.retry == 5


def test_data_that_looks_like_fields_stays_data() -> None:
    """A payload spelling out SSE fields after a line break cannot set them."""
    payload = "x\nevent: admin\nid: 666\nretry: 1\n\ndata: forged"
    events, decoder = decode_all(encode_event(payload))
    assert events == [ServerSentEvent(data=payload)]
    assert decoder.last_event_id == ""
    assert decoder.retry is None
