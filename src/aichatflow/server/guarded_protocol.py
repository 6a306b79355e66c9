"""uvicorn's httptools protocol, with bounds on what a client may hold before its request starts.

Plain uvicorn (httptools, which has no limits of its own) accepts a request head of any size and
any number of headers, and keeps a connection that sends its head a byte at a time, or nothing,
forever: a few slow clients can take hundreds of MiB or every file descriptor
(``connection_cap.py``), without a log line (docs/performance.md, "Bounds on connections before
the app"). Here, per
:class:`~aichatflow.config.HttpSettings`:

* the request head (request line and headers) is counted as it arrives: past
  ``max_header_bytes`` or ``max_headers`` the client gets 431 and the connection is closed, so
  nothing more is buffered; the count is made before the parser sees the bytes (httptools
  itself buffers a header of any size);
* a head must be complete ``header_timeout`` seconds after the connection opened, or after the
  previous response ended; otherwise 408 (a connection that sent nothing is just closed);
* past ``max_connections``, the connection waiting longest for a head makes room; when every
  connection is busy, the newcomer gets 503, unless it asks for ``/healthz``
  (``connection_cap.py``).

A refused client gets its answer (the error response the app would write for that path,
rendered by ``server/errors.py``: OpenAI's shape under ``/v1``), then our side of the connection
is shut (FIN) while what it still sends is read and dropped for :data:`LINGER` seconds: closing
at once, with its unread bytes, would send a reset that can destroy the answer before the client
reads it. Refusals are logged, throttled (``throttled_log.py``).

The request body (``body_timeout``) is bounded where it is read, ``chat_endpoint.read_body``,
which works on any server. Cost: the checks run only while a head is being received; once the
headers are complete, ``data_received`` is uvicorn's own after one comparison, and the response
path (every streamed event) is not touched at all.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, ClassVar

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from ..config import HttpSettings
from ..events import StreamError
from ..stream.reset import reset_transport
from ..throttled_log import ThrottledWarning
from .connection_cap import REFUSED, ConnectionCap, default_max_connections
from .errors import error_event, render_error

log = logging.getLogger("aichatflow.server")

LINGER = 1.0
"""Seconds a refused connection stays half-open, reading and dropping, before it is reset."""
RETRY_AFTER_BUSY = 1
"""``Retry-After`` (seconds) on the 503 for a connection refused at the cap."""
ALWAYS_SERVED = b"/healthz"
"""The one path served past the connection cap (see ``connection_cap.py``)."""
_IN_BODY = -1
_REFUSED = -2


class _Refusal(Exception):
    """Raised from a parser callback to stop parsing at once and answer ``error``."""

    def __init__(self, error: StreamError) -> None:
        super().__init__(error.message)
        self.error = error


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """Use :func:`protocol_class`: it sets the class-level limits of one server."""

    max_header_bytes: ClassVar[int]
    max_headers: ClassVar[int]
    header_timeout: ClassVar[float]
    cap: ClassVar[ConnectionCap]
    timers: ClassVar[dict[GuardedHttpToolsProtocol, asyncio.TimerHandle]]
    """The pending timer of each connection that has one (a head awaited, a refusal)."""
    too_large: ClassVar[ThrottledWarning]
    too_slow: ClassVar[ThrottledWarning]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # One attribute only: uvicorn's protocol has 28, and from 30 on CPython stops sharing
        # the keys of instance dicts, which makes every connection's dict several times larger
        # (docs/performance.md, "Bounds on connections before the app"). So
        # the header count is uvicorn's list of headers, a timer lives in ``timers`` (only
        # while a head is awaited or a refusal lingers) and a probe in the cap's set.
        self._head_bytes = 0
        """Bytes of the current request head so far; ``_IN_BODY`` once its headers are in,
        ``_REFUSED`` once refused (what comes is dropped)."""

    # Connection events

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if self.cap.admit(self, len(self.connections)) == REFUSED:
            self._refuse(_BUSY)
        else:
            self._await_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_timer()
        self.cap.forget(self)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._head_bytes == _IN_BODY:
            super().data_received(data)
        else:
            self._receive_head(data)

    def evict(self) -> None:
        """Closed to make room at the connection cap (it was waiting for a request head)."""
        self._stop_timer()
        self._head_bytes = _REFUSED
        reset_transport(self.transport)

    # Parser callbacks (only the head ones are extended)

    def on_header(self, name: bytes, value: bytes) -> None:
        if len(self.headers) >= self.max_headers:
            message = f"more than {self.max_headers} header fields"
            raise _Refusal(error_event("headers_too_large", message))
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        if self in self.cap.probing and self.url.partition(b"?")[0] != ALWAYS_SERVED:
            raise _Refusal(_BUSY)
        self._head_bytes = _IN_BODY
        self._stop_timer()
        self.cap.busy(self)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._head_bytes = 0  # what follows is the next request's head

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self in self.cap.probing:  # served past the cap: not kept
            self.transport.close()
        elif self.timeout_keep_alive_task is not None:  # uvicorn now waits for the next request
            self._await_head()

    # The head

    def _receive_head(self, data: bytes) -> None:
        if self._head_bytes == _REFUSED:
            return  # lingering after a refusal: read and drop
        room = self.max_header_bytes - self._head_bytes
        if len(data) <= room:
            self._head_bytes += len(data)
            self._feed(data)
            return
        self._head_bytes = self.max_header_bytes
        self._feed(data[:room])  # the head may end within its allowance
        if self.transport.is_closing() or self._head_bytes == _REFUSED:
            return
        if self._head_bytes == self.max_header_bytes:  # it did not
            message = f"the request head is larger than {self.max_header_bytes} bytes"
            self._refuse(error_event("headers_too_large", message))
        else:
            self.data_received(data[room:])

    def _feed(self, data: bytes) -> None:
        """uvicorn's ``data_received``, plus the 431 for too many headers."""
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            refusal = exc.__context__
            if isinstance(refusal, _Refusal):
                self._refuse(refusal.error)
            else:
                self._invalid_request()
        except httptools.HttpParserError:
            self._invalid_request()
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()

    def _invalid_request(self) -> None:
        self.logger.warning("Invalid HTTP request received.")
        self._refuse(error_event("bad_request", "the request is not valid HTTP"))

    def _await_head(self) -> None:
        self._stop_timer()
        self.timers[self] = self.loop.call_later(self.header_timeout, self._head_timed_out)
        if self not in self.cap.probing:  # not counted in the cap, so it makes no room either
            self.cap.waiting(self)

    def _head_timed_out(self) -> None:
        del self.timers[self]
        if self.transport.is_closing():
            return
        if self._head_bytes > 0:
            message = f"the request head was not received within {self.header_timeout:g} s"
            self._refuse(error_event("request_timeout", message))
        else:  # nothing of a request (idle, or the rest of a body nobody reads): just close
            self.cap.busy(self)
            self.transport.close()

    def _stop_timer(self) -> None:
        timer = self.timers.pop(self, None)
        if timer is not None:
            timer.cancel()

    # Refusing

    def _refuse(self, error: StreamError) -> None:
        """Answer ``error`` (its code's status, a JSON body in the error shape of the path's
        dialect), shut our side, drop what comes, then reset."""
        self._head_bytes = _REFUSED
        self._stop_timer()
        self.cap.busy(self)
        client = f"{self.client[0]}:{self.client[1]}" if self.client else "?"
        if error.code == "headers_too_large":
            self.too_large.warn("431 to %s: %s; connection closed", client, error.message)
        elif error.code == "request_timeout":
            self.too_slow.warn("408 to %s: %s; connection closed", client, error.message)
        if self.cycle is not None and not self.cycle.response_complete:
            reset_transport(self.transport)  # a response is being written: no room for another
            return
        self.transport.write(self._answer(error))
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.timers[self] = self.loop.call_later(LINGER, self._hang_up)

    def _answer(self, error: StreamError) -> bytes:
        """The whole response, as ``server/errors.py`` renders it for the ASGI app."""
        path = getattr(self, "url", b"").partition(b"?")[0].decode("latin-1")
        status, headers, body = render_error(path, error)
        head = [STATUS_LINE[status]]
        for name, value in (*self.server_state.default_headers, *headers):
            head += [name, b": ", value, b"\r\n"]
        head.append(b"connection: close\r\n\r\n")
        return b"".join(head) + body

    def _hang_up(self) -> None:
        del self.timers[self]
        if not self.transport.is_closing() or self.transport.get_write_buffer_size():
            reset_transport(self.transport)


_BUSY = error_event(
    "over_capacity", "too many connections; retry shortly", retry_after=RETRY_AFTER_BUSY
)


def protocol_class(http: HttpSettings) -> type[GuardedHttpToolsProtocol]:
    """A protocol class for one server (``uvicorn.Config(http=...)``), with its own cap."""
    return type(
        "GuardedHttpToolsProtocol",
        (GuardedHttpToolsProtocol,),
        {
            "max_header_bytes": http.max_header_bytes,
            "max_headers": http.max_headers,
            "header_timeout": http.header_timeout,
            "cap": ConnectionCap(http.max_connections or default_max_connections()),
            "timers": {},
            "too_large": ThrottledWarning(log, "431 answered to %d more clients"),
            "too_slow": ThrottledWarning(log, "408 answered to %d more clients"),
        },
    )


__all__ = ["LINGER", "GuardedHttpToolsProtocol", "protocol_class"]
