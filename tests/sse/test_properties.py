"""T03/T04: property tests for the SSE codec (hypothesis).

* T03 round trip: whatever events we encode, however the bytes are cut on the way, the decoder
  returns exactly those events (data with CR and CRLF normalised to LF); an independent decoder
  (httpx-sse) agrees; adversarial text can never forge an extra event.
* T04 totality: arbitrary bytes, cut anywhere, never make the decoder raise anything but
  ``SSEEventTooLarge``, and the result does not depend on the cutting.

Settings: the run's profile (``tests/conftest.py``: ``dev`` locally, 25 examples a test;
``ci``, derandomized, when the ``CI`` environment variable is set), with this file's additions
registered as ``aichatflow-sse`` and used as the explicit parent of each test's ``@settings`` (so
this module never changes the global profile other test files run under). In CI each test runs
its own full count (``examples(ci=...)``). No example database is kept (hypothesis still caches
constants in its self-ignored ``.hypothesis/``); a failure prints the ``@reproduce_failure``
blob to replay it.
"""

from __future__ import annotations

import codecs
import itertools
from dataclasses import dataclass
from typing import NamedTuple

from httpx_sse._decoders import SSEDecoder as ReferenceDecoder
from httpx_sse._decoders import SSELineDecoder as ReferenceLineDecoder
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from aichatflow.sse import (
    DEFAULT_MAX_EVENT_BYTES,
    ServerSentEvent,
    SSEDecoder,
    SSEEventTooLarge,
    encode_comment,
    encode_event,
)
from tests.conftest import HYPOTHESIS_PROFILE

settings.register_profile(
    "aichatflow-sse",
    parent=settings.get_profile(HYPOTHESIS_PROFILE),
    deadline=None,  # timing varies a lot on a shared 2-core box; the file has a global budget
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    # On failure: shrink the first bug found, skip the slow "explain" phase; keeps a red run short.
    report_multiple_bugs=False,
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
)
BASE = settings.get_profile("aichatflow-sse")


def examples(ci: int) -> settings:
    """``ci`` examples in CI (the whole file stays well under 60 s on 2 cores), the ``dev``
    profile's count locally."""
    return settings(BASE, max_examples=ci) if HYPOTHESIS_PROFILE == "ci" else BASE


class Ev(NamedTuple):
    event: str
    data: str
    id: str
    retry: int | None


def as_tuple(event: ServerSentEvent) -> Ev:
    return Ev(event.event, event.data, event.id, event.retry)


def normalise(data: str) -> str:
    """What a client gets back for ``data``: every CRLF and lone CR becomes LF."""
    return data.replace("\r\n", "\n").replace("\r", "\n")


# --------------------------------------------------------------------------- strategies

# st.text()'s default alphabet is characters(codec="utf-8"): all code points but surrogates,
# which UTF-8 cannot encode. Spelt out so a change of default cannot slip surrogates in.
TEXT = st.text(alphabet=st.characters(codec="utf-8"))
# Plain st.text() rarely draws line breaks; this mix makes CR/LF/CRLF, separators, NUL and BOM
# (the characters the codec treats specially, or must not) common.
TRICKY = st.text(alphabet="\r\n :a\u2028\u2029\u0085\x00\ufeff\u00e9\U0001f600", max_size=40)
DATA = st.one_of(TEXT, TRICKY)
EVENT_NAMES = st.from_regex(r"[A-Za-z0-9_.-]{1,32}", fullmatch=True)
IDS = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=64)
RETRIES = st.integers(min_value=0, max_value=10**7)


class Sent(NamedTuple):
    data: str
    event: str | None
    id: str | None
    retry: int | None


SENT = st.builds(
    Sent,
    data=DATA,
    event=st.none() | EVENT_NAMES,
    id=st.none() | IDS,
    retry=st.none() | RETRIES,
)


def cut_families(raw: bytes) -> dict[str, list[int]]:
    """Cut positions where a careless line splitter goes wrong.

    ``inside_utf8``: before a continuation byte; ``after_cr``: a CRLF cut between CR and LF;
    ``before_lf``: a chunk starts with LF while the previous one may hold a lone CR.
    """
    n = len(raw)
    return {
        "inside_utf8": [i for i in range(1, n) if raw[i] & 0xC0 == 0x80],
        "after_cr": [i for i in range(1, n) if raw[i - 1] == 0x0D],
        "before_lf": [i for i in range(1, n) if raw[i] == 0x0A],
    }


def split_points(raw: bytes) -> st.SearchStrategy[list[int]]:
    """Sorted, distinct cut positions in 1..len-1: random (biased to the places above), every
    byte, or every position of one family. Every chunk is non-empty; empty reads have their own
    property below.
    """
    n = len(raw)
    if n < 2:
        return st.just([])
    families = cut_families(raw)
    interesting = sorted({i for points in families.values() for i in points})
    point = st.integers(1, n - 1)
    if interesting:
        point = st.one_of(st.sampled_from(interesting), point)
    return st.one_of(
        st.lists(point, unique=True, max_size=min(n - 1, 64)).map(sorted),
        st.just(list(range(1, n))),
        *(st.just(points) for points in families.values() if points),
    )


