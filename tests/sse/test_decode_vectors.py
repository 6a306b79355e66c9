"""T01: byte-level decoder vectors from the WHATWG rules (HTML 9.2.5/9.2.6) and WPT ``format-*``.

Each vector is a byte string and the exact events a conforming ``EventSource`` would dispatch,
as ``(event, data, id, retry)``, where ``id`` is the last event id in force at dispatch and
``retry`` the reconnection time last set by the stream. Vectors named ``wpt_*`` reproduce the
bytes a WPT ``eventsource/format-*`` file makes its server send (``resources/message.py``
writes ``message + newline + "\\n"``, ``newline`` defaulting to ``"\\n\\n"``).

Every vector is fed whole, byte by byte, split in two at every position, in seeded random
multi-splits, and with empty chunks interleaved: a decoder reading a socket sees all of these,
so the result must never depend on where the network cut the bytes.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import NamedTuple

import pytest

from aichatflow.sse import ServerSentEvent, SSEDecoder, SSEEventTooLarge

BOM = b"\xef\xbb\xbf"
LONG = b"x" * 2048  # WPT format-comments.js: "cannot make the string too long"


class Ev(NamedTuple):
    event: str
    data: str
    id: str = ""
    retry: int | None = None


def msg(data: str, id: str = "", retry: int | None = None) -> Ev:
    """An event of the default type ``message``."""
    return Ev("message", data, id, retry)


@dataclass(frozen=True)
class Vector:
    name: str
    raw: bytes
    events: tuple[Ev, ...]
    last_event_id: str = ""
    retry: int | None = None
    comments: int | None = None  # checked only when given


def V(
    name: str,
    raw: bytes,
    *events: Ev,
    last_event_id: str = "",
    retry: int | None = None,
    comments: int | None = None,
) -> Vector:
    """One table row; a short name so the table reads as data."""
    return Vector(name, raw, events, last_event_id, retry, comments)


VECTORS: list[Vector] = [
    V("simple", b"data: hello\n\n", msg("hello")),
    # --- BOM (decode: one leading U+FEFF is stripped, a second one is part of the field name)
    V("wpt_format_bom", BOM + b"data:1\n\n" + BOM + b"data:2\n\ndata:3\n\n\n", msg("1"), msg("3")),
    V(
        "wpt_format_bom_2_double_bom",
        BOM + BOM + b"data:1\n\ndata:2\n\ndata:3\n\n\n",
        msg("2"),
        msg("3"),
    ),
    V("bom_alone_on_first_line", BOM + b"\ndata: 1\n\n", msg("1")),
    V("bom_then_comment", BOM + b":hi\ndata: 1\n\n", msg("1"), comments=1),
    # --- line ends: CRLF / CR / LF, never anything else
    V("lf_only", b"data: a\ndata: b\n\n", msg("a\nb")),
    V("cr_only", b"data: a\rdata: b\r\r", msg("a\nb")),
    V("crlf_only", b"data: a\r\ndata: b\r\n\r\n", msg("a\nb")),
    V("mixed_line_ends", b"data: 1\r\n\rdata: 2\n\r\ndata: 3\r\r", msg("1"), msg("2"), msg("3")),
    V("lf_then_cr_is_two_breaks", b"data: a\n\rdata: b\n\n", msg("a"), msg("b")),
    V("cr_then_crlf_is_two_breaks", b"data: a\r\r\ndata: b\n\n", msg("a"), msg("b")),
    V("blank_lines_only", b"\n\r\n\r\n\r"),
    # --- comments
    V(
        "wpt_format_comments",
        b"data:1\r:\x00\n:\r\ndata:2\n:"
        + LONG
        + b"\rdata:3\n:data:fail\r:"
        + LONG
        + b"\ndata:4\n"
        + b"\n",
        msg("1\n2\n3\n4"),
        comments=5,
    ),
    V("comments_only", b":\n: hb\n:\r\n\n", comments=3),
    # --- field splitting: name before the first colon, one leading space removed from the value
    V(
        "wpt_format_field_data",
        b"data:\n\ndata\ndata\n\ndata:test\n\n\n",
        msg(""),
        msg("\n"),
        msg("test"),
    ),
    V("data_without_colon", b"data\n\n", msg("")),
    V("data_two_spaces_keeps_one", b"data:  x\n\n", msg(" x")),
    V("data_no_space_after_colon", b"data:x\n\n", msg("x")),
    V("data_tab_not_stripped", b"data:\tx\n\n", msg("\tx")),
    V("data_extra_colons_kept", b"data: a: b\n\n", msg("a: b")),
    V("space_before_colon_is_another_field", b"data : x\ndata: y\n\n", msg("y")),
    V("multi_line_data_joined_with_lf", b"data: a\ndata:\ndata: c\n\n", msg("a\n\nc")),
    V("data_trailing_empty_line_keeps_one_lf", b"data: a\ndata:\n\n", msg("a\n")),
    V("empty_data_line_dispatches_empty_string", b"data: \n\n", msg("")),
    V(
        "event_data_js_lines",  # modelled on WPT event-data.js (resources/message2.py)
        b"data:msg\ndata:msg\n\n:\nfalsefield:msg\n\nfalsefield:msg\nData:data\n\ndata\n\ndata:end\n\n",
        msg("msg\nmsg"),
        msg(""),
        msg("end"),
        comments=1,
    ),
    # --- event type
    V("event_name", b"event: ping\ndata: x\n\n", Ev("ping", "x")),
    V("wpt_format_field_event", b"event:test\ndata:x\n\ndata:x\n\n\n", Ev("test", "x"), msg("x")),
    V("wpt_format_field_event_empty", b"event: \ndata:data\n\n\n", msg("data")),
    V("event_last_wins", b"event: a\nevent: b\ndata: x\n\n", Ev("b", "x")),
    V("event_without_data_dispatches_nothing", b"event: ping\n\ndata: x\n\n", msg("x")),
    # --- id
    V(
        "id_persists",
        b"id: 1\ndata: a\n\ndata: b\n\n",
        msg("a", "1"),
        msg("b", "1"),
        last_event_id="1",
    ),
    V(
        "id_with_nul_ignored",
        b"id: 1\ndata: a\n\nid: 2\x00\ndata: b\n\n",
        msg("a", "1"),
        msg("b", "1"),
        last_event_id="1",
    ),
    V("wpt_format_field_id_null", b"id:\x00\x00\ndata: hello\n\n", msg("hello")),
    V(
        "empty_id_clears",
        b"id: 1\ndata: a\n\nid:\ndata: b\n\nid: 2\ndata: c\n\nid\ndata: d\n\n",
        msg("a", "1"),
        msg("b", ""),
        msg("c", "2"),
        msg("d", ""),
    ),
    V("id_only_event_updates_last_id", b"id: 7\n\n", last_event_id="7"),
    V("id_keeps_inner_spaces", b"id:  x y \ndata: d\n\n", msg("d", " x y "), last_event_id=" x y "),
    V("id_last_wins", b"id: a\nid: b\ndata: d\n\n", msg("d", "b"), last_event_id="b"),
    # --- end of stream: an event without its blank line is dropped, its id is not applied
    V(
        "wpt_format_data_before_final_empty_line",
        b"retry:1000\ndata:test1\n\nid:test\ndata:test2\n",
        msg("test1", retry=1000),
        retry=1000,
    ),
    V("trailing_event_without_line_end", b"data: a\n\nid: 9\ndata: b", msg("a")),
    # --- retry: only all-ASCII-digit values are applied
    V("retry_applied", b"retry: 1000\ndata: x\n\n", msg("x", retry=1000), retry=1000),
    V(
        "wpt_format_field_retry_leading_zero",
        b"retry:02000\ndata:x\n\n\n",
        msg("x", retry=2000),
        retry=2000,
    ),
    V(
        "wpt_format_field_retry_bogus",
        b"retry:2000\nretry:1000x\ndata:x\n\n\n",
        msg("x", retry=2000),
        retry=2000,
    ),
    V("retry_plus_sign_ignored", b"retry: +5\ndata: x\n\n", msg("x")),
    V("retry_leading_space_in_value_ignored", b"retry:  5\ndata: x\n\n", msg("x")),
    V("retry_trailing_space_ignored", b"retry: 5 \ndata: x\n\n", msg("x")),
    V("retry_non_ascii_digits_ignored", "retry: ١٢\nretry: ²\ndata: x\n\n".encode(), msg("x")),
    V(
        "retry_without_data_still_applied",
        b"retry: 300\n\ndata: x\n\n",
        msg("x", retry=300),
        retry=300,
    ),
    # --- unknown and misspelt fields
    V(
        "wpt_format_field_unknown",
        b"data:test\n data\ndata\nfoobar:xxx\njustsometext\n:thisisacommentyay\ndata:test\n\n",
        msg("test\n\ntest"),
        comments=1,
    ),
    V("field_names_case_sensitive", b"Data: x\nDATA: y\nEvent: e\nID: 3\ndata: z\n\n", msg("z")),
    # --- data is delivered as decoded text, NUL and Unicode separators included
    V("wpt_format_null_character", b"data:\x00\n\n\n", msg("\x00")),
    V("nul_inside_data", b"data: a\x00b\n\n", msg("a\x00b")),
    V(
        "unicode_separators_are_not_line_breaks",
        "data: a\u2028b\u2029c\u0085d\x0be\x0cf\x1cg\n\n".encode(),
        msg("a\u2028b\u2029c\u0085d\x0be\x0cf\x1cg"),
    ),
    V("wpt_format_utf_8", b"data:ok\xe2\x80\xa6\n\n\n", msg("ok\u2026")),
    V(
        "multibyte_utf8",
        "data: h\u00e9llo \U0001f600 \u4e2d\u6587\n\n".encode(),
        msg("h\u00e9llo \U0001f600 \u4e2d\u6587"),
    ),
    V("invalid_utf8_becomes_replacement", b"data: a\xffb\xc3\n\n", msg("a\ufffdb\ufffd")),
    V(
        "truncated_utf8_before_line_end",
        b"data: \xe2\x82\ndata: \xf0\x9f\x98\rdata: \xc0\xaf\n\n",
        msg("\ufffd\n\ufffd\n\ufffd\ufffd"),
    ),
    V("invalid_utf8_in_field_name", b"d\xffata: x\ndata: y\n\n", msg("y")),
]

# --------------------------------------------------------------------------- feeding styles

Chunkings = Callable[[bytes], Iterator[list[bytes]]]


def whole(raw: bytes) -> Iterator[list[bytes]]:
    yield [raw]


def byte_by_byte(raw: bytes) -> Iterator[list[bytes]]:
    yield [raw[i : i + 1] for i in range(len(raw))]


def every_split_point(raw: bytes) -> Iterator[list[bytes]]:
    """Two non-empty chunks, cut at every position (inside UTF-8, between CR and LF...)."""
    for cut in range(1, len(raw)):
        yield [raw[:cut], raw[cut:]]


def random_multi_splits(raw: bytes) -> Iterator[list[bytes]]:
    """A few seeded, reproducible cuttings into up to 12 non-empty chunks."""
    if len(raw) < 2:
        yield [raw]
        return
    for seed in range(8):
        rng = random.Random(f"{seed}:{raw!r}")
        cuts = sorted(rng.sample(range(1, len(raw)), k=min(len(raw) - 1, rng.randint(1, 11))))
        yield [raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)], strict=True)]


def empty_chunks_interleaved(raw: bytes) -> Iterator[list[bytes]]:
    """``b""`` before, between and after every byte: an empty read must change nothing."""
    chunks = [b""]
    for i in range(len(raw)):
        chunks += [raw[i : i + 1], b""]
    yield chunks


STYLES: dict[str, Chunkings] = {
    "whole": whole,
    "byte_by_byte": byte_by_byte,
    "every_split_point": every_split_point,
    "random_multi_splits": random_multi_splits,
    "empty_chunks_interleaved": empty_chunks_interleaved,
}


def describe(chunks: list[bytes]) -> str:
    """A failure message that names the cutting without dumping kilobytes."""
    if sum(map(len, chunks)) <= 200 and len(chunks) <= 12:
        return f"chunks={chunks!r}"
    return f"{len(chunks)} chunks of sizes {[len(c) for c in chunks][:20]}"


def as_tuple(event: ServerSentEvent) -> Ev:
    return Ev(event.event, event.data, event.id, event.retry)


@dataclass(frozen=True)
class Outcome:
    events: tuple[Ev, ...]
    last_event_id: str
    retry: int | None
    comments: int


def decode(chunks: list[bytes]) -> Outcome:
    decoder = SSEDecoder()
    events: list[Ev] = []
    for chunk in chunks:
        events += map(as_tuple, decoder.feed(chunk))
    return Outcome(tuple(events), decoder.last_event_id, decoder.retry, decoder.comments)


# --------------------------------------------------------------------------- the vectors


def test_vector_names_are_unique() -> None:
    """Duplicate ids would silently hide a vector from ``-k`` selection."""
    names = [v.name for v in VECTORS]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("style", STYLES.values(), ids=STYLES.keys())
@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: v.name)
def test_vector(vector: Vector, style: Chunkings) -> None:
    """The decoded events, last event id and retry match the table however the bytes arrive."""
    for chunks in style(vector.raw):
        got = decode(chunks)
        where = describe(chunks)
        assert got.events == vector.events, where
        assert got.last_event_id == vector.last_event_id, where
        assert got.retry == vector.retry, where
        if vector.comments is not None:
            assert got.comments == vector.comments, where


def test_cr_at_chunk_end_and_lf_at_next_start_is_one_line_break() -> None:
    """The classic streaming bug: CR | LF across two reads must not make a blank line."""
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r") == []
    assert decoder.feed(b"\ndata: b\r") == []
    assert decoder.feed(b"\n") == []
    assert [as_tuple(e) for e in decoder.feed(b"\r\n")] == [msg("a\nb")]


def test_lone_cr_inside_a_chunk_does_not_swallow_the_next_chunks_lf() -> None:
    """Only a CR that *ends* a chunk may pair with an LF starting the next one.

    Here the CR ends ``data: a`` and ``data: b`` follows it in the same chunk; the LF that
    starts the next chunk ends ``data: b`` and the blank line after it dispatches.
    """
    decoder = SSEDecoder()
    events = decoder.feed(b"data: a\rdata: b") + decoder.feed(b"\n\ndata: c\n\n")
    assert [as_tuple(e) for e in events] == [msg("a\nb"), msg("c")]


def test_empty_read_between_cr_and_lf_is_ignored() -> None:
    """``feed(b"")`` between the CR and the LF of one CRLF must not split it into two breaks."""
    decoder = SSEDecoder()
    events = decoder.feed(b"data: a\r") + decoder.feed(b"") + decoder.feed(b"\ndata: b\r\n\r\n")
    assert [as_tuple(e) for e in events] == [msg("a\nb")]


def test_trailing_event_is_never_dispatched_and_its_id_not_applied() -> None:
    """WPT format-data-before-final-empty-line: the stream ends, the half event is discarded."""
    decoder = SSEDecoder()
    assert decoder.feed(b"id: 1\ndata: a\n\nid: 2\ndata: b\n") == [
        ServerSentEvent(data="a", event="message", id="1")
    ]
    assert decoder.last_event_id == "1"


# --------------------------------------------------------------------------- SSEEventTooLarge

LIMIT = 64


@dataclass(frozen=True)
class TooLarge:
    name: str
    raw: bytes
    before: tuple[Ev, ...]  # the events completed before the limit was hit


TOO_LARGE: list[TooLarge] = [
    TooLarge("long_data_line", b"data: ok\n\ndata: " + b"x" * 100 + b"\n\n", (msg("ok"),)),
    TooLarge(
        "long_comment_line", b"data: ok\n\n:" + b"c" * 100 + b"\n\ndata: after\n\n", (msg("ok"),)
    ),
    TooLarge("unterminated_huge_line", b"data: ok\n\ndata: " + b"x" * 100, (msg("ok"),)),
    TooLarge("unterminated_huge_field_name", b"data: ok\r\r" + b"n" * 200, (msg("ok"),)),
    TooLarge("many_short_lines", b"data: ok\n\n" + b"data: 0123456789\n" * 5 + b"\n", (msg("ok"),)),
    TooLarge(
        "cr_terminated",
        b"data: 1\r\rdata: 2\r\rdata: " + b"y" * 100 + b"\r\r",
        (msg("1"), msg("2")),
    ),
    TooLarge("first_event", b"data: " + b"z" * 100 + b"\n\ndata: never\n\n", ()),
]


def decode_until_too_large(chunks: list[bytes], limit: int) -> tuple[list[Ev], SSEEventTooLarge]:
    """Events returned before the error plus ``exc.partial``, and the error itself."""
    decoder = SSEDecoder(max_event_bytes=limit)
    events: list[Ev] = []
    for chunk in chunks:
        try:
            events += map(as_tuple, decoder.feed(chunk))
        except SSEEventTooLarge as exc:
            events += map(as_tuple, exc.partial)
            return events, exc
    pytest.fail(f"SSEEventTooLarge not raised for {len(chunks)} chunks")


@pytest.mark.parametrize("style", STYLES.values(), ids=STYLES.keys())
@pytest.mark.parametrize("case", TOO_LARGE, ids=lambda c: c.name)
def test_event_too_large(case: TooLarge, style: Chunkings) -> None:
    """Every feeding style raises, at the same point, without losing the events before it."""
    for chunks in style(case.raw):
        events, exc = decode_until_too_large(chunks, LIMIT)
        assert exc.limit == LIMIT
        assert str(exc) == f"an event exceeded {LIMIT} bytes"
        assert tuple(events) == case.before, describe(chunks)


@pytest.mark.parametrize("case", TOO_LARGE, ids=lambda c: c.name)
def test_event_too_large_whole_feed_carries_partial(case: TooLarge) -> None:
    """Fed in one chunk, the events completed before the limit are on ``exc.partial``."""
    decoder = SSEDecoder(max_event_bytes=LIMIT)
    with pytest.raises(SSEEventTooLarge) as info:
        decoder.feed(case.raw)
    assert tuple(as_tuple(e) for e in info.value.partial) == case.before


def test_event_at_the_limit_passes_one_byte_more_raises() -> None:
    """The limit counts the bytes of the event's lines (with their line ends): > limit raises."""
    line = b"data: " + b"x" * (LIMIT - len(b"data: \n")) + b"\n"
    assert len(line) == LIMIT
    assert [as_tuple(e) for e in SSEDecoder(max_event_bytes=LIMIT).feed(line + b"\n")] == [
        msg("x" * (LIMIT - 7))
    ]
    with pytest.raises(SSEEventTooLarge):
        SSEDecoder(max_event_bytes=LIMIT).feed(b"data: x" + line + b"\n")


def test_limit_is_per_event_not_per_stream() -> None:
    """Many events that each fit never trip the limit, however long the stream."""
    raw = b"".join(b"data: %03d-0123456789abcdef\n\n" % i for i in range(200))
    assert len(raw) > 50 * LIMIT
    for style in (whole, byte_by_byte, random_multi_splits):
        for chunks in style(raw):
            decoder = SSEDecoder(max_event_bytes=LIMIT)
            events = [e for chunk in chunks for e in decoder.feed(chunk)]
            assert [e.data for e in events] == [f"{i:03d}-0123456789abcdef" for i in range(200)]
