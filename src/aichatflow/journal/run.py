"""Runs: a generation consumed by its own task into the journal, read by any number of readers.

The producer is the stream engine itself (``stream/engine.py``) with the journal as its client:
``JournalFeed`` is both the dialect (a batch renders to its journal entry, ``codec.py``) and the
``send`` (a body chunk appends that entry, the last chunk ends the run, an empty one renews the
producer's lease). So a run gets every guarantee a direct stream has, from the same code: the
upstream timers, exactly one terminal event, the source closed at once when the run ends, the
shutdown grace; and the journal is written once per upstream read, coalesced as a client would be.

``Runs`` keeps this process's live runs: to stop one (``stop``: at once when it runs here, through
the journal's stop flag when it runs on another instance), to count its readers (under
``on_disconnect = "cancel"`` the last reader leaving stops it), and to call the server's end hook
(store the answer, settle the de-duplication claim and the cache, release the limits).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from starlette.types import Message

from ..chat_stream import ChatStream
from ..dialects.base import DialectState, Headers
from ..dialects.error_shape import ErrorShape
from ..events import (
    ChatEvent,
    Finish,
    ReasoningDelta,
    StreamError,
    StreamStart,
    TextDelta,
    ToolCallDelta,
    Usage,
)
from ..request_record import RequestRecord
from ..stream.engine import StreamOutcome, run_stream
from ..stream.limits import StreamLimits
from ..stream.watchdog import Watchdog
from ..transcript import Transcript, TranscriptBuilder
from .backend import Entry, Journal, RunInfo
from .codec import encode_batch
from .reader import tail

log = logging.getLogger("aichatflow.journal")

EndStatus = Literal["complete", "stopped", "error"]


@dataclass(slots=True)
class RunEnd:
    """How a run ended, for the server's end hook."""

    info: RunInfo
    status: EndStatus
    transcript: Transcript | None
    """The whole answer, when the run was started with ``transcript=True``."""
    error: StreamError | None
    outcome: StreamOutcome | None
    usage: Usage | None = None
    answered_by: str = ""
    """The ``provider/model`` that answered (a fallback's, when the first one failed)."""


class _NoShape(ErrorShape):
    name = "journal"

    def fields(self, error: StreamError, request_id: str) -> dict[str, Any]:
        return {"code": error.code}


class JournalFeed(DialectState):
    """The producer's dialect and client at once (module docstring)."""

    headers_on_open = True
    buffered = False
    heartbeat = b""
    error_shape: ErrorShape = _NoShape()

    def __init__(self, journal: Journal, stream_id: str, *, transcript: bool = False) -> None:
        super().__init__(stream_id)
        self.journal = journal
        self.seq = 0
        self.ended = False
        self.last: ChatEvent | None = None
        """The terminal event, once rendered."""
        self.builder = TranscriptBuilder() if transcript else None
        self.encode = journal.stores_bytes
        self.append_nowait = getattr(journal, "append_nowait", None)
        """The memory journal's append, without a coroutine per batch."""
        self.stop_requested = False
        self._entry: Entry | None = None
        self._task: asyncio.Task[Any] | None = None

    # -- the dialect side --------------------------------------------------------------
    def headers(self) -> Headers:
        return []

    def open(self) -> bytes:
        return b""

    def render(self, batch: list[ChatEvent]) -> bytes:
        if self.terminal:
            return b""
        content = False
        size = 0  # characters of text the entry holds (the memory journal's bounds count them)
        for event in batch:
            cls = event.__class__
            if cls is TextDelta or cls is ReasoningDelta:
                content = True
                size += len(event.text)  # type: ignore[union-attr]
            elif cls is ToolCallDelta:
                content = True
                size += len(event.arguments)  # type: ignore[union-attr]
            elif cls is Finish or cls is StreamError:
                self.terminal = True
                self.last = event
                if cls is Finish and event.usage is not None:  # type: ignore[union-attr]
                    self.usage = event.usage  # type: ignore[union-attr]
                batch = batch[: batch.index(event) + 1]
                break
            elif cls is StreamStart:
                self.answered_by = event.model  # type: ignore[union-attr]
            else:  # UsageUpdate
                self.usage = event.usage  # type: ignore[union-attr]
        self.content = content
        if self.builder is not None:
            for event in batch:
                self.builder.add(event)
        count = len(batch)
        if self.encode:  # the bytes for Redis, the events for readers in this process
            data = encode_batch(batch)
            self._entry = Entry(self.seq + 1, count, data, batch, size)
        else:
            data = b"+"  # the engine writes only a non-empty body; the entry has the events
            self._entry = Entry(self.seq + 1, count, b"", batch, size)
        self.seq += count
        return data

    def end(self) -> bytes:
        return self.render([Finish(reason="stop")])

    def error(self, error: StreamError) -> bytes:
        if error.code == "cancelled":  # Stop: an answer cut short, not a failure
            return self.render([Finish(reason="cancelled", usage=self.usage)])
        return self.render([error])

    def error_response(self, error: StreamError, status: int = 0) -> tuple[int, Headers, bytes]:
        return 500, [], self.error(error)

    # -- the client side ---------------------------------------------------------------
    async def send(self, message: Message) -> None:
        """The engine's ``send``: append, end, or renew the lease."""
        if message["type"] != "http.response.body":
            return
        journal, stream_id = self.journal, self.stream_id
        if not message.get("more_body", False):
            entry = self._entry
            assert entry is not None
            self.ended = True  # once tried: a failed end is not retried by ``Runs._lose``
            await journal.end(stream_id, entry)
            return
        if message["body"]:
            entry = self._entry
            assert entry is not None
            append_nowait = self.append_nowait
            if append_nowait is not None:
                going = append_nowait(stream_id, entry)
            else:
                going = await journal.append(stream_id, entry)
        else:  # the open or a heartbeat: nothing was appended for a while
            going = await journal.beat(stream_id)
        if not going and not self.stop_requested:
            self.stop()

    def stop(self) -> None:
        """End the run with ``finish_reason: "cancelled"``, keeping what was appended."""
        self.stop_requested = True
        if self._task is not None:
            Watchdog.current().abort_task(self._task, "cancelled")


