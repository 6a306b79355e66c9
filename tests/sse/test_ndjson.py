"""The NDJSON line splitter behind the Ollama provider (``aichatflow.sse.ndjson``).

Every vector is fed whole, byte by byte, split in two at every position, in seeded random
multi-splits, and with empty chunks interleaved: a decoder reading a socket sees all of these,
so neither the lines nor the held-back tail may depend on where the network cut the bytes.

Decided behaviour pinned here: a final line without its LF is *not* a line. Ollama ends every
line with LF, so such a tail at EOF is a truncated object; the decoder holds it (``pending``)
and ``close()`` raises ``SSETruncated``, which the provider reports as a cut stream.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from itertools import pairwise
from typing import NamedTuple

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aichatflow.sse import SSEEventTooLarge, SSETruncated
from aichatflow.sse.ndjson import LineTooLarge, NDJSONDecoder


class Vector(NamedTuple):
    name: str
    raw: bytes
    lines: tuple[bytes, ...]
    pending: int = 0


VECTORS = [
    Vector("one_line", b'{"a":1}\n', (b'{"a":1}',)),
    Vector("two_lines", b'{"a":1}\n{"b":2}\n', (b'{"a":1}', b'{"b":2}')),
    Vector("crlf", b'{"a":1}\r\n{"b":2}\r\n', (b'{"a":1}', b'{"b":2}')),
    Vector("mixed_endings", b'{"a":1}\n{"b":2}\r\n{"c":3}\n', (b'{"a":1}', b'{"b":2}', b'{"c":3}')),
    Vector("blank_lines", b'\n\n{"a":1}\n\r\n  \t\n{"b":2}\n\n', (b'{"a":1}', b'{"b":2}')),
    Vector("lone_cr_is_data", b'{"a":1,\r"b":2}\n', (b'{"a":1,\r"b":2}',)),
    Vector("only_the_last_cr_goes", b'{"a":1}\r\r\n', (b'{"a":1}\r',)),
    Vector(
        "unicode_breaks_are_data",
        '{"t":"a\u2028b\u2029c\u0085d"}\n'.encode(),
        ('{"t":"a\u2028b\u2029c\u0085d"}'.encode(),),
    ),
    Vector(
        "multibyte_utf8",
        '{"t":"déjà vu 😀"}\n{"t":"€"}\n'.encode(),
        ('{"t":"déjà vu 😀"}'.encode(), '{"t":"€"}'.encode()),
    ),
    Vector("unterminated_tail_is_held", b'{"a":1}\n{"done":', (b'{"a":1}',), pending=8),
    Vector("last_object_without_lf", b'{"done":true}', (), pending=13),
    Vector("tail_with_cr_only", b'{"a":1}\r', (), pending=8),
    Vector("empty", b"", ()),
]


def _whole(raw: bytes) -> list[bytes]:
    return [raw]


def _bytewise(raw: bytes) -> list[bytes]:
    return [raw[i : i + 1] for i in range(len(raw))]


def _with_empties(raw: bytes) -> list[bytes]:
    return [piece for i in range(len(raw)) for piece in (b"", raw[i : i + 1], b"")]


def _random(seed: int) -> Callable[[bytes], list[bytes]]:
    def split(raw: bytes) -> list[bytes]:
        rng = random.Random(seed)
        cuts = sorted(rng.sample(range(1, len(raw)), min(len(raw) - 1, 4))) if raw else []
        bounds = [0, *cuts, len(raw)]
        return [raw[a:b] for a, b in pairwise(bounds)]

    return split


def _splits(raw: bytes) -> Iterator[tuple[str, list[bytes]]]:
    yield "whole", _whole(raw)
    yield "bytewise", _bytewise(raw)
    yield "empties", _with_empties(raw)
    for i in range(1, len(raw)):
        yield f"at{i}", [raw[:i], raw[i:]]
    for seed in range(5):
        yield f"random{seed}", _random(seed)(raw)


def run(pieces: list[bytes], limit: int = 1 << 20) -> tuple[list[bytes], int]:
    decoder = NDJSONDecoder(limit)
    lines = [line for piece in pieces for line in decoder.feed(piece)]
    return lines, decoder.pending


@pytest.mark.parametrize("vector", VECTORS, ids=[v.name for v in VECTORS])
def test_vector_at_every_split(vector: Vector) -> None:
    for how, pieces in _splits(vector.raw):
        lines, pending = run(pieces)
        assert tuple(lines) == vector.lines, how
        assert pending == vector.pending, how


@pytest.mark.parametrize("vector", VECTORS, ids=[v.name for v in VECTORS])
def test_close_says_whether_the_input_was_cut_at_every_split(vector: Vector) -> None:
    """``close()`` returns nothing after whole lines, and raises ``SSETruncated`` with the size
    of the tail when the input ended without its last LF."""
    for how, pieces in _splits(vector.raw):
        decoder = NDJSONDecoder(1 << 20)
        for piece in pieces:
            decoder.feed(piece)
        if vector.pending:
            with pytest.raises(SSETruncated) as info:
                decoder.close()
            assert (info.value.item, info.value.pending) == ("a line", vector.pending), how
        else:
            assert decoder.close() == [], how


def test_lines_are_valid_json_after_crlf_and_blank_lines() -> None:
    raw = b'{"message":{"content":"The"}}\r\n\r\n{"done":true}\r\n'
    assert [json.loads(line) for line in run([raw])[0]] == [
        {"message": {"content": "The"}},
        {"done": True},
    ]


# --- the size bound ---------------------------------------------------------------------------


@pytest.mark.parametrize("eol", [b"\n", b"\r\n"])
def test_a_line_of_exactly_the_limit_passes(eol: bytes) -> None:
    line = b'"' + b"x" * 62 + b'"'  # 64 bytes; the CR of a CRLF is not part of the line
    for how, pieces in _splits(line + eol):
        assert run(pieces, limit=64) == ([line], 0), how


def test_a_complete_line_over_the_limit_raises_with_the_lines_before_it() -> None:
    decoder = NDJSONDecoder(64)
    with pytest.raises(LineTooLarge) as info:
        decoder.feed(b'{"a":1}\n{"b":2}\n' + b"x" * 65 + b'\n{"c":3}\n')
    assert info.value.partial == [b'{"a":1}', b'{"b":2}']
    assert info.value.limit == 64
    assert isinstance(info.value, SSEEventTooLarge)
    assert str(info.value) == "a line exceeded 64 bytes"


def test_a_line_still_arriving_raises_as_soon_as_it_passes_the_limit() -> None:
    """A line with no LF at all (a 6 MiB ``data:``-style flood) must not be buffered whole."""
    decoder = NDJSONDecoder(64)
    for _ in range(64):
        assert decoder.feed(b"x") == []
    with pytest.raises(LineTooLarge) as info:
        decoder.feed(b"x")
    assert info.value.partial == []


def test_a_tail_over_the_limit_raises_with_the_lines_completed_in_that_chunk() -> None:
    decoder = NDJSONDecoder(64)
    with pytest.raises(LineTooLarge) as info:
        decoder.feed(b'{"a":1}\n' + b"y" * 65)
    assert info.value.partial == [b'{"a":1}']


def test_the_limit_is_per_line_not_per_stream() -> None:
    line = b"z" * 60 + b"\n"
    lines, pending = run([line * 1000], limit=64)
    assert len(lines) == 1000 and pending == 0


# --- round trip -------------------------------------------------------------------------------

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)


@given(
    objs=st.lists(st.dictionaries(st.text(max_size=5), _JSON, max_size=4), max_size=6),
    eol=st.sampled_from([b"\n", b"\r\n"]),
    cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=8),
)
def test_round_trip_any_objects_any_cuts(
    objs: list[dict[str, object]], eol: bytes, cuts: list[int]
) -> None:
    raw = b"".join(json.dumps(o, ensure_ascii=False).encode() + eol for o in objs)
    bounds = sorted({0, len(raw), *(c % (len(raw) + 1) for c in cuts)})
    pieces = [raw[a:b] for a, b in pairwise(bounds)]
    lines, pending = run(pieces)
    assert [json.loads(line) for line in lines] == objs
    assert pending == 0
