"""Incremental, byte-level Server-Sent Events decoder for upstream streams (WHATWG HTML 9.2.5/6).

Lineage: the two-layer shape (line splitter, then field interpreter) follows httpx-sse and
openai-python's ``_streaming.py``; the rules follow the WHATWG spec, and deliberately differ from
openai-python where it is wrong (it keeps no BOM rule, accepts ``retry: +5`` and dispatches
data-less events).

Rules implemented, each covered by a vector in ``tests/sse/test_decode_vectors.py``:

* lines end in CR, LF or CRLF only (never ``str.splitlines``: U+2028, U+2029 and U+0085 are data);
  a CR at the end of one chunk and an LF at the start of the next are one line break;
* one leading BOM is stripped; the input is always UTF-8 (invalid bytes become U+FFFD);
* ``:`` starts a comment (counted in ``comments``, never dispatched);
* a field name is the text before the first colon, one leading space is removed from the value;
* ``data`` appends value + LF; a blank line dispatches, with one trailing LF removed, unless the
  data buffer is empty; ``event`` empty means ``message``;
* ``id`` containing NUL is ignored; an empty ``id`` clears the last event id;
* ``retry`` is applied only when it is all ASCII digits;
* an event with no terminating blank line when the stream ends is never dispatched.

Memory is bounded: when the bytes of the event being decoded exceed ``max_event_bytes``,
``feed`` raises ``EventTooLarge`` (with the events completed before it in ``.partial``).

Extension point: ``_line`` is the per-line step. A subclass that must also see lines WHATWG
ignores (Gemini's bare JSON errors: ``providers/gemini/_decode.py``) overrides it and calls up,
so line splitting, CR/LF across chunks and the size bound stay here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import EventTooLarge

_LINE_BREAK = re.compile(rb"\r\n|\r|\n")
_BOM = "\ufeff"
DEFAULT_MAX_EVENT_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class ServerSentEvent:
    data: str
    event: str = "message"
    id: str = ""
    """The last event id in force when this event was dispatched (WHATWG ``lastEventId``)."""
    retry: int | None = None
    """The reconnection time last set by the stream, in milliseconds."""


class EventTooLargeWithPartial(EventTooLarge):
    """``EventTooLarge`` that also carries the events completed before the limit was hit."""

    def __init__(self, limit: int, partial: list[ServerSentEvent]) -> None:
        super().__init__(limit)
        self.partial = partial


class SSEDecoder:
    """Feed it bytes as they arrive; it returns the events completed by each chunk."""

    __slots__ = (
        "_cr_pending",
        "_data",
        "_event",
        "_event_bytes",
        "_id_buffer",
        "_rest",
        "_started",
        "comments",
        "last_event_id",
        "max_event_bytes",
        "retry",
    )

    def __init__(self, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> None:
        self.max_event_bytes = max_event_bytes
        self._rest = bytearray()  # an unterminated line, waiting for its end
        self._cr_pending = False  # the last chunk ended in CR: skip one LF at the next start
        self._started = False  # the BOM check has been done
        self._data: list[str] = []
        self._event = ""
        self._event_bytes = 0
        self._id_buffer = ""
        self.last_event_id = ""
        self.retry: int | None = None
        self.comments = 0

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        if not chunk:  # an empty read must not forget a pending CR
            return []
        if self._cr_pending:
            self._cr_pending = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
        end = max(chunk.rfind(b"\n"), chunk.rfind(b"\r"))
        if end < 0:
            self._rest += chunk
            if self._event_bytes + len(self._rest) > self.max_event_bytes:
                raise EventTooLargeWithPartial(self.max_event_bytes, [])
            return []
        if self._rest:
            block = bytes(self._rest) + chunk[: end + 1]
            self._rest = bytearray(chunk[end + 1 :])
        else:
            block = chunk[: end + 1]
            self._rest = bytearray(chunk[end + 1 :])
        if chunk[-1:] == b"\r":  # only a CR that ends the chunk can pair with the next LF
            self._cr_pending = True
        lines = _LINE_BREAK.split(block) if b"\r" in block else block.split(b"\n")
        lines.pop()  # the empty piece after the final line break
        events: list[ServerSentEvent] = []
        for line in lines:
            self._line(line, events)
        if self._event_bytes + len(self._rest) > self.max_event_bytes:
            raise EventTooLargeWithPartial(self.max_event_bytes, events)
        return events

    def _line(self, raw: bytes, events: list[ServerSentEvent]) -> None:
        if not raw:
            self._dispatch(events)
            return
        self._event_bytes += len(raw) + 1
        if self._event_bytes > self.max_event_bytes:
            raise EventTooLargeWithPartial(self.max_event_bytes, events)
        line = raw.decode("utf-8", "replace")
        if not self._started:
            self._started = True
            if line.startswith(_BOM):
                line = line[1:]
                if not line:  # the BOM alone on the first line: that line is blank
                    self._dispatch(events)
                    return
        if line[0] == ":":
            self.comments += 1
            return
        name, colon, value = line.partition(":")
        if colon and value[:1] == " ":
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\x00" not in value:
                self._id_buffer = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self.retry = int(value)

    def _dispatch(self, events: list[ServerSentEvent]) -> None:
        if not self._started:
            self._started = True
        self._event_bytes = 0
        self.last_event_id = self._id_buffer
        if not self._data:
            self._event = ""
            return
        events.append(
            ServerSentEvent(
                data="\n".join(self._data),
                event=self._event or "message",
                id=self._id_buffer,
                retry=self.retry,
            )
        )
        self._data = []
        self._event = ""


__all__ = ["DEFAULT_MAX_EVENT_BYTES", "EventTooLargeWithPartial", "SSEDecoder", "ServerSentEvent"]