def cut(raw: bytes, points: list[int]) -> list[bytes]:
    edges = [0, *points, len(raw)]
    return [raw[a:b] for a, b in itertools.pairwise(edges)]


@st.composite
def chunkings(draw: st.DrawFn, raw: bytes) -> list[bytes]:
    return cut(raw, draw(split_points(raw)))


@dataclass(frozen=True)
class Encoded:
    sent: list[Sent]
    raw: bytes
    chunks: list[bytes]


def reterminate(raw: bytes, endings: list[bytes]) -> bytes:
    """Replace the n-th LF of ``raw`` by ``endings[n % len(endings)]``, keeping the line count.

    A CR followed directly by a LF-terminated blank line would read as one CRLF, so that LF
    becomes CRLF (still one line break).
    """
    pieces = raw.split(b"\n")
    out = [pieces[0]]
    previous = b""
    for n, piece in enumerate(pieces[1:]):
        ending = endings[n % len(endings)]
        if previous == b"\r" and ending == b"\n" and out[-1] == b"":
            ending = b"\r\n"
        out += [ending, piece]
        previous = ending
    return b"".join(out)


@st.composite
def encoded_streams(draw: st.DrawFn) -> Encoded:
    """1-20 events, encoded, re-terminated with mixed LF, CRLF and CR, and cut into chunks.

    The encoder only writes LF; re-terminating puts lone CRs and CRLFs in the stream so cuts
    fall between CR and LF. This is sound because the spec treats the three line ends alike and
    the encoder never writes a CR byte (asserted here).
    """
    sent = draw(st.lists(SENT, min_size=1, max_size=20))
    raw = b"".join(encode_event(s.data, event=s.event, id=s.id, retry=s.retry) for s in sent)
    assert b"\r" not in raw
    endings = draw(st.lists(st.sampled_from([b"\n", b"\r\n", b"\r"]), min_size=1, max_size=8))
    raw = reterminate(raw, endings)
    return Encoded(sent, raw, draw(chunkings(raw)))


def expected_events(sent: list[Sent]) -> list[Ev]:
    """The WHATWG view: id and retry persist across events until set again."""
    out: list[Ev] = []
    last_id, retry = "", None
    for s in sent:
        last_id = s.id if s.id is not None else last_id
        retry = s.retry if s.retry is not None else retry
        out.append(Ev(s.event or "message", normalise(s.data), last_id, retry))
    return out


def decode(chunks: list[bytes]) -> list[Ev]:
    decoder = SSEDecoder()
    return [as_tuple(e) for chunk in chunks for e in decoder.feed(chunk)]


# --------------------------------------------------------------------------- T03


@examples(ci=2000)
@given(stream=encoded_streams())
def test_round_trip(stream: Encoded) -> None:
    """decode(split(encode_all(events))) == events, for every cutting of the bytes."""
    for s in stream.sent:
        assert not any("\ud800" <= ch <= "\udfff" for ch in s.data), "surrogate drawn"
    assert decode(stream.chunks) == expected_events(stream.sent)


def reference_decode(chunks: list[bytes]) -> list[Ev]:
    """httpx-sse's decoders, driven the way ``EventSource.iter_sse`` drives them.

    httpx's ``iter_text`` runs an incremental UTF-8 decoder (errors="replace") over the bytes;
    ``_iter_sse_lines`` feeds the text to ``SSELineDecoder`` and flushes it at the end.
    """
    text_decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    lines = ReferenceLineDecoder()
    decoder = ReferenceDecoder()
    out: list[Ev] = []

    def consume(batch: list[str]) -> None:
        for line in batch:
            sse = decoder.decode(line.rstrip("\n"))
            if sse is not None:
                out.append(Ev(sse.event, sse.data, sse.id, sse.retry))

    for chunk in chunks:
        text = text_decoder.decode(chunk)
        if text:
            consume(lines.decode(text))
    tail = text_decoder.decode(b"", final=True)
    if tail:
        consume(lines.decode(tail))
    consume(lines.flush())
    return out


@examples(ci=1000)
@given(stream=encoded_streams())
def test_agrees_with_httpx_sse(stream: Encoded) -> None:
    """An independent decoder reads our encoder's output the same way.

    Restricted to encoder output on purpose: httpx-sse departs from WHATWG elsewhere, and those
    departures cannot show up here. It keeps no BOM rule (our streams never start with one), it
    dispatches events without data (every event here has a data line), and it accepts any
    ``int()``-able retry (we only write digits). One departure does show up and is compensated:
    httpx-sse reports ``retry`` only on the event whose own lines set it, whereas WHATWG (and
    our decoder) keep the reconnection time for later events, so ``retry`` is compared with the
    event's own value.
    """
    ours = decode(stream.chunks)
    ours_with_own_retry = [
        e._replace(retry=s.retry) for e, s in zip(ours, stream.sent, strict=False)
    ]
    assert len(ours) == len(stream.sent)
    assert reference_decode(stream.chunks) == ours_with_own_retry


