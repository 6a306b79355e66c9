"""What ``aichatflow.sse`` raises: its own small tree, so the package stands alone.

::

    SSEError                 catch this one to catch them all
    └── SSEDecodeError       the input cannot be decoded into whole items
        ├── SSEEventTooLarge one item outgrew the decoder's bound (``limit``, ``partial``)
        │   └── LineTooLarge     (``NDJSONDecoder``: the item is a line)
        └── SSETruncated     the input ended in the middle of an item

None of them knows about HTTP or carries a status: what a decode failure means to the program
reading the stream (a bad upstream, a client error) is that program's to say. aichatflow's
providers translate them into its own errors where they read an upstream.
"""

from __future__ import annotations

from typing import Any


class SSEError(Exception):
    """Base of every error ``aichatflow.sse`` raises."""


class SSEDecodeError(SSEError):
    """The input cannot be decoded into whole items."""


class SSEEventTooLarge(SSEDecodeError):
    """One item grew past ``limit`` bytes: the decoder refuses to buffer more of it.

    ``partial`` holds the items the same ``feed`` (or ``close``) completed before the limit was
    hit: they were whole, and a reader usually still wants them.
    """

    item = "an event"

    def __init__(self, limit: int, partial: list[Any]) -> None:
        super().__init__(f"{self.item} exceeded {limit} bytes")
        self.limit = limit
        self.partial = partial


class LineTooLarge(SSEEventTooLarge):
    """``SSEEventTooLarge`` of a line-delimited format: the item is one line."""

    item = "a line"


class SSETruncated(SSEDecodeError):
    """The input ended in the middle of an item (``close()`` of a format in which every item
    ends with its own terminator, such as a JSON line with its LF): it was cut short."""

    def __init__(self, item: str, pending: int) -> None:
        super().__init__(f"the input ended in the middle of {item} ({pending} bytes held)")
        self.item = item
        """What was cut: "a line"."""
        self.pending = pending
        """How many bytes of it had arrived."""


__all__ = ["LineTooLarge", "SSEDecodeError", "SSEError", "SSEEventTooLarge", "SSETruncated"]
