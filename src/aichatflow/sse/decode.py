"""Incremental, byte-level Server-Sent Events decoder for upstream streams (WHATWG HTML 9.2.5/6).

Lineage: the two-layer shape (line splitter, then field interpreter) follows httpx-sse and
openai-python's ``_streaming.py``; the rules follow the WHATWG spec, and deliberately differ from
openai-python where it is wrong (it keeps no BOM rule, accepts ``retry: +5`` and dispatches
data-less events).

Rules implemented, each covered by a vector in ``tests/sse/test_decode_vectors.py``:

* lines end in CR, LF or CRLF only (never ``str.splitlines``: U+2028, U+2029 and U+0085 are data);
  a CR at the end of one chunk and an LF at the start of the next are one line break
  (``lines.py``, the first layer);
* one leading BOM is stripped; the input is always UTF-8 (invalid bytes become U+FFFD);
* ``:`` starts a comment (counted in ``comments``, never dispatched);
* a field name is the text before the first colon, one leading space is removed from the value;
* ``data`` appends value + LF; a blank line dispatches, with one trailing LF removed, unless the
  data buffer is empty; ``event`` empty means ``message``;
* ``id`` containing NUL is ignored; an empty ``id`` clears the last event id;
* ``retry`` is applied only when it is all ASCII digits;
* an event with no terminating blank line when the stream ends is never dispatched.

Memory is bounded: when the bytes of the event being decoded exceed ``max_event_bytes``,
``feed`` raises ``SSEEventTooLarge`` (with the events completed before it in ``.partial``).

Composition: ``feed_line`` is the second layer on its own, for a decoder that splits lines with
``LineSplitter`` and routes some of them elsewhere (Gemini's bare JSON errors:
``providers/gemini/_decode.py``), so that the field rules and the size bound stay here.
"""

from __future__ import annotations

from dataclasses import dataclass

from .exceptions import SSEEventTooLarge
from .lines import LineSplitter

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


class SSEDecoder:
    """Feed it bytes as they arrive; it returns the events completed by each chunk.

    A ``Decoder[ServerSentEvent]`` (``protocol.py``).
    """

    __slots__ = (
        "_data",
        "_event",
        "_event_bytes",
        "_id_buffer",
        "_lines",
        "_started",
        "comments",
        "last_event_id",
        "max_event_bytes",
        "retry",
    )

    def __init__(self, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> None:
        self.max_event_bytes = max_event_bytes
        self._lines = LineSplitter()
        self._started = False  # the BOM check has been done
        self._data: list[str] = []
        self._event = ""
        self._event_bytes = 0
        self._id_buffer = ""
        self.last_event_id = ""
        self.retry: int | None = None
        self.comments = 0

    @property
    def pending_bytes(self) -> int:
        """Bytes held for the event not yet dispatched: its lines so far and the line still
        arriving. ``feed`` keeps this within ``max_event_bytes`` or raises."""
        return self._event_bytes + len(self._lines.rest)

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        events: list[ServerSentEvent] = []
        feed_line = self.feed_line
        for line in self._lines.split(chunk):
            feed_line(line, events)
        if self._event_bytes + len(self._lines.rest) > self.max_event_bytes:
            raise SSEEventTooLarge(self.max_event_bytes, events)
        return events

    def close(self) -> list[ServerSentEvent]:
        """The stream has ended: an event without its blank line is never dispatched
        (WHATWG), so there is nothing left to return."""
        return []

    def feed_line(self, raw: bytes, events: list[ServerSentEvent]) -> None:
        """Interpret one line (without its line break); a blank one dispatches into ``events``.

        Raises ``SSEEventTooLarge`` (with ``events`` as ``partial``) when the event being
        decoded passes ``max_event_bytes``.
        """
        if not raw:
            self._dispatch(events)
            return
        self._event_bytes += len(raw) + 1
        if self._event_bytes > self.max_event_bytes:
            raise SSEEventTooLarge(self.max_event_bytes, events)
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


__all__ = ["DEFAULT_MAX_EVENT_BYTES", "SSEDecoder", "ServerSentEvent"]
