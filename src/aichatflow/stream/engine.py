"""The pump: a source of ChatEvent batches in, one HTTP response out.

Invariants (each has a test in ``tests/stream``):

* the provider is consumed in the response's own task: no producer task, no queue per stream;
* each batch becomes at most one ``send``; nothing waits for more input before writing;
* exactly one terminal frame (``done`` or ``error``) ends every stream whose client is still
  there, and nothing is written after it;
* when the stream ends for any reason (client gone, timeout, error, shutdown) the source is
  closed in ``finally`` at once, which closes the upstream HTTP response;
* a failure before the headers is an HTTP status with a JSON body; after them, an in-band frame.

Timers live in ``Watchdog`` (one per loop). It aborts a stream by recording a code and cancelling
this task; the ``except CancelledError`` below tells such an abort from a real cancellation
(server force-quit) by that code, and un-cancels only its own aborts.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from typing import Any, TypeVar

from starlette.types import Receive, Send

from ..chat_stream import ChatStream, aclose_quietly
from ..dialects.base import Dialect
from ..errors import HTTP_STATUS_BY_CODE, RETRYABLE_CODES, AIChatFlowError, ProviderError
from ..events import StreamError
from .limits import StreamLimits
from .reset import reset_connection
from .source import as_batches
from .watchdog import CLIENT_GONE, SEND_TIMEOUT, SendBody, StreamWatch, Watchdog

log = logging.getLogger("aichatflow.stream")
T = TypeVar("T")


_MESSAGES = {
    "upstream_timeout": "the model stopped sending within the time limit",
    "stream_too_long": "the stream reached its maximum duration",
    "server_shutting_down": "the server is restarting; retry the request",
    "cancelled": "the stream was cancelled",
}


@dataclass(slots=True)
class StreamOutcome:
    """How a stream ended: done, error (see ``code``), client_gone or send_timeout."""

    status: str = "running"
    code: str = ""
    writes: int = 0
    """Body writes (each carries one batch: one or more frames)."""


class _Run:
    """One stream's run; a class only to keep the steps small and named."""

    def __init__(
        self, receive: Receive, send: Send, dialect: Dialect[Any], limits: StreamLimits
    ) -> None:
        self.receive = receive
        self.send = send
        self.dialect = dialect
        self.limits = limits
        self.loop = asyncio.get_running_loop()
        self.started = False
        self.outcome = StreamOutcome()
        self.w: StreamWatch

    async def send_body(self, body: bytes, more: bool = True) -> None:
        """A watched write: the watchdog drops the client if it blocks past ``send_timeout``."""
        w = self.w
        if w.heartbeat_task is not None:
            await w.heartbeat_task  # never two writes at once, whatever the server allows
        w.sending_since = self.loop.time()
        await self.send({"type": "http.response.body", "body": body, "more_body": more})
        w.last_write = self.loop.time()
        w.sending_since = 0.0
        self.outcome.writes += 1

    async def start(self, status: int | None = None) -> None:
        self.started = True
        await self.send(
            {
                "type": "http.response.start",
                "status": status or self.dialect.status,
                "headers": self.dialect.headers(),
            }
        )
        self.w.writable = not self.dialect.buffered

    async def pump(self, batches: AsyncIterable[list[Any]]) -> None:
        """The hot loop: per batch, one render and at most one ``send`` (inlined on purpose)."""
        dialect, w, send, time = self.dialect, self.w, self.send, self.loop.time
        if dialect.headers_on_open:
            await self.start()
            await self.send_body(dialect.open())
        outcome = self.outcome
        async for batch in batches:
            body = dialect.render(batch)
            content = dialect.content
            if content:
                w.had_content = True
                w.last_progress = time()
            if not self.started:
                if dialect.buffered and not dialect.terminal:
                    continue
                await self.start()
                body = dialect.open() + body
            if dialect.terminal:
                await self.finish(body)
                return
            if body:
                if w.heartbeat_task is not None:
                    await w.heartbeat_task
                w.sending_since = time()  # while set, the watchdog checks the send timeout only
                await send({"type": "http.response.body", "body": body, "more_body": True})
                w.last_write = now = time()
                w.sending_since = 0.0
                outcome.writes += 1
                if content:
                    w.last_progress = now  # time blocked on the client is not upstream's
        # The source ended without a terminal event: that is a normal end for a library user's
        # generator. Providers that see a truncated upstream raise instead.
        await self.finish(dialect.end())

    async def finish(self, body: bytes) -> None:
        self.w.finishing = True
        if not self.started:
            await self.start()
        await self.send_body(body, more=False)
        if self.outcome.status == "running":
            self.outcome.status = "done"

    async def fail(
        self,
        code: str,
        message: str,
        retryable: bool | None = None,
        retry_after: float | None = None,
    ) -> None:
        """End with an error: an HTTP status before the headers, a terminal frame after."""
        self.outcome.status, self.outcome.code = "error", code
        if retryable is None:
            retryable = code in RETRYABLE_CODES
        error = StreamError(
            code=code, message=message, retryable=retryable, retry_after=retry_after
        )
        self.w.finishing = True
        if self.started:
            if self.dialect.terminal:
                return
            await self.finish(self.dialect.error(error))
            return
        status, headers, body = self.dialect.error_response(
            error, HTTP_STATUS_BY_CODE.get(code, 500)
        )
        self.started = True
        await self.send({"type": "http.response.start", "status": status, "headers": headers})
        await self.send_body(body, more=False)


