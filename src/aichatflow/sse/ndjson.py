"""Incremental JSON-lines (NDJSON) splitter for upstreams that stream one JSON object per line.

Ollama's ``/api/chat`` is the user (docs/upstreams.md): its server writes ``json.Marshal(v)``
plus ``"\\n"`` per object, and its error lines through ``json.Encoder``, which also ends them with
``"\\n"``. So the rules are few, and deliberately stricter than ``str.splitlines``:

* a line ends at LF only; one CR right before the LF is dropped (CRLF from a proxy), and a CR
  at the end of one chunk pairs with an LF at the start of the next for free, because the line
  is only cut at the LF;
* U+2028, U+0085 and lone CRs are data, never line breaks (a JSON parser treats a lone CR as
  whitespace anyway);
* blank (empty or all-whitespace) lines are skipped;
* lines are returned as ``bytes``: ``orjson.loads`` takes them without a decode step, and a
  UTF-8 sequence split across reads cannot be broken since only the LF byte is a cut point;
* an unterminated tail is *never* a line: every real line ends in LF, so bytes without one when
  the stream ends mean the upstream was cut mid-object. ``close()`` raises ``SSETruncated``
  then (``pending`` says how many bytes that tail holds).

Memory is bounded: a line (complete or still arriving) longer than ``max_line_bytes`` raises
``LineTooLarge``, an ``SSEEventTooLarge`` carrying the lines completed before it in ``.partial``.
"""

from __future__ import annotations

from .decode import DEFAULT_MAX_EVENT_BYTES
from .exceptions import LineTooLarge, SSETruncated


class NDJSONDecoder:
    """Feed it bytes as they arrive; it returns the complete, non-blank lines of each chunk.

    A ``Decoder[bytes]`` (``protocol.py``).
    """

    __slots__ = ("_rest", "max_line_bytes")

    def __init__(self, max_line_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> None:
        self.max_line_bytes = max_line_bytes
        self._rest = bytearray()  # the line still arriving (no LF yet)

    @property
    def pending(self) -> int:
        """Bytes of an unterminated line held back; non-zero at EOF means a truncated stream."""
        return len(self._rest)

    def close(self) -> list[bytes]:
        """The stream has ended: a tail without its LF is a cut, never a last line."""
        if self._rest:
            raise SSETruncated("a line", len(self._rest))
        return []

    def feed(self, chunk: bytes) -> list[bytes]:
        end = chunk.rfind(b"\n")
        if end < 0:
            self._rest += chunk
            if self._held() > self.max_line_bytes:
                raise LineTooLarge(self.max_line_bytes, [])
            return []
        if self._rest:
            self._rest += chunk[:end]
            block = bytes(self._rest)
        else:
            block = chunk[:end]
        self._rest = bytearray(chunk[end + 1 :])
        lines: list[bytes] = []
        limit = self.max_line_bytes
        for line in block.split(b"\n"):
            if line[-1:] == b"\r":
                line = line[:-1]
            if len(line) > limit:
                raise LineTooLarge(limit, lines)
            if line and not line.isspace():
                lines.append(line)
        if self._held() > limit:
            raise LineTooLarge(limit, lines)
        return lines

    def _held(self) -> int:
        """Size of the line still arriving; a final CR may be the CR of its CRLF."""
        return len(self._rest) - self._rest.endswith(b"\r")


__all__ = ["LineTooLarge", "NDJSONDecoder"]