FORGE = "\r\n:ade ti"


class Item(NamedTuple):
    comment: bool
    text: str
    event: str | None
    id: str | None


ITEMS = st.builds(
    Item,
    comment=st.booleans(),
    text=st.text(alphabet=FORGE, max_size=30),
    event=st.none() | st.text(alphabet=FORGE, max_size=8),
    id=st.none() | st.text(alphabet=FORGE + "\x00", max_size=8),
)


@examples(ci=2000)
@given(items=st.lists(ITEMS, min_size=1, max_size=20), data=st.data())
def test_no_forging(items: list[Item], data: st.DataObject) -> None:
    """Adversarial text (spelling ``data:``, ``id:``, blank lines) never adds or merges events.

    Comments made of it dispatch nothing; event names and ids made of it are either refused
    (CR, LF or NUL) or come back unchanged.
    """
    raw = b""
    sent: list[Item] = []
    for item in items:
        if item.comment:
            raw += encode_comment(item.text)
            continue
        try:
            raw += encode_event(item.text, event=item.event, id=item.id)
        except ValueError:
            assert any(ch in f"{item.event or ''}{item.id or ''}" for ch in "\r\n\0")
            continue
        sent.append(item)
    got = decode(data.draw(chunkings(raw)))
    assert len(got) <= len(sent)
    assert [(e.event, e.data) for e in got] == [
        (s.event or "message", normalise(s.text)) for s in sent
    ]


# --------------------------------------------------------------------------- T04

TOKENS = [
    b"data",
    b"data:",
    b"data: x",
    b"event:",
    b"id:",
    b"retry:",
    b"retry: 10",
    b":",
    b" ",
    b"\r",
    b"\n",
    b"\r\n",
    b"\n\n",
    b"\xef\xbb\xbf",
    b"\x00",
    b"x" * 50,
    b"1",
    b"\xff",
    b"\xc3",
    b"\xa9",
    b"\xe2\x80\xa8",
    b"\xf0\x9f\x98\x80",
]
# Arbitrary bytes rarely contain line breaks; SSE-shaped bytes (fields, comments, BOMs, broken
# UTF-8, every kind of line end, blank lines) reach the decoder's interesting states.
LINE_ENDS = [b"\n", b"\r", b"\r\n", b""]
SSE_SHAPED = st.lists(
    st.tuples(st.lists(st.sampled_from(TOKENS), max_size=4), st.sampled_from(LINE_ENDS)),
    max_size=60,
).map(lambda lines: b"".join(b"".join(tokens) + end for tokens, end in lines))
RAW = st.one_of(st.binary(max_size=65536), SSE_SHAPED)
LIMITS = st.sampled_from([16, 256, 4096, DEFAULT_MAX_EVENT_BYTES, DEFAULT_MAX_EVENT_BYTES])


@dataclass(frozen=True)
class Run:
    events: tuple[Ev, ...]
    too_large: bool
    last_event_id: str
    retry: int | None
    comments: int


def run(chunks: list[bytes], limit: int) -> Run:
    """Feed until the end or ``SSEEventTooLarge``; the events include ``exc.partial``.

    After each accepted chunk the bytes held for the current event (``pending_bytes``) stay
    within the limit.
    """
    decoder = SSEDecoder(max_event_bytes=limit)
    events: list[Ev] = []
    too_large = False
    for chunk in chunks:
        try:
            events += map(as_tuple, decoder.feed(chunk))
        except SSEEventTooLarge as exc:
            events += map(as_tuple, exc.partial)
            too_large = True
            break
        assert decoder.pending_bytes <= limit
    return Run(tuple(events), too_large, decoder.last_event_id, decoder.retry, decoder.comments)


@examples(ci=1000)
@given(raw=RAW, limit=LIMITS, data=st.data())
def test_decoder_is_total_and_split_independent(
    raw: bytes, limit: int, data: st.DataObject
) -> None:
    """Any bytes, any two cuttings: only SSEEventTooLarge may escape, and the results are
    equal."""
    whole = run([raw], limit)
    assert run(data.draw(chunkings(raw), label="first"), limit) == whole
    assert run(data.draw(chunkings(raw), label="second"), limit) == whole


@examples(ci=1000)
@given(raw=RAW, data=st.data())
def test_empty_reads_change_nothing(raw: bytes, data: st.DataObject) -> None:
    """``feed(b"")`` anywhere (a transport may hand one over) leaves the outcome unchanged."""
    points = data.draw(split_points(raw))
    candidates = [0, len(raw), *points, *cut_families(raw)["after_cr"]]
    empties = data.draw(st.lists(st.sampled_from(candidates), max_size=8))
    chunks = cut(raw, sorted([*points, *empties]))
    assert run(chunks, DEFAULT_MAX_EVENT_BYTES) == run([raw], DEFAULT_MAX_EVENT_BYTES)