def _heartbeat_writer(send: Send) -> SendBody:
    """The raw body write the watchdog's heartbeats use.

    A closure over ``send`` alone, not a method of ``_Run``: the run holds its ``StreamWatch``,
    so a watch holding the run back would make every stream a reference cycle (run, watch, the
    server's request cycle, its transport and task: about 6 KiB), which only the collector can
    free, and ``serve`` runs it rarely (``server/runner.py``, ``tune_gc``).
    """

    async def write(body: bytes) -> None:
        await send({"type": "http.response.body", "body": body, "more_body": True})

    return write


async def _watch_disconnect(receive: Receive, w: StreamWatch) -> None:
    """Wait for ``http.disconnect`` (the only way ASGI tells us the client left)."""
    try:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                w.abort(CLIENT_GONE)
                return
    except asyncio.CancelledError:
        raise
    except Exception:  # a server whose receive fails after the response: nothing to watch
        return


async def run_stream(
    receive: Receive,
    send: Send,
    source: AsyncIterable[T] | ChatStream,
    dialect: Dialect[T],
    limits: StreamLimits,
    *,
    stream_id: str = "",
) -> StreamOutcome:
    """Stream ``source`` to one ASGI connection in ``dialect``; returns how it ended."""
    task = asyncio.current_task()
    assert task is not None
    dog = Watchdog.current()
    run = _Run(receive, send, dialect, limits)
    batches: AsyncIterator[list[Any]] = as_batches(source)
    if not dog.accepting:
        await aclose_quietly(batches)
        run.w = dog.watch(task, limits)
        dog.forget(run.w)
        await run.fail("server_shutting_down", _MESSAGES["server_shutting_down"])
        return run.outcome
    w = run.w = dog.watch(task, limits)
    w.heartbeat_frame = dialect.heartbeat
    w.send_body = _heartbeat_writer(send)
    listener = asyncio.get_running_loop().create_task(_watch_disconnect(receive, w))
    try:
        await _guarded(run, batches, task, stream_id)
    finally:
        listener.cancel()
        dog.forget(w)
    return run.outcome


async def _guarded(
    run: _Run,
    batches: AsyncIterator[list[Any]],
    task: asyncio.Task[Any],
    stream_id: str,
) -> None:
    w = run.w
    try:
        try:
            await run.pump(batches)
        finally:
            w.awaiting_upstream = False
            await aclose_quietly(batches)  # closes the upstream HTTP response now
    except asyncio.CancelledError:
        code = w.abort_code
        if code is None:
            raise  # not ours: the server is cancelling us
        task.uncancel()
        await _after_abort(run, code, stream_id)
    except AIChatFlowError as exc:
        log.warning("stream %s failed: %s (%s)", stream_id, exc.code, exc.message)
        retry_after = exc.retry_after if isinstance(exc, ProviderError) else None
        await _final(run, exc.code, exc.message, exc.retryable, retry_after)
    except Exception:
        log.exception("stream %s: unexpected error", stream_id)
        await _final(run, "internal_error", "internal error")


async def _after_abort(run: _Run, code: str, stream_id: str) -> None:
    if code in (CLIENT_GONE, SEND_TIMEOUT):
        run.outcome.status = code
        if code == SEND_TIMEOUT:
            await reset_connection(run.send)
        level = logging.INFO if code == CLIENT_GONE else logging.WARNING
        log.log(level, "stream %s: %s; upstream closed", stream_id, code.replace("_", " "))
        return
    log.warning("stream %s ended: %s", stream_id, code)
    await _final(run, code, _MESSAGES.get(code, code))


async def _final(
    run: _Run,
    code: str,
    message: str,
    retryable: bool | None = None,
    retry_after: float | None = None,
) -> None:
    """Write the terminal error; a client that is gone or frozen by now only loses that frame."""
    task = asyncio.current_task()
    try:
        await run.fail(code, message, retryable, retry_after)
    except asyncio.CancelledError:
        if run.w.abort_code is None or task is None:
            raise
        task.uncancel()
        run.outcome.status = run.w.abort_code
        if run.w.abort_code == SEND_TIMEOUT:  # the frame's write blocked: a frozen client
            await reset_connection(run.send)
    except Exception:
        run.outcome.status = CLIENT_GONE


__all__ = ["StreamOutcome", "run_stream"]
