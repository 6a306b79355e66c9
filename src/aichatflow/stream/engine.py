"""The pump: a source of ChatEvent batches in, one HTTP response out.

Invariants (each has a test in ``tests/stream``):

* the provider is consumed in the response's own task: no producer task, no queue per stream;
* each batch becomes at most one write; nothing waits for more input before writing;
* exactly one terminal frame (``done`` or ``error``) ends every stream whose client is still
  there, and nothing is written after it;
* when the stream ends for any reason (client gone, timeout, error, shutdown) the source is
  closed in ``finally`` at once, which closes the upstream HTTP response;
* a failure before the headers is an HTTP status with a JSON body; after them, an in-band frame.

Three parts, each the one owner of its state: the pump reads the source and renders frames
(and records the source's ``Progress``), the ``StreamWriter`` writes them, and the ``Watchdog``
reads both and aborts. An abort records a reason and cancels this task; the
``except CancelledError`` below tells such an abort from a real cancellation (server force-quit)
by that reason, and un-cancels only its own aborts.
"""

from __future__ import annotations

import asyncio
import logging
from bisect import bisect_left
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from starlette.types import Receive, Send

from ..chat_stream import ChatStream, aclose_quietly
from ..dialects.base import Dialect
from ..errors import RETRYABLE_CODES, AIChatFlowError, ProviderError
from ..events import StreamError
from ..request_record import GAP_BUCKETS, RequestRecord
from .limits import StreamLimits
from .reset import reset_connection
from .source import as_batches
from .watchdog import CLIENT_GONE, SEND_TIMEOUT, Abort, Watchdog, Watched
from .writer import StreamWriter

log = logging.getLogger("aichatflow.stream")
T = TypeVar("T")


_MESSAGES: dict[Abort, str] = {
    "upstream_timeout": "the model stopped sending within the time limit",
    "stream_too_long": "the stream reached its maximum duration",
    "server_shutting_down": "the server is restarting; retry the request",
    "cancelled": "the stream was cancelled",
}

Status = Literal["running", "done", "error", "client_gone", "send_timeout"]


@dataclass(slots=True)
class StreamOutcome:
    """How a stream ended: ``done``, ``error`` (see ``code``), ``client_gone`` or
    ``send_timeout``."""

    status: Status = "running"
    code: str = ""
    writes: int = 0
    """Body writes (each carries one batch: one or more frames)."""
    http_status: int = 0
    """The status the response started with; 0 when it never started (the client left
    first)."""


class _Run:
    """One stream's run; a class only to keep the steps small and named."""

    def __init__(
        self,
        dialect: Dialect[Any],
        writer: StreamWriter,
        watched: Watched,
        record: RequestRecord | None = None,
    ) -> None:
        self.dialect = dialect
        self.writer = writer
        self.watched = watched
        self.record = record
        self.outcome = StreamOutcome()

    async def start(self, status: int | None = None) -> None:
        dialect = self.dialect
        await self.writer.start(
            status or dialect.status, dialect.headers(), streaming=not dialect.buffered
        )

    async def pump(self, batches: AsyncIterable[list[Any]]) -> None:
        """The hot loop: per batch, one render and at most one write.

        With a record, also the time of the first content write and the gaps between content
        writes (one bisect per content write; the histogram is observed once, at the end)."""
        dialect, writer, progress = self.dialect, self.writer, self.watched.progress
        write, time = writer.write, asyncio.get_running_loop().time
        record = self.record
        previous = 0.0
        if dialect.headers_on_open:
            await self.start()
            await write(dialect.open())
        async for batch in batches:
            body = dialect.render(batch)
            content = dialect.content
            if content:
                progress.had_content = True
                progress.last_progress = time()
            if not writer.started:
                if dialect.buffered and not dialect.terminal:
                    continue
                await self.start()
                body = dialect.open() + body
            if dialect.terminal:
                await self.finish(body)
                return
            if body:
                await write(body)
                if content:
                    # time blocked on the client is not upstream's
                    now = progress.last_progress = writer.last_write
                    if record is not None:
                        previous = _stamp(record, previous, now)
        # The source ended without a terminal event: that is a normal end for a library user's
        # generator. Providers that see a truncated upstream raise instead.
        await self.finish(dialect.end())

    async def finish(self, body: bytes) -> None:
        self.watched.progress.ending = True
        if not self.writer.started:
            await self.start()
        await self.writer.close(body)
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
        self.watched.progress.ending = True
        writer = self.writer
        if writer.started:
            if self.dialect.terminal:
                return
            await self.finish(self.dialect.error(error))
            return
        status, headers, body = self.dialect.error_response(error)  # the code's own status
        await writer.start(status, headers, streaming=False)
        await writer.close(body)


