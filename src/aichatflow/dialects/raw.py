"""Raw SSE: the batch items are already-encoded frames (``SSEWriter`` produces them).

This keeps the ``SSEWriter`` of the original Go aiChatFlow (write any event, any data) on the same
engine as chat streams: same heartbeats, timeouts, disconnect handling and single-write batches. Its
errors take the native protocol's shape (an ``error`` event, a JSON body before the headers).
"""

from __future__ import annotations

import orjson

from ..events import StreamError
from ..sse.encode import encode_event
from .base import SSE_HEADERS, DialectState, Headers
from .native import NATIVE_ERRORS


class RawSSEDialect(DialectState):
    headers_on_open = True
    buffered = False
    error_shape = NATIVE_ERRORS

    def __init__(self, stream_id: str, *, retry_ms: int | None = None) -> None:
        super().__init__(stream_id)
        self.retry_ms = retry_ms

    def headers(self) -> Headers:
        return [*SSE_HEADERS, (b"x-request-id", self.request_id.encode()), *self.extra_headers]

    def open(self) -> bytes:
        return b"retry: %d\n\n" % self.retry_ms if self.retry_ms is not None else b""

    def render(self, batch: list[bytes]) -> bytes:
        self.content = True
        return b"".join(batch)

    def end(self) -> bytes:
        self.terminal = True
        return b""

    def error(self, error: StreamError) -> bytes:
        self.terminal = True
        data = self.error_shape.fields(error, self.request_id)
        return encode_event(orjson.dumps(data).decode(), event="error")


__all__ = ["RawSSEDialect"]