class Run:
    """One live run in this process."""

    __slots__ = ("cancel_when_alone", "feed", "info", "readers", "task")

    def __init__(self, info: RunInfo, feed: JournalFeed, cancel_when_alone: bool) -> None:
        self.info = info
        self.feed = feed
        self.readers = 0
        self.cancel_when_alone = cancel_when_alone
        """Stop the run when its last reader here leaves (``on_disconnect = "cancel"``)."""
        self.task: asyncio.Task[None] | None = None


EndHook = Callable[[RunEnd], Awaitable[None]]


class Runs:
    """This process's live runs over one journal (module docstring)."""

    def __init__(self, journal: Journal, limits: StreamLimits) -> None:
        self.journal = journal
        self.limits = limits
        self.live: dict[str, Run] = {}

    def __len__(self) -> int:
        return len(self.live)

    async def start(
        self,
        source: AsyncIterable[ChatEvent] | ChatStream,
        info: RunInfo,
        *,
        record: RequestRecord | None = None,
        transcript: bool = False,
        on_end: EndHook | None = None,
        cancel_when_alone: bool = False,
        created: bool = False,
    ) -> Run:
        """Register the run in the journal (unless ``created`` already) and start its
        producer task."""
        if not created:
            await self.journal.create(info)
        feed = JournalFeed(self.journal, info.stream_id, transcript=transcript)
        run = Run(info, feed, cancel_when_alone)
        self.live[info.stream_id] = run
        task = asyncio.get_running_loop().create_task(self._produce(run, source, record, on_end))
        run.task = feed._task = task
        return run

    async def _produce(
        self,
        run: Run,
        source: AsyncIterable[ChatEvent] | ChatStream,
        record: RequestRecord | None,
        on_end: EndHook | None,
    ) -> None:
        feed, stream_id = run.feed, run.info.stream_id
        outcome: StreamOutcome | None = None
        try:
            outcome = await run_stream(
                None,
                feed.send,
                source,
                feed,
                self.limits,
                stream_id=stream_id,
                record=record,
                lingers=self.journal.shared,
            )
        finally:
            self.live.pop(stream_id, None)
            end = _ending(run, outcome)
            if not feed.ended:
                await self._lose(feed, end.error)
            if on_end is not None:
                try:
                    await on_end(end)
                except Exception:
                    log.exception("run %s: its end hook failed", stream_id)

    async def _lose(self, feed: JournalFeed, error: StreamError | None) -> None:
        """The run ended without its terminal entry (the journal failed, or the task was
        killed): write one if the journal takes it, so readers do not wait for a lease."""
        error = error or StreamError(code="producer_lost", message="the run ended early")
        try:
            entry = Entry(feed.seq + 1, 1, encode_batch([error]), [error])
            await self.journal.end(feed.stream_id, entry)
        except BaseException:
            log.warning("run %s: its terminal entry could not be written", feed.stream_id)
            lose = getattr(self.journal, "lose_producer", None)
            if lose is not None:
                lose(feed.stream_id)

    async def follow(self, stream_id: str, after: int) -> AsyncIterator[list[ChatEvent]]:
        """A reader's batches (``reader.tail``), counted among the run's readers while it
        lasts when the run is live here."""
        run = self.live.get(stream_id)
        if run is not None:
            run.readers += 1
        try:
            async for batch in tail(self.journal, stream_id, after):
                yield batch
        finally:
            if run is not None:
                run.readers -= 1
                if run.readers == 0 and run.cancel_when_alone and not run.feed.terminal:
                    run.feed.stop()

    async def stop(self, stream_id: str) -> bool:
        """Stop a live run for every reader, here or on another instance; False when it had
        already ended."""
        run = self.live.get(stream_id)
        if run is not None and not run.feed.terminal:
            run.feed.stop()
            await self.journal.request_stop(stream_id)
            return True
        return await self.journal.request_stop(stream_id)

    async def aclose(self) -> None:
        for run in list(self.live.values()):
            if run.task is not None:
                run.task.cancel()
        await self.journal.aclose()


def _ending(run: Run, outcome: StreamOutcome | None) -> RunEnd:
    feed = run.feed
    last = feed.last
    builder = feed.builder
    transcript = builder.result() if builder is not None else None
    usage, answered_by = feed.usage, feed.answered_by
    if isinstance(last, Finish):
        status: EndStatus = "stopped" if last.reason == "cancelled" else "complete"
        return RunEnd(run.info, status, transcript, None, outcome, usage, answered_by)
    error = last if isinstance(last, StreamError) else None
    return RunEnd(run.info, "error", transcript, error, outcome, usage, answered_by)


__all__ = ["EndStatus", "JournalFeed", "Run", "RunEnd", "Runs"]
