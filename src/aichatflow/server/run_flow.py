"""A chat request with a journal: start a run, or join the identical live one, or replay the
cached answer; then read it (``journal/``, docs/journal.md).

What goes through the journal: every request whose dialect keeps conversation turns (the
native ``POST /api/chat`` and the Vercel UI route: it can be resumed, stopped from anywhere and,
with ``[stream] on_disconnect = "continue"``, finishes when its tab closed); and a request on
the other chat routes only when it can be shared (``journal/fingerprint.py``:
de-duplication and the cache). Anything else keeps the direct path: no run task for an answer
that no one else could read.

A run owns what its generation costs: the limits' admission (released when the run ends, not
when its first reader leaves, since a continuing run still holds its stream) and the request
record (its access log line and metrics are written once both the run and the request that
started it are over). A joined or cached answer is a reader only: its request is admitted and
logged on its own, and charged no tokens.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import Any, Protocol

from starlette.types import Receive, Scope, Send

from ..chat_stream import ChatStream, aclose_quietly
from ..config import Settings
from ..dialects.native import NativeDialect
from ..errors import AIChatFlowError, OverCapacity
from ..journal.backend import Journal, RunInfo
from ..journal.fingerprint import fingerprint
from ..journal.reader import reader_limits
from ..journal.run import RunEnd, Runs
from ..messages import ChatRequest
from ..request_record import RequestRecord
from ..stream.response import EventStreamResponse
from .chat_run import record_outcome, stream_admitted
from .gate import Exchange, Gate, Parts
from .production import Admission
from .turns import TurnMode, TurnStart

log = logging.getLogger("aichatflow.server")

CACHE_HEADER = b"x-aichatflow-cache"
SHARED_HEADER = b"x-aichatflow-shared"
MESSAGE_ID = "message_id"
"""The ``RunInfo.extra`` field naming a stored turn's answer (its message id): a reader that
comes back to the run later (a resume, ``server/resume.py``'s ``rejoin``) names the same
message."""


class Turns(Protocol):
    """What the flow needs of the conversation store (``store/``): a turn begun before the
    run (the history it continues) and finished with the answer."""

    async def begin(
        self, owner: str, chat: ChatRequest, stream_id: str, mode: TurnMode = "continue"
    ) -> TurnStart:
        """The request to send upstream (history prepended), the conversation, the answer."""
        ...

    async def finish(self, stream_id: str, end: RunEnd) -> None: ...


class RunFlow:
    """Chat requests through the journal (module docstring)."""

    def __init__(self, runs: Runs, settings: Settings, turns: Turns | None = None) -> None:
        self.runs = runs
        self.journal: Journal = runs.journal
        self.settings = settings
        self.turns = turns
        self.dedup = settings.dedup.mode
        self.cache_ttl = settings.cache.ttl
        self.continue_native = settings.stream.on_disconnect != "cancel"

    async def serve(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        parts: Parts,
        response: EventStreamResponse,
        admission: Admission | None,
        exchange: Exchange,
        chat: ChatRequest,
    ) -> None:
        keeps_turns = _turn_mode(response) is not None
        owner = exchange.caller.key_id or ""
        stored = keeps_turns and self.turns is not None
        print_ = None if stored else fingerprint(owner, chat, self.dedup)
        if not keeps_turns and print_ is None:  # nothing to share: the direct path
            await stream_admitted(scope, receive, send, parts, response, admission, exchange.record)
            return
        try:
            joined = await self._shared(print_, response, chat.model, owner)
        except Exception as exc:
            await self._refuse(response, admission, exc)
        if joined is not None:
            stream_id, cached = joined
            if parts.metrics is not None:
                parts.metrics.shared("cache_hit" if cached else "joined")
            await aclose_quietly(response.source)
            reader = self._reader(response, stream_id, shared=not cached, cached=cached)
            await stream_admitted(
                scope, receive, send, parts, reader, admission, exchange.record, charge=False
            )
            return
        created = print_ is not None  # ``_shared`` registered the run to claim it
        await self._start(
            scope, receive, send, parts, response, admission, exchange, chat, print_, created
        )

    async def _shared(
        self, print_: str | None, response: EventStreamResponse, model: str, owner: str
    ) -> tuple[str, bool] | None:
        """The run answering an identical request: (its id, whether it is a cached one).

        The run this request would start is registered before it claims the fingerprint, so a
        claim always names a run that exists: an identical request arriving between the two
        steps would otherwise find the claim's run missing, take the claim over and start a
        second upstream call. A request that joins another's run discards its own."""
        if print_ is None:
            return None
        if self.cache_ttl > 0:
            cached = await self.journal.cached(print_)
            if cached is not None:
                return cached, True
        journal, stream_id = self.journal, response.stream_id
        await journal.create(_info(response, model, owner))
        live = await journal.claim(print_, stream_id)
        if live is None:
            return None
        await journal.discard(stream_id)
        return live, False

    async def _refuse(
        self, response: EventStreamResponse, admission: Admission | None, exc: Exception
    ) -> None:
        """The journal failed before the stream started: 503, nothing spent."""
        log.warning("journal unavailable: %s", type(exc).__name__)
        await _give_back(response, admission)
        raise OverCapacity(
            "the stream journal is unavailable; retry shortly", retry_after=2.0
        ) from None

    async def _start(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        parts: Parts,
        response: EventStreamResponse,
        admission: Admission | None,
        exchange: Exchange,
        chat: ChatRequest,
        print_: str | None,
        created: bool = False,
    ) -> None:
        stream_id = response.stream_id
        dialect = response.dialect
        mode = _turn_mode(response)
        stored = mode is not None and self.turns is not None
        owner = exchange.caller.key_id or ""
        conversation_id = message_id = None
        registry = scope["app"].state.registry
        try:
            if mode is not None and self.turns is not None:
                turn = await self.turns.begin(owner, chat, stream_id, mode)
                await aclose_quietly(response.source)
                response.source = registry.stream(turn.chat)
                conversation_id, message_id = turn.conversation_id, turn.message_id
                dialect.begin_turn(conversation_id, message_id)
            info = _info(response, chat.model, owner)
            info.conversation_id = conversation_id
            if message_id is not None:
                info.extra[MESSAGE_ID] = message_id
            record = exchange.record
            exchange.detached = True
            ending = _Ending(scope["app"].gate, record, 2)
            run = await self.runs.start(
                response.source,
                info,
                record=record,
                transcript=stored,
                on_end=self._end_hook(print_, admission, ending),
                cancel_when_alone=not self._outlives_readers(mode, stored),
                created=created,
            )
        except AIChatFlowError:  # the request's own fault (an unknown conversation): its answer
            exchange.detached = False
            await _give_back(response, admission)
            raise
        except Exception as exc:
            exchange.detached = False
            if created:
                await _quietly(self.journal.discard(stream_id))
            await self._refuse(response, admission, exc)
        del run
        if isinstance(dialect, NativeDialect):
            dialect.journaled = True
        reader = EventStreamResponse(
            ChatStream(self.runs.follow(stream_id, 0)),
            dialect=dialect,
            limits=reader_limits(response.limits),
            stream_id=stream_id,
        )
        metrics = parts.metrics
        if metrics is not None:
            metrics.stream_opened(record.route)
        try:
            await reader(scope, receive, send)
        finally:
            if metrics is not None:
                metrics.stream_closed(record.route)
            record.status = reader.outcome.http_status if reader.outcome else record.status
            ending.done()

    def _outlives_readers(self, mode: TurnMode | None, stored: bool) -> bool:
        """Whether a run goes on when its last reader leaves: only a turn someone can come
        back to, under ``on_disconnect = "continue"``. A ``continue`` turn is found again by
        its stream id; a ``replace`` turn only by its chat id, through the store
        (``server/ui_chat.py``): without one, no one could ever read the rest."""
        if mode is None or not self.continue_native:
            return False
        return mode == "continue" or stored

    def _end_hook(
        self,
        print_: str | None,
        admission: Admission | None,
        ending: _Ending,
    ) -> Any:
        journal, cache_ttl, turns = self.journal, self.cache_ttl, self.turns

        async def on_end(end: RunEnd) -> None:
            record = ending.record
            try:
                if print_ is not None:
                    ttl = cache_ttl if end.status == "complete" else 0.0
                    await journal.settle(print_, end.info.stream_id, ttl)
                if turns is not None and end.info.conversation_id is not None:
                    await turns.finish(end.info.stream_id, end)
            finally:
                _record_run(record, end)
                if admission is not None:
                    await admission.release(record.tokens_used)
                ending.done()

        return on_end

    def _reader(
        self, response: EventStreamResponse, stream_id: str, *, shared: bool, cached: bool
    ) -> EventStreamResponse:
        """A reader of another run's answer, in the dialect ``response`` would have used."""
        dialect = response.dialect
        header = (CACHE_HEADER, b"hit") if cached else (SHARED_HEADER, b"joined")
        if isinstance(dialect, NativeDialect):
            fresh = NativeDialect(
                stream_id, dialect.model, retry_ms=dialect.retry_ms, deployment=dialect.deployment
            )
            fresh.request_id = dialect.request_id
            fresh.extra_headers = dialect.extra_headers
            fresh.start_fields["cached" if cached else "shared"] = True
            fresh.journaled = True
            dialect = fresh
        dialect.extra_headers = [*dialect.extra_headers, header]
        reader = EventStreamResponse(
            ChatStream(self.runs.follow(stream_id, 0)),
            dialect=dialect,
            limits=reader_limits(response.limits),
            stream_id=stream_id,
        )
        reader.record = response.record
        return reader


def _turn_mode(response: EventStreamResponse) -> TurnMode | None:
    """How the response's dialect keeps conversation turns (``server/turns.py``), if it does."""
    mode: TurnMode | None = getattr(response.dialect, "turns", None)
    return mode


async def _quietly(step: Awaitable[None]) -> None:
    """A clean-up step whose failure must not hide the error being answered."""
    try:
        await step
    except Exception:
        log.warning("journal clean-up failed", exc_info=True)


def _info(response: EventStreamResponse, model: str, owner: str) -> RunInfo:
    """The run ``response`` would start."""
    deployment = getattr(response.dialect, "deployment", None)
    return RunInfo(response.stream_id, owner, model, deployment=deployment)


async def _give_back(response: EventStreamResponse, admission: Admission | None) -> None:
    """A request refused before its stream started: its source closed, its slot released."""
    await aclose_quietly(response.source)
    if admission is not None:
        await admission.release(None)


class _Ending:
    """Counts down the two ends of a run's request (the run, and the response that started
    it); the last one writes the record (access log, metrics)."""

    __slots__ = ("gate", "left", "record")

    def __init__(self, gate: Gate, record: RequestRecord, left: int) -> None:
        self.gate = gate
        self.record = record
        self.left = left

    def done(self) -> None:
        self.left -= 1
        if self.left == 0:
            self.gate.finished(self.record)


def _record_run(record: RequestRecord, end: RunEnd) -> None:
    """Fill the request record from its run's end (``chat_run.record_outcome``'s terms)."""
    if end.usage is not None:
        record.input_tokens = end.usage.input_tokens
        record.output_tokens = end.usage.output_tokens
    record.deployment = end.answered_by or record.deployment
    if end.status == "complete":
        record.outcome = "done"
    elif end.status == "stopped":
        record.outcome = "cancelled"
    else:
        code = end.error.code if end.error is not None else "producer_lost"
        record.outcome = "shutdown" if code == "server_shutting_down" else code


__all__ = ["CACHE_HEADER", "MESSAGE_ID", "SHARED_HEADER", "RunFlow", "Turns", "record_outcome"]