def _stamp(record: RequestRecord, previous: float, now: float) -> float:
    """A content write ended at ``now``: the first one's time, or one more gap counted."""
    if record.first_content is None:
        record.first_content = now
    elif record.gaps is not None:
        gap = now - previous
        record.gaps[bisect_left(GAP_BUCKETS, gap)] += 1
        record.gap_sum += gap
    return now


async def _watch_disconnect(receive: Receive, w: Watched) -> None:
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
    receive: Receive | None,
    send: Send,
    source: AsyncIterable[T] | ChatStream,
    dialect: Dialect[T],
    limits: StreamLimits,
    *,
    stream_id: str = "",
    record: RequestRecord | None = None,
    lingers: bool = False,
) -> StreamOutcome:
    """Stream ``source`` to one ASGI connection in ``dialect``; returns how it ended.

    With ``record``, the times of the first content write and the gaps between content writes
    are written into it (``RequestRecord``), and the end time once the stream ended.

    ``receive`` None means no client to watch: the journal's producer (``journal/run.py``)
    streams to its journal this way. ``lingers``: at shutdown, the watchdog lets this stream
    finish within the grace instead of ending it with the others (a producer whose journal
    other instances read)."""
    task = asyncio.current_task()
    assert task is not None
    dog = Watchdog.current()
    writer = StreamWriter(send, dialect.heartbeat)
    batches: AsyncIterator[list[Any]] = as_batches(source)
    if not dog.accepting:
        await aclose_quietly(batches)
        run = _Run(dialect, writer, Watched(task, limits, writer, 0.0))
        await run.fail("server_shutting_down", _MESSAGES["server_shutting_down"])
        run.outcome.writes, run.outcome.http_status = writer.writes, writer.status
        return run.outcome
    run = _Run(dialect, writer, dog.watch(task, limits, writer, lingers=lingers), record)
    loop = asyncio.get_running_loop()
    listener = None
    if receive is not None:
        listener = loop.create_task(_watch_disconnect(receive, run.watched))
    try:
        await _guarded(run, batches, task, stream_id)
    finally:
        if listener is not None:
            listener.cancel()
        writer.abandon()
        dog.forget(run.watched)
        if record is not None:
            record.ended = loop.time()
    run.outcome.writes, run.outcome.http_status = writer.writes, writer.status
    return run.outcome


async def _guarded(
    run: _Run,
    batches: AsyncIterator[list[Any]],
    task: asyncio.Task[Any],
    stream_id: str,
) -> None:
    w = run.watched
    try:
        try:
            await run.pump(batches)
        finally:
            w.progress.awaiting_upstream = False
            await aclose_quietly(batches)  # closes the upstream HTTP response now
    except asyncio.CancelledError:
        reason = w.reason
        if reason is None:
            raise  # not ours: the server is cancelling us
        task.uncancel()
        await _after_abort(run, reason, stream_id)
    except AIChatFlowError as exc:
        log.warning("stream %s failed: %s (%s)", stream_id, exc.code, exc.message)
        retry_after = exc.retry_after if isinstance(exc, ProviderError) else None
        await _final(run, exc.code, exc.message, exc.retryable, retry_after)
    except Exception:
        log.exception("stream %s: unexpected error", stream_id)
        await _final(run, "internal_error", "internal error")


async def _after_abort(run: _Run, reason: Abort, stream_id: str) -> None:
    if reason == CLIENT_GONE:
        run.outcome.status = "client_gone"
        log.info("stream %s: client gone; upstream closed", stream_id)
        return
    if reason == SEND_TIMEOUT:
        run.outcome.status = "send_timeout"
        await _reset(run)
        log.warning("stream %s: send timeout; upstream closed", stream_id)
        return
    log.warning("stream %s ended: %s", stream_id, reason)
    await _final(run, reason, _MESSAGES[reason])


async def _reset(run: _Run) -> None:
    """A frozen client: stop any heartbeat blocked on it and reset its connection."""
    run.writer.abandon()
    await reset_connection(run.writer.send)


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
        reason = run.watched.reason
        if reason is None or task is None:
            raise
        task.uncancel()
        if reason == SEND_TIMEOUT:  # the frame's write blocked: a frozen client
            run.outcome.status = "send_timeout"
            await _reset(run)
        else:
            run.outcome.status = "client_gone"
    except Exception:
        run.outcome.status = "client_gone"


__all__ = ["StreamOutcome", "run_stream"]
