"""Incremental line splitting by the WHATWG rules: the first of the SSE decoder's two layers.

A line ends in CR, LF or CRLF, and in nothing else: never ``bytes.splitlines`` or
``str.splitlines``, which also break at U+2028, U+2029, U+0085 and form feeds (characters that
are data inside a JSON string). A CR that ends one read and an LF that starts the next are one
line break. Lines stay ``bytes``: the field layer decides how to decode them.

It is its own class so that a decoder with its own rules for some lines (aichatflow's Gemini
decoder collects JSON objects written outside any SSE field) splits exactly as ``SSEDecoder``
does, and then hands every other line to ``SSEDecoder.feed_line``.
"""

from __future__ import annotations

import re

_LINE_BREAK = re.compile(rb"\r\n|\r|\n")


class LineSplitter:
    """Feed it bytes; it returns the lines each read completed, without their line breaks."""

    __slots__ = ("_cr_pending", "rest")

    def __init__(self) -> None:
        self.rest = bytearray()
        """The line still arriving (no line break yet); read it, never change it."""
        self._cr_pending = False  # the last read ended in CR: skip one LF at the next start

    def split(self, chunk: bytes) -> list[bytes]:
        if not chunk:  # an empty read must not forget a pending CR
            return []
        if self._cr_pending:
            self._cr_pending = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
        end = max(chunk.rfind(b"\n"), chunk.rfind(b"\r"))
        if end < 0:
            self.rest += chunk
            return []
        block = bytes(self.rest) + chunk[: end + 1] if self.rest else chunk[: end + 1]
        self.rest = bytearray(chunk[end + 1 :])
        if chunk[-1:] == b"\r":  # only a CR that ends the read can pair with the next LF
            self._cr_pending = True
        lines = _LINE_BREAK.split(block) if b"\r" in block else block.split(b"\n")
        lines.pop()  # the empty piece after the final line break
        return lines


__all__ = ["LineSplitter"]
