"""An SSE decoder that also sees the JSON objects Gemini writes *outside* any SSE field.

Gemini can end a ``?alt=sse`` stream with an error object that has no ``data:`` prefix, pretty
printed over several lines (docs/upstreams.md, Gemini; diegosouzapw/OmniRoute#4177)::

    data: {"candidates": [...]}

    {
      "error": {
        "code": 503,
        ...

A WHATWG decoder reads ``{`` and ``  "error": {`` as fields with unknown names and drops them, so
the stream would just end, looking truncated or (after a ``finishReason``) even complete.

``GeminiSSEDecoder`` keeps the WHATWG decoder for everything it understands and collects the
lines it would ignore: a line starting with ``{`` opens a bare object, and the lines after it are
added until its brackets balance. Brackets are counted outside strings, line by line, which is
exact because a JSON string cannot hold a raw line break; so the object is recognised the moment
its closing brace arrives (an upstream that then keeps the socket open cannot hold the error
back), in one linear pass. It is emitted *in order* among the SSE events, as an event named
``BARE`` whose data is the JSON text, and the parser handles it exactly like a ``data:`` payload.
A bare object still open when an SSE field line or the end of the body arrives is emitted as it
is, and fails to parse there. Other stray lines are ignored, as WHATWG says.

It is a decoder of its own (``aichatflow.sse.Decoder``) composed of the shared parts rather than a
subclass: the same ``LineSplitter`` cuts the lines (CR/LF rules and pairs across reads exactly as
for plain SSE), and every line that is not part of a bare object goes to an ``SSEDecoder``'s
``feed_line``, so the field rules and the ``max_event_bytes`` bound stay in one place; the bare
buffer is held to the same bound.
"""

from __future__ import annotations

import re

from ...sse.decode import ServerSentEvent, SSEDecoder
from ...sse.exceptions import SSEEventTooLarge
from ...sse.lines import LineSplitter

BARE = "gemini-bare-json"
"""The event name given to a JSON object that arrived without ``data:``."""

_FIELD = re.compile(rb"(?:\xef\xbb\xbf)?(?::|(?:data|event|id|retry)(?::|$))")
"""A line the WHATWG decoder acts on: a comment, or one of the four known fields."""
_BOM = b"\xef\xbb\xbf"
_STRUCTURE = re.compile(rb'"(?:[^"\\]|\\.)*"|[{}\[\]]')
"""A JSON string (skipped whole) or a bracket (counted)."""


class GeminiSSEDecoder:
    """Gemini's ``?alt=sse`` body: SSE events plus bare JSON objects, in order."""

    __slots__ = ("_bare", "_depth", "_lines", "_sse", "max_event_bytes")

    def __init__(self, max_event_bytes: int) -> None:
        self.max_event_bytes = max_event_bytes
        self._lines = LineSplitter()
        self._sse = SSEDecoder(max_event_bytes)  # only its field layer (feed_line) is used
        self._bare = bytearray()
        self._depth = 0  # brackets open in the bare object so far

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        events: list[ServerSentEvent] = []
        for raw in self._lines.split(chunk):
            self._line(raw, events)
        if self._sse.pending_bytes + len(self._lines.rest) > self.max_event_bytes:
            raise SSEEventTooLarge(self.max_event_bytes, events)
        return events

    def close(self) -> list[ServerSentEvent]:
        """Events still pending at the end of the body: an unterminated last line is ended
        (a bare ``}`` often has no newline after it), an open bare object is emitted."""
        events = self.feed(b"\n")
        if self._bare:
            self._emit_bare(events)
        return events

    def _line(self, raw: bytes, events: list[ServerSentEvent]) -> None:
        if self._bare:
            if not raw:  # JSON whitespace; still a blank line to SSE
                self._sse.feed_line(raw, events)
                return
            if _FIELD.match(raw) is None:
                self._add_bare(raw, events)
                return
            self._emit_bare(events)  # an SSE line ends an object that never parsed
        elif raw and raw.removeprefix(_BOM).lstrip()[:1] == b"{":
            self._add_bare(raw, events)
            return
        self._sse.feed_line(raw, events)

    def _add_bare(self, raw: bytes, events: list[ServerSentEvent]) -> None:
        self._bare += raw
        self._bare += b"\n"
        if len(self._bare) > self.max_event_bytes:
            raise SSEEventTooLarge(self.max_event_bytes, events)
        for token in _STRUCTURE.findall(raw):
            if token in b"{[":
                self._depth += 1
            elif token in b"}]":
                self._depth -= 1
        if self._depth <= 0:
            self._emit_bare(events)

    def _emit_bare(self, events: list[ServerSentEvent]) -> None:
        text = bytes(self._bare).removeprefix(_BOM).decode("utf-8", "replace").strip()
        self._bare.clear()
        self._depth = 0
        events.append(ServerSentEvent(data=text, event=BARE))


__all__ = ["BARE", "GeminiSSEDecoder"]
